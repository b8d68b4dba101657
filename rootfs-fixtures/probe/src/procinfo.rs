//! Reports about the calling process, mostly read from /proc/self so that the
//! probe shows what the kernel applied rather than what libc believes.

use std::fs;

use crate::json::{err, J};

const CAP_NAMES: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

const RLIMITS: [(&str, u32); 16] = [
    ("RLIMIT_CPU", 0),
    ("RLIMIT_FSIZE", 1),
    ("RLIMIT_DATA", 2),
    ("RLIMIT_STACK", 3),
    ("RLIMIT_CORE", 4),
    ("RLIMIT_RSS", 5),
    ("RLIMIT_NPROC", 6),
    ("RLIMIT_NOFILE", 7),
    ("RLIMIT_MEMLOCK", 8),
    ("RLIMIT_AS", 9),
    ("RLIMIT_LOCKS", 10),
    ("RLIMIT_SIGPENDING", 11),
    ("RLIMIT_MSGQUEUE", 12),
    ("RLIMIT_NICE", 13),
    ("RLIMIT_RTPRIO", 14),
    ("RLIMIT_RTTIME", 15),
];

/// All `Key:\tvalue` lines of /proc/self/status, in file order.
pub fn status_fields() -> Vec<(String, String)> {
    let text = fs::read_to_string("/proc/self/status").unwrap_or_default();
    text.lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

fn status_field(name: &str) -> Option<String> {
    status_fields()
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

pub fn status(names: &[String]) -> J {
    let mut o = J::obj();
    for (k, v) in status_fields() {
        if names.is_empty() || names.contains(&k) {
            o.set(&k, J::Str(v));
        }
    }
    o
}

pub fn ids() -> J {
    let (mut r, mut e, mut s) = (0, 0, 0);
    let (mut gr, mut ge, mut gs) = (0, 0, 0);
    // SAFETY: plain out-pointer syscalls on local variables.
    unsafe {
        libc::getresuid(&mut r, &mut e, &mut s);
        libc::getresgid(&mut gr, &mut ge, &mut gs);
    }
    let mut groups = vec![0 as libc::gid_t; 1024];
    // SAFETY: the buffer holds groups.len() entries.
    let n = unsafe { libc::getgroups(groups.len() as i32, groups.as_mut_ptr()) };
    groups.truncate(n.max(0) as usize);
    J::obj()
        .with("uid", J::UInt(r as u64))
        .with("euid", J::UInt(e as u64))
        .with("suid", J::UInt(s as u64))
        .with("gid", J::UInt(gr as u64))
        .with("egid", J::UInt(ge as u64))
        .with("sgid", J::UInt(gs as u64))
        .with(
            "groups",
            J::Arr(groups.iter().map(|g| J::UInt(*g as u64)).collect()),
        )
}

fn cap_names(mask: u64) -> J {
    J::Arr(
        (0..64)
            .filter(|bit| mask & (1u64 << bit) != 0)
            .map(|bit| match CAP_NAMES.get(bit as usize) {
                Some(n) => J::str(*n),
                None => J::Str(format!("CAP_{bit}")),
            })
            .collect(),
    )
}

/// Each set as a list of names (comparable with config.json) plus the raw mask.
pub fn caps() -> J {
    let fields = status_fields();
    let get = |k: &str| {
        fields
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let mut o = J::obj();
    let mut hex = J::obj();
    for (key, set) in [
        ("CapInh", "inheritable"),
        ("CapPrm", "permitted"),
        ("CapEff", "effective"),
        ("CapBnd", "bounding"),
        ("CapAmb", "ambient"),
    ] {
        let raw = get(key);
        let mask = u64::from_str_radix(&raw, 16).unwrap_or(0);
        o.set(set, cap_names(mask));
        hex.set(key, J::Str(raw));
    }
    o.set("hex", hex);
    let num = |k: &str| J::Int(get(k).parse().unwrap_or(-1));
    o.with("noNewPrivileges", num("NoNewPrivs"))
        .with("seccomp", num("Seccomp"))
}

pub fn rlimits() -> J {
    let mut o = J::obj();
    for (name, res) in RLIMITS {
        let mut r = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: out-pointer to a local struct.
        let rc = unsafe { libc::getrlimit(res as _, &mut r) };
        if rc == 0 {
            o.set(
                name,
                J::obj()
                    .with("soft", J::UInt(r.rlim_cur))
                    .with("hard", J::UInt(r.rlim_max)),
            );
        }
    }
    o
}

/// /proc/self/mountinfo, one object per line, with propagation spelled out.
pub fn mounts() -> J {
    let text = match fs::read_to_string("/proc/self/mountinfo") {
        Ok(t) => t,
        Err(e) => return err(&e),
    };
    let mut list = Vec::new();
    for line in text.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let l: Vec<&str> = left.split(' ').collect();
        let r: Vec<&str> = right.split(' ').collect();
        if l.len() < 6 || r.len() < 3 {
            continue;
        }
        let optional: Vec<&str> = l[6..].to_vec();
        let mut prop = Vec::new();
        for tag in &optional {
            if tag.starts_with("shared:") {
                prop.push("shared");
            } else if tag.starts_with("master:") {
                prop.push("slave");
            } else if *tag == "unbindable" {
                prop.push("unbindable");
            }
        }
        if prop.is_empty() {
            prop.push("private");
        }
        list.push(
            J::obj()
                .with("id", J::Str(l[0].into()))
                .with("parent", J::Str(l[1].into()))
                .with("dev", J::Str(l[2].into()))
                .with("root", J::Str(unescape(l[3])))
                .with("destination", J::Str(unescape(l[4])))
                .with("options", split_opts(l[5]))
                .with(
                    "optional",
                    J::Arr(optional.iter().map(|s| J::str(*s)).collect()),
                )
                .with("propagation", J::Str(prop.join(",")))
                .with("type", J::Str(r[0].into()))
                .with("source", J::Str(unescape(r[1])))
                .with("superOptions", split_opts(r[2])),
        );
    }
    J::obj().with("mounts", J::Arr(list))
}

fn split_opts(s: &str) -> J {
    J::Arr(s.split(',').map(J::str).collect())
}

/// mountinfo escapes space, tab, newline and backslash as octal.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let octal = b
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|c| (b'0'..=b'7').contains(c)));
        if let (b'\\', Some(d)) = (b[i], octal) {
            out.push((d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0'));
            i += 4;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub fn hostname() -> J {
    // SAFETY: utsname is plain data; uname fills it.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    if unsafe { libc::uname(&mut u) } != 0 {
        return err(&std::io::Error::last_os_error());
    }
    let s = |f: &[libc::c_char]| {
        let bytes: Vec<u8> = f
            .iter()
            .take_while(|c| **c != 0)
            .map(|c| *c as u8)
            .collect();
        String::from_utf8_lossy(&bytes).into_owned()
    };
    J::obj()
        .with("hostname", J::Str(s(&u.nodename)))
        .with("domainname", J::Str(s(&u.domainname)))
}

pub fn env() -> J {
    let vars = std::env::vars_os()
        .map(|(k, v)| J::Str(format!("{}={}", k.to_string_lossy(), v.to_string_lossy())))
        .collect();
    J::obj().with("env", J::Arr(vars))
}

pub fn cwd() -> J {
    match std::env::current_dir() {
        Ok(p) => J::obj().with("cwd", J::Str(p.to_string_lossy().into_owned())),
        Err(e) => err(&e),
    }
}

pub fn fds() -> J {
    let mut list = Vec::new();
    let mut entries: Vec<u32> = match fs::read_dir("/proc/self/fd") {
        Ok(rd) => rd
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
            .collect(),
        Err(e) => return err(&e),
    };
    entries.sort();
    for fd in entries {
        // The directory handle used for listing is already closed; skip fds
        // that vanished in between.
        if let Ok(t) = fs::read_link(format!("/proc/self/fd/{fd}")) {
            list.push(
                J::obj()
                    .with("fd", J::UInt(fd as u64))
                    .with("target", J::Str(t.to_string_lossy().into_owned())),
            );
        }
    }
    J::obj().with("fds", J::Arr(list))
}

/// Namespace inode numbers keyed by the /proc/self/ns entry name.
pub fn ns() -> J {
    let mut names: Vec<String> = match fs::read_dir("/proc/self/ns") {
        Ok(rd) => rd
            .filter_map(|e| Some(e.ok()?.file_name().to_str()?.to_string()))
            .collect(),
        Err(e) => return err(&e),
    };
    names.sort();
    let mut o = J::obj();
    for n in names {
        if let Ok(t) = fs::read_link(format!("/proc/self/ns/{n}")) {
            let t = t.to_string_lossy().into_owned();
            let ino = t
                .rsplit_once('[')
                .and_then(|(_, r)| r.trim_end_matches(']').parse::<u64>().ok());
            o.set(&n, ino.map(J::UInt).unwrap_or(J::Str(t)));
        }
    }
    o
}

pub fn cgroup() -> J {
    let text = match fs::read_to_string("/proc/self/cgroup") {
        Ok(t) => t,
        Err(e) => return err(&e),
    };
    let list = text
        .lines()
        .filter_map(|l| {
            let mut it = l.splitn(3, ':');
            let id = it.next()?;
            let ctrl = it.next()?;
            let path = it.next()?;
            Some(
                J::obj()
                    .with("id", J::Str(id.into()))
                    .with("controllers", J::Str(ctrl.into()))
                    .with("path", J::Str(path.into())),
            )
        })
        .collect();
    J::obj().with("cgroup", J::Arr(list))
}

pub fn umask() -> J {
    let raw = status_field("Umask").unwrap_or_default();
    J::obj()
        .with("umask", J::Int(i64::from_str_radix(&raw, 8).unwrap_or(-1)))
        .with("octal", J::Str(raw))
}

pub fn oom_score_adj() -> J {
    match fs::read_to_string("/proc/self/oom_score_adj") {
        Ok(t) => J::obj().with(
            "oom_score_adj",
            J::Int(t.trim().parse().unwrap_or(i64::MIN)),
        ),
        Err(e) => err(&e),
    }
}

pub fn pid() -> J {
    // SAFETY: no arguments, cannot fail.
    let (p, pp) = unsafe { (libc::getpid(), libc::getppid()) };
    J::obj()
        .with("pid", J::Int(p as i64))
        .with("ppid", J::Int(pp as i64))
}

pub fn sysctl(names: &[String]) -> J {
    let mut o = J::obj();
    for n in names {
        let path = format!("/proc/sys/{}", n.replace('.', "/"));
        let v = match fs::read_to_string(&path) {
            Ok(t) => J::obj().with("value", J::Str(t.trim_end().into())),
            Err(e) => err(&e),
        };
        o.set(n, v);
    }
    o
}
