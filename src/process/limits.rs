//! Per-process attributes: rlimits, personality, I/O priority, scheduler
//! and CPU affinity.

use oci_spec::runtime::{
    IOPriorityClass, LinuxPersonalityDomain, LinuxSchedulerPolicy, PosixRlimitType, Process, Spec,
};

use super::{Error, Result};
use crate::syscall;

pub fn apply(spec: &Spec, process: &Process) -> Result<()> {
    rlimits(process)?;
    personality(spec)?;
    io_priority(process)?;
    scheduler(process)?;
    if let Some(cpus) = process
        .exec_cpu_affinity()
        .as_ref()
        .and_then(|a| a.initial().as_deref())
    {
        set_affinity(cpus)?;
    }
    Ok(())
}

/// execCPUAffinity.final applies to the program itself, just before exec.
pub fn apply_final_affinity(process: &Process) -> Result<()> {
    if let Some(cpus) = process
        .exec_cpu_affinity()
        .as_ref()
        .and_then(|a| a.cpu_affinity_final().as_deref())
    {
        set_affinity(cpus)?;
    }
    Ok(())
}

fn resource(t: PosixRlimitType) -> libc::__rlimit_resource_t {
    use PosixRlimitType::*;
    match t {
        RlimitCpu => libc::RLIMIT_CPU,
        RlimitFsize => libc::RLIMIT_FSIZE,
        RlimitData => libc::RLIMIT_DATA,
        RlimitStack => libc::RLIMIT_STACK,
        RlimitCore => libc::RLIMIT_CORE,
        RlimitRss => libc::RLIMIT_RSS,
        RlimitNproc => libc::RLIMIT_NPROC,
        RlimitNofile => libc::RLIMIT_NOFILE,
        RlimitMemlock => libc::RLIMIT_MEMLOCK,
        RlimitAs => libc::RLIMIT_AS,
        RlimitLocks => libc::RLIMIT_LOCKS,
        RlimitSigpending => libc::RLIMIT_SIGPENDING,
        RlimitMsgqueue => libc::RLIMIT_MSGQUEUE,
        RlimitNice => libc::RLIMIT_NICE,
        RlimitRtprio => libc::RLIMIT_RTPRIO,
        RlimitRttime => libc::RLIMIT_RTTIME,
    }
}

fn rlimits(process: &Process) -> Result<()> {
    for r in process.rlimits().iter().flatten() {
        let lim = libc::rlimit {
            rlim_cur: r.soft(),
            rlim_max: r.hard(),
        };
        // SAFETY: setrlimit reads a valid rlimit struct.
        if unsafe { libc::setrlimit(resource(r.typ()), &lim) } != 0 {
            return Err(Error::sys(
                format!("set {:?} to {}/{}", r.typ(), r.soft(), r.hard()),
                nix::Error::last(),
            ));
        }
    }
    Ok(())
}

fn personality(spec: &Spec) -> Result<()> {
    let Some(p) = spec.linux().as_ref().and_then(|l| l.personality().as_ref()) else {
        return Ok(());
    };
    if p.flags().as_ref().is_some_and(|f| !f.is_empty()) {
        return Err(Error::Invalid(
            "linux.personality.flags are not supported".into(),
        ));
    }
    let domain = match p.domain() {
        LinuxPersonalityDomain::PerLinux => 0,
        LinuxPersonalityDomain::PerLinux32 => 0x0008,
    };
    // SAFETY: personality takes an integer.
    if unsafe { libc::personality(domain) } < 0 {
        return Err(Error::sys("set personality", nix::Error::last()));
    }
    Ok(())
}

fn io_priority(process: &Process) -> Result<()> {
    let Some(p) = process.io_priority() else {
        return Ok(());
    };
    let class = match p.class() {
        IOPriorityClass::IoprioClassRt => 1,
        IOPriorityClass::IoprioClassBe => 2,
        IOPriorityClass::IoprioClassIdle => 3,
    };
    syscall::ioprio_set_self(class, p.priority() as i32).map_err(|e| Error::Io {
        context: "set I/O priority".into(),
        source: e,
    })
}

fn scheduler(process: &Process) -> Result<()> {
    let Some(s) = process.scheduler() else {
        return Ok(());
    };
    let policy = match s.policy() {
        LinuxSchedulerPolicy::SchedOther => libc::SCHED_OTHER,
        LinuxSchedulerPolicy::SchedFifo => libc::SCHED_FIFO,
        LinuxSchedulerPolicy::SchedRr => libc::SCHED_RR,
        LinuxSchedulerPolicy::SchedBatch => libc::SCHED_BATCH,
        LinuxSchedulerPolicy::SchedIso => {
            return Err(Error::Invalid(
                "scheduler policy SCHED_ISO does not exist in Linux".into(),
            ))
        }
        LinuxSchedulerPolicy::SchedIdle => libc::SCHED_IDLE,
        LinuxSchedulerPolicy::SchedDeadline => 6,
    };
    let mut flags = 0u64;
    for f in s.flags().iter().flatten() {
        use oci_spec::runtime::LinuxSchedulerFlag::*;
        flags |= match f {
            SchedResetOnFork => 0x01,
            SchedFlagReclaim => 0x02,
            SchedFlagDLOverrun => 0x04,
            SchedFlagKeepPolicy => 0x08,
            SchedFlagKeepParams => 0x10,
            SchedFlagUtilClampMin => 0x20,
            SchedFlagUtilClampMax => 0x40,
        };
    }
    syscall::sched_setattr_self(syscall::SchedAttr {
        policy: policy as u32,
        flags,
        nice: s.nice().unwrap_or(0),
        priority: s.priority().unwrap_or(0) as u32,
        runtime: s.runtime().unwrap_or(0),
        deadline: s.deadline().unwrap_or(0),
        period: s.period().unwrap_or(0),
    })
    .map_err(|e| Error::Io {
        context: "set scheduler".into(),
        source: e,
    })
}

/// Parse a cpu list such as "0-3,7" into a set.
pub fn parse_cpu_list(list: &str) -> Option<Vec<usize>> {
    let mut cpus = Vec::new();
    for part in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (usize, usize) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
                if a > b || b >= 1024 {
                    return None;
                }
                cpus.extend(a..=b);
            }
            None => {
                let c: usize = part.parse().ok()?;
                if c >= 1024 {
                    return None;
                }
                cpus.push(c);
            }
        }
    }
    (!cpus.is_empty()).then_some(cpus)
}

fn set_affinity(list: &str) -> Result<()> {
    let cpus = parse_cpu_list(list)
        .ok_or_else(|| Error::Invalid(format!("execCPUAffinity {list:?} is not a cpu list")))?;
    let mut set = nix::sched::CpuSet::new();
    for c in cpus {
        set.set(c).map_err(|e| Error::sys(format!("cpu {c}"), e))?;
    }
    nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &set)
        .map_err(|e| Error::sys(format!("set cpu affinity {list}"), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists() {
        assert_eq!(parse_cpu_list("0-2,5"), Some(vec![0, 1, 2, 5]));
        assert_eq!(parse_cpu_list("1"), Some(vec![1]));
        assert_eq!(parse_cpu_list("3-1"), None);
        assert_eq!(parse_cpu_list("x"), None);
        assert_eq!(parse_cpu_list(""), None);
    }
}
