//! Rootless containers under a user's own systemd instance: the lane's
//! user (lingering, so its manager runs from boot), commands run as that
//! user with a login's environment, and a bundle the user owns.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

use super::bundle::{container_args, run_logged};
use super::{parse_show, show, under_systemd, wait_for, RT};
use crate::support;
use crate::support::Container;

#[derive(Clone)]
pub struct User {
    pub uid: u32,
    pub gid: u32,
    pub home: PathBuf,
}

impl User {
    pub fn runtime_dir(&self) -> PathBuf {
        PathBuf::from(format!("/run/user/{}", self.uid))
    }

    /// `cmd` run as this user, with the environment a login gives it.
    pub fn cmd(&self, prog: &str) -> Command {
        let mut c = Command::new(prog);
        c.uid(self.uid)
            .gid(self.gid)
            .env("HOME", &self.home)
            .env("XDG_RUNTIME_DIR", self.runtime_dir())
            .env_remove("DBUS_SESSION_BUS_ADDRESS")
            .env_remove("DBUS_SYSTEM_BUS_ADDRESS")
            .current_dir("/")
            .stdin(Stdio::null());
        c
    }

    /// The user manager's cgroup, as the system instance reports it.
    pub fn manager_cgroup(&self) -> String {
        show(&format!("user@{}.service", self.uid), &["ControlGroup"])["ControlGroup"].clone()
    }

    /// `systemctl --user show` of `unit` in this user's instance.
    pub fn show(&self, unit: &str, props: &[&str]) -> std::collections::BTreeMap<String, String> {
        let mut c = self.cmd("systemctl");
        c.args(["--user", "show", unit]);
        for p in props {
            c.arg("-p").arg(p);
        }
        parse_show(&c.output().expect("systemctl --user"))
    }
}

/// The lane's user, once its manager and session bus are up (they start
/// at boot, in parallel with the tests). None (skip) off the lane.
pub fn lane_user() -> Option<User> {
    if !support::is_root() || !under_systemd() {
        assert!(
            std::env::var_os("RT_TEST_SYSTEMD").is_none(),
            "RT_TEST_SYSTEMD is set but this is not a systemd host run as root"
        );
        eprintln!("skipped: needs root on a systemd host (tests/vm-systemd runs this)");
        return None;
    }
    let Ok(name) = std::env::var("RT_TEST_SYSTEMD_USER") else {
        assert!(
            std::env::var_os("RT_TEST_SYSTEMD").is_none(),
            "the systemd lane must name its user in RT_TEST_SYSTEMD_USER"
        );
        eprintln!("skipped: RT_TEST_SYSTEMD_USER (a user with lingering enabled) not given");
        return None;
    };
    let pw = nix::unistd::User::from_name(&name)
        .expect("getpwnam")
        .unwrap_or_else(|| panic!("no user {name}"));
    let u = User {
        uid: pw.uid.as_raw(),
        gid: pw.gid.as_raw(),
        home: pw.dir,
    };
    let service = format!("user@{}.service", u.uid);
    wait_for(&service, Duration::from_secs(180), || {
        show(&service, &["ActiveState"])["ActiveState"] == "active"
            && u.runtime_dir().join("bus").exists()
    });
    Some(u)
}

/// A busybox bundle owned by the user, from `rt spec --rootless` run as
/// that user (its ids mapped to root inside), and a state root of its own.
pub struct Ctr {
    pub user: User,
    pub dir: PathBuf,
    pub root: PathBuf,
    pub id: String,
}

impl Ctr {
    pub fn new(user: &User, tag: &str, args: &[&str], resources: Value) -> Ctr {
        let id = support::unique(tag)
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let dir = std::env::temp_dir().join(format!("{id}-bundle"));
        let root = std::env::temp_dir().join(format!("{id}-root"));
        for d in [&dir, &root] {
            std::fs::create_dir_all(d).unwrap();
            std::os::unix::fs::chown(d, Some(user.uid), Some(user.gid)).unwrap();
        }
        let script = "mkdir -p rootfs/bin rootfs/tmp && cp /bin/busybox rootfs/bin/ && \
             for l in sh sleep cat tail true; do ln -s busybox rootfs/bin/$l; done && \"$0\" spec --rootless";
        let out = user
            .cmd("/bin/sh")
            .args(["-c", script, RT])
            .current_dir(&dir)
            .output()
            .unwrap();
        assert!(out.status.success(), "bundle as the user: {out:?}");
        let c = Ctr {
            user: user.clone(),
            dir,
            root,
            id,
        };
        let mut cfg = c.config();
        cfg["process"]["args"] = json!(args);
        cfg["process"]["terminal"] = json!(false);
        cfg["linux"]["resources"] = resources;
        c.set_config(&cfg);
        c
    }

    /// The default cgroupsPath's unit.
    pub fn unit(&self) -> String {
        format!("rt-{}.scope", self.id)
    }

    /// `rt --systemd-cgroup --root R ARGS...` as the user (or `runtime`).
    /// `env`: variables to set (Some) or remove (None).
    pub fn run_as(&self, runtime: &str, args: &[&str], env: &[(&str, Option<&str>)]) -> Output {
        let mut c = self.user.cmd(runtime);
        container_args(&mut c, &self.root, &self.dir, args);
        for (k, v) in env {
            match v {
                Some(v) => c.env(k, v),
                None => c.env_remove(k),
            };
        }
        run_logged(&mut c, &self.dir, Some((self.user.uid, self.user.gid)))
    }

    /// Nothing of container `id` (unit `unit`) left: state, the unit in
    /// either instance, its cgroup.
    #[track_caller]
    pub fn assert_gone(&self, id: &str, unit: &str) {
        assert!(!self.root.join(id).exists(), "state dir of {id} left");
        assert_eq!(
            self.user.show(unit, &["LoadState"])["LoadState"],
            "not-found",
            "user unit left"
        );
        assert_eq!(
            show(unit, &["LoadState"])["LoadState"],
            "not-found",
            "system unit"
        );
        let cg = Path::new("/sys/fs/cgroup")
            .join(self.user.manager_cgroup().trim_start_matches('/'))
            .join("user.slice")
            .join(unit);
        assert!(!cg.exists(), "{} left", cg.display());
    }
}

impl Container for Ctr {
    fn dir(&self) -> &Path {
        &self.dir
    }

    fn id(&self) -> &str {
        &self.id
    }

    fn rt(&self, args: &[&str]) -> Output {
        self.run_as(RT, args, &[])
    }
}

impl Drop for Ctr {
    fn drop(&mut self) {
        let _ = self.rt(&["resume", &self.id]);
        let _ = self.rt(&["delete", "--force", &self.id]);
        let _ = self
            .user
            .cmd("systemctl")
            .args(["--user", "stop", &self.unit()])
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

pub fn file(cg: &Path, name: &str) -> String {
    let p = Path::new("/sys/fs/cgroup")
        .join(cg.strip_prefix("/").unwrap())
        .join(name);
    std::fs::read_to_string(&p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .trim()
        .to_string()
}

/// `key value` lines of a flat-keyed cgroup file (memory.events, pids.events).
pub fn keyed(cg: &Path, name: &str, key: &str) -> u64 {
    file(cg, name)
        .lines()
        .find_map(|l| l.strip_prefix(key)?.trim().parse().ok())
        .unwrap_or(0)
}
