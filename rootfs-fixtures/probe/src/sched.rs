//! Scheduling attributes: policy, priority, affinity, I/O priority and the
//! execution domain (personality).

use crate::json::{err, J};

/// Layout of the kernel's struct sched_attr (first version, 48 bytes),
/// which libc does not export.
#[repr(C)]
#[derive(Default)]
struct SchedAttr {
    size: u32,
    policy: u32,
    flags: u64,
    nice: i32,
    priority: u32,
    runtime: u64,
    deadline: u64,
    period: u64,
}

fn policy_name(p: u32) -> String {
    match p {
        0 => "SCHED_OTHER".into(),
        1 => "SCHED_FIFO".into(),
        2 => "SCHED_RR".into(),
        3 => "SCHED_BATCH".into(),
        5 => "SCHED_IDLE".into(),
        6 => "SCHED_DEADLINE".into(),
        n => format!("{n}"),
    }
}

pub fn sched() -> J {
    let mut a = SchedAttr::default();
    let size = std::mem::size_of::<SchedAttr>() as u32;
    // SAFETY: the buffer is a sched_attr of `size` bytes.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_sched_getattr,
            0,
            &mut a as *mut SchedAttr,
            size,
            0,
        )
    };
    if rc != 0 {
        return err(&std::io::Error::last_os_error());
    }
    let mut cpus = Vec::new();
    // SAFETY: cpu_set_t is plain data.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    let ok =
        unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) };
    if ok == 0 {
        for cpu in 0..libc::CPU_SETSIZE as usize {
            // SAFETY: cpu is below CPU_SETSIZE.
            if unsafe { libc::CPU_ISSET(cpu, &set) } {
                cpus.push(J::UInt(cpu as u64));
            }
        }
    }
    J::obj()
        .with("policy", J::Str(policy_name(a.policy)))
        .with("flags", J::UInt(a.flags))
        .with("nice", J::Int(a.nice as i64))
        .with("priority", J::UInt(a.priority as u64))
        .with("runtime", J::UInt(a.runtime))
        .with("deadline", J::UInt(a.deadline))
        .with("period", J::UInt(a.period))
        .with("cpus", J::Arr(cpus))
}

pub fn ioprio() -> J {
    const IOPRIO_WHO_PROCESS: i64 = 1;
    // SAFETY: ioprio_get takes two integers.
    let v = unsafe { libc::syscall(libc::SYS_ioprio_get, IOPRIO_WHO_PROCESS, 0) };
    if v < 0 {
        return err(&std::io::Error::last_os_error());
    }
    let class = match v >> 13 {
        0 => "IOPRIO_CLASS_NONE",
        1 => "IOPRIO_CLASS_RT",
        2 => "IOPRIO_CLASS_BE",
        3 => "IOPRIO_CLASS_IDLE",
        _ => "unknown",
    };
    J::obj()
        .with("class", J::str(class))
        .with("priority", J::Int(v & 0x1fff))
}

pub fn personality() -> J {
    // SAFETY: 0xffffffff only queries the current persona.
    let p = unsafe { libc::personality(0xffff_ffff) };
    if p < 0 {
        return err(&std::io::Error::last_os_error());
    }
    let domain = match p & 0xff {
        0 => "LINUX",
        8 => "LINUX32",
        _ => "other",
    };
    J::obj()
        .with("personality", J::Int(p as i64))
        .with("domain", J::str(domain))
}
