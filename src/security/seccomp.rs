//! linux.seccomp compiled with libseccomp. The filter is built in rt before
//! cloning, so a bad profile fails `create` before anything exists, and the
//! child (which gets a copy of the compiled context) only loads it.

use std::str::FromStr;

use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterAttr, ScmpFilterContext,
    ScmpSyscall,
};
use oci_spec::runtime::{LinuxSeccomp, LinuxSeccompAction, LinuxSyscall};

use super::{Error, Result};

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
        other => return Err(bad(format!("action {other} is not supported"))),
    })
}

fn compare(arg: &oci_spec::runtime::LinuxSeccompArg) -> Result<ScmpArgCompare> {
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
    if arg.index() > 5 {
        return Err(bad(format!("argument index {} is past 5", arg.index())));
    }
    Ok(ScmpArgCompare::new(arg.index() as u32, op, arg.value()))
}

/// A compiled filter, ready to load.
pub struct Filter(ScmpFilterContext);

pub fn compile(s: &LinuxSeccomp) -> Result<Filter> {
    if s.listener_path().is_some() {
        return Err(bad(
            "listenerPath (seccomp user notification) is not supported",
        ));
    }
    let default = action(s.default_action(), s.default_errno_ret())?;
    let mut ctx = ScmpFilterContext::new(default).map_err(|e| bad(e.to_string()))?;
    // libseccomp would set no_new_privs on load; that is the config's call.
    ctx.set_ctl_nnp(false).map_err(|e| bad(e.to_string()))?;
    for arch in s.architectures().iter().flatten() {
        let name = spec_name(arch);
        let a =
            ScmpArch::from_str(&name).map_err(|_| bad(format!("unknown architecture {name}")))?;
        // The native architecture is in every filter already.
        let _ = ctx.add_arch(a);
    }
    for flag in s.flags().iter().flatten() {
        let attr = match spec_name(flag).as_str() {
            "SECCOMP_FILTER_FLAG_LOG" => ScmpFilterAttr::CtlLog,
            "SECCOMP_FILTER_FLAG_SPEC_ALLOW" => ScmpFilterAttr::CtlSsb,
            "SECCOMP_FILTER_FLAG_TSYNC" => ScmpFilterAttr::CtlTsync,
            other => return Err(bad(format!("flag {other} is not supported"))),
        };
        ctx.set_filter_attr(attr, 1)
            .map_err(|e| bad(e.to_string()))?;
    }
    for rule in s.syscalls().iter().flatten() {
        add_rule(&mut ctx, rule, default)?;
    }
    Ok(Filter(ctx))
}

fn add_rule(ctx: &mut ScmpFilterContext, rule: &LinuxSyscall, default: ScmpAction) -> Result<()> {
    let act = action(rule.action(), rule.errno_ret())?;
    if act == default {
        // libseccomp refuses rules that repeat the default; they change nothing.
        return Ok(());
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
    Ok(())
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

impl Filter {
    pub fn load(&self) -> Result<()> {
        self.0.load().map_err(|e| bad(format!("load filter: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(json: &str) -> LinuxSeccomp {
        serde_json::from_str(json).expect("profile parses")
    }

    #[test]
    fn compiles_a_typical_profile() {
        let p = profile(
            r#"{"defaultAction":"SCMP_ACT_ERRNO","architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_X86"],
                "syscalls":[{"names":["read","write","no_such_syscall_anywhere"],"action":"SCMP_ACT_ALLOW"},
                            {"names":["personality"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":0,"op":"SCMP_CMP_EQ"},{"index":0,"value":8,"op":"SCMP_CMP_EQ"}]},
                            {"names":["clone"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":2114060288,"valueTwo":0,"op":"SCMP_CMP_MASKED_EQ"}]}]}"#,
        );
        assert!(compile(&p).is_ok());
    }

    #[test]
    fn knows_what_it_lets_through() {
        let p = profile(
            r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[
                {"names":["read","execveat"],"action":"SCMP_ACT_ALLOW"},
                {"names":["write"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":1,"op":"SCMP_CMP_EQ"}]},
                {"names":["openat"],"action":"SCMP_ACT_ALLOW"},
                {"names":["openat"],"action":"SCMP_ACT_ERRNO","args":[{"index":2,"value":1,"op":"SCMP_CMP_EQ"}]}]}"#,
        );
        assert!(allows(&p, "execveat"));
        assert!(!allows(&p, "write"), "only with some arguments");
        assert!(!allows(&p, "openat"), "refused with some arguments");
        assert!(!allows(&p, "close"), "the default refuses");
        let open = profile(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["execveat"],"action":"SCMP_ACT_ERRNO"}]}"#,
        );
        assert!(!allows(&open, "execveat"));
        assert!(allows(&open, "read"));
    }

    #[test]
    fn refuses_notify_listener_and_bad_index() {
        let p = profile(r#"{"defaultAction":"SCMP_ACT_ALLOW","listenerPath":"/run/agent.sock"}"#);
        assert!(compile(&p).is_err());
        let p = profile(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"],"action":"SCMP_ACT_ERRNO","args":[{"index":9,"value":0,"op":"SCMP_CMP_EQ"}]}]}"#,
        );
        assert!(compile(&p).is_err());
    }
}
