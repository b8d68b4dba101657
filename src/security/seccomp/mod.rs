//! linux.seccomp. rt compiles the profile with libseccomp before cloning
//! (so a bad profile fails `create` before anything exists) and exports
//! the BPF program; the container process loads that program with one
//! seccomp(2) call as its very last step before execve (load.rs), with
//! the flags the profile asks for. With SCMP_ACT_NOTIFY the kernel hands
//! back a listener descriptor, which rt passes to the agent at
//! listenerPath (notify.rs).

use std::io::{Read, Seek};
use std::str::FromStr;

use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
};
use oci_spec::runtime::{LinuxSeccomp, LinuxSeccompAction, LinuxSyscall};

use super::{Error, Result};

mod load;
pub mod notify;

pub use load::{kernel_flags, Filter};

/// The spec's names for things, as they appear in config.json.
fn spec_name<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default()
}

fn bad(what: impl Into<String>) -> Error {
    Error::Seccomp(what.into())
}

fn action(a: LinuxSeccompAction, errno: Option<u32>) -> Result<ScmpAction> {
    let errno = errno.unwrap_or(libc::EPERM as u32);
    Ok(match spec_name(&a).as_str() {
        "SCMP_ACT_KILL" | "SCMP_ACT_KILL_THREAD" => ScmpAction::KillThread,
        "SCMP_ACT_KILL_PROCESS" => ScmpAction::KillProcess,
        "SCMP_ACT_TRAP" => ScmpAction::Trap,
        "SCMP_ACT_ERRNO" => ScmpAction::Errno(errno as i32),
        "SCMP_ACT_TRACE" => ScmpAction::Trace(errno as u16),
        "SCMP_ACT_LOG" => ScmpAction::Log,
        "SCMP_ACT_ALLOW" => ScmpAction::Allow,
        "SCMP_ACT_NOTIFY" => ScmpAction::Notify,
        other => return Err(bad(format!("action {other} is not supported"))),
    })
}

fn compare(arg: &oci_spec::runtime::LinuxSeccompArg) -> Result<ScmpArgCompare> {
    if arg.index() > 5 {
        return Err(bad(format!("argument index {} is past 5", arg.index())));
    }
    let op = match spec_name(&arg.op()).as_str() {
        "SCMP_CMP_NE" => ScmpCompareOp::NotEqual,
        "SCMP_CMP_LT" => ScmpCompareOp::Less,
        "SCMP_CMP_LE" => ScmpCompareOp::LessOrEqual,
        "SCMP_CMP_EQ" => ScmpCompareOp::Equal,
        "SCMP_CMP_GE" => ScmpCompareOp::GreaterEqual,
        "SCMP_CMP_GT" => ScmpCompareOp::Greater,
        "SCMP_CMP_MASKED_EQ" => {
            // The mask is `value`, the expected result `valueTwo`.
            return Ok(ScmpArgCompare::new(
                arg.index() as u32,
                ScmpCompareOp::MaskedEqual(arg.value()),
                arg.value_two().unwrap_or(0),
            ));
        }
        other => return Err(bad(format!("operator {other} is not supported"))),
    };
    Ok(ScmpArgCompare::new(arg.index() as u32, op, arg.value()))
}

/// Compile a profile into a loadable filter.
pub fn compile(s: &LinuxSeccomp) -> Result<Filter> {
    let default = action(s.default_action(), s.default_errno_ret())?;
    let mut ctx = ScmpFilterContext::new(default).map_err(|e| bad(e.to_string()))?;
    // no_new_privs is the config's call, and rt loads the program itself.
    ctx.set_ctl_nnp(false).map_err(|e| bad(e.to_string()))?;
    for arch in s.architectures().iter().flatten() {
        let name = spec_name(arch);
        let a =
            ScmpArch::from_str(&name).map_err(|_| bad(format!("unknown architecture {name}")))?;
        // The native architecture is in every filter already.
        let _ = ctx.add_arch(a);
    }
    let mut notify = default == ScmpAction::Notify;
    for rule in s.syscalls().iter().flatten() {
        notify |= add_rule(&mut ctx, rule, default)?;
    }
    let flags = load::flags(s, notify)?;
    if notify && s.listener_path().is_none() {
        return Err(bad("SCMP_ACT_NOTIFY needs listenerPath"));
    }
    Ok(Filter::new(export(&ctx)?, flags, notify))
}

/// libseccomp 2.5 exports only to a descriptor: a memfd, read back.
fn export(ctx: &ScmpFilterContext) -> Result<Vec<libc::sock_filter>> {
    // SAFETY: memfd_create with a valid name; the descriptor is owned below.
    let fd = unsafe { libc::memfd_create(c"rt-seccomp".as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(bad(format!("memfd: {}", std::io::Error::last_os_error())));
    }
    // SAFETY: a new descriptor nobody else owns.
    let mut f = unsafe { <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    ctx.export_bpf(&f)
        .map_err(|e| bad(format!("export the filter: {e}")))?;
    let mut bytes = Vec::new();
    f.rewind()
        .and_then(|()| f.read_to_end(&mut bytes))
        .map_err(|e| bad(format!("read the filter back: {e}")))?;
    const INSN: usize = std::mem::size_of::<libc::sock_filter>();
    if bytes.is_empty() || bytes.len() % INSN != 0 {
        return Err(bad(format!("exported filter has {} bytes", bytes.len())));
    }
    Ok(bytes
        .chunks_exact(INSN)
        .map(|c| libc::sock_filter {
            code: u16::from_ne_bytes([c[0], c[1]]),
            jt: c[2],
            jf: c[3],
            k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
        })
        .collect())
}

/// Returns whether the rule notifies.
fn add_rule(ctx: &mut ScmpFilterContext, rule: &LinuxSyscall, default: ScmpAction) -> Result<bool> {
    let act = action(rule.action(), rule.errno_ret())?;
    if act == default {
        // libseccomp refuses rules that repeat the default; they change nothing.
        return Ok(false);
    }
    let cmps = rule
        .args()
        .iter()
        .flatten()
        .map(compare)
        .collect::<Result<Vec<_>>>()?;
    let mut indices: Vec<u32> = rule
        .args()
        .iter()
        .flatten()
        .map(|a| a.index() as u32)
        .collect();
    indices.sort_unstable();
    let repeated = indices.windows(2).any(|w| w[0] == w[1]);
    for name in rule.names() {
        // Profiles list syscalls of every architecture and kernel; one this
        // system does not know cannot be called, so it needs no rule (runc
        // and crun skip these too).
        let Ok(sc) = ScmpSyscall::from_name(name) else {
            continue;
        };
        let res = if cmps.is_empty() {
            ctx.add_rule(act, sc)
        } else if repeated {
            // libseccomp cannot AND two conditions on one argument; as in
            // runc, each condition becomes its own rule (OR).
            cmps.iter()
                .try_for_each(|c| {
                    ctx.add_rule_conditional(act, sc, std::slice::from_ref(c))
                        .map(|_| ())
                })
                .map(|()| ctx as &mut ScmpFilterContext)
        } else {
            ctx.add_rule_conditional(act, sc, &cmps)
        };
        res.map_err(|e| bad(format!("rule for {name}: {e}")))?;
    }
    Ok(act == ScmpAction::Notify)
}

/// Would a filter compiled from `s` let syscall `name` through whatever
/// its arguments? Conservative: yes only when no rule names it with
/// anything but allow/log and one allows it unconditionally, or when no
/// rule names it and the default action allows.
pub fn allows(s: &LinuxSeccomp, name: &str) -> bool {
    let passes =
        |a: LinuxSeccompAction| matches!(spec_name(&a).as_str(), "SCMP_ACT_ALLOW" | "SCMP_ACT_LOG");
    let rules: Vec<&LinuxSyscall> = s
        .syscalls()
        .iter()
        .flatten()
        .filter(|r| r.names().iter().any(|n| n == name))
        .collect();
    if rules.is_empty() {
        return passes(s.default_action());
    }
    rules.iter().all(|r| passes(r.action()))
        && rules
            .iter()
            .any(|r| r.args().as_ref().is_none_or(|a| a.is_empty()))
}

#[cfg(test)]
mod tests;
