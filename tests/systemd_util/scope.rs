//! A container of the system instance's: a busybox bundle whose
//! cgroupsPath puts it in a scope of a named slice, driven with
//! `rt --systemd-cgroup`, and the cgroup files of that scope.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::{json, Value};

use super::bundle::{container_args, run_logged};
use super::{layout, show, under_systemd, RT};
use crate::support;
use crate::support::Container;

pub struct Ctr {
    pub dir: PathBuf,
    pub root: PathBuf,
    pub id: String,
    pub unit: String,
    /// The scope's cgroup, from the hierarchy root.
    pub cgroup: PathBuf,
}

/// The directory of cgroup `path` in the hierarchy of `ctrl` (its v1
/// mount, else the unified one).
pub fn dir_of(ctrl: &str, path: &Path) -> PathBuf {
    let l = layout();
    let base = match l.v1_mount(ctrl) {
        Some(m) => m.to_path_buf(),
        None => l.unified.clone().expect("a cgroup hierarchy for {ctrl}"),
    };
    base.join(path.strip_prefix("/").unwrap())
}

/// Where systemd tracks a unit's processes: the unified hierarchy on v2
/// and hybrid hosts, its named hierarchy on legacy ones.
pub fn tracking_dir(path: &Path) -> PathBuf {
    let l = layout();
    match (&l.unified, l.v1_mount("name=systemd")) {
        (Some(u), _) => u.join(path.strip_prefix("/").unwrap()),
        (None, Some(m)) => m.join(path.strip_prefix("/").unwrap()),
        (None, None) => panic!("no hierarchy systemd tracks units in"),
    }
}

impl Ctr {
    /// A busybox bundle running `args`, cgroupsPath "<slice>:rtt:<id>".
    pub fn new(tag: &str, slice: &str, args: &[&str], resources: Value) -> Ctr {
        let id = support::unique(tag)
            .file_name()
            .unwrap()
            .to_string_lossy()
            .to_string();
        let dir = std::env::temp_dir().join(format!("{id}-bundle"));
        let mut cfg = support::busybox_bundle(RT, &dir, &["sh", "sleep", "cat", "true"], args);
        cfg["linux"]["cgroupsPath"] = json!(format!("{slice}:rtt:{id}"));
        cfg["linux"]["resources"] = resources;
        std::fs::write(dir.join("config.json"), serde_json::to_vec(&cfg).unwrap()).unwrap();
        let unit = format!("rtt-{id}.scope");
        let cgroup = rt::cgroups::systemd::expand_slice(slice).join(&unit);
        Ctr {
            root: std::env::temp_dir().join(format!("{id}-root")),
            dir,
            id,
            unit,
            cgroup,
        }
    }

    /// `systemctl show` of the scope: property -> value.
    pub fn show(&self, props: &[&str]) -> std::collections::BTreeMap<String, String> {
        show(&self.unit, props)
    }

    /// A file of the scope's cgroup in the hierarchy of `ctrl`.
    pub fn file(&self, ctrl: &str, name: &str) -> String {
        let d = dir_of(ctrl, &self.cgroup);
        std::fs::read_to_string(d.join(name))
            .unwrap_or_else(|e| panic!("{}/{name}: {e}", d.display()))
            .trim()
            .to_string()
    }

    /// Nothing left: no state, no unit loaded, no cgroup.
    #[track_caller]
    pub fn assert_gone(&self) {
        assert!(!self.root.join(&self.id).exists(), "state dir left");
        assert_eq!(
            self.show(&["LoadState"])["LoadState"],
            "not-found",
            "unit left"
        );
        assert!(
            !support::exists_anywhere(&self.cgroup),
            "{} left",
            self.cgroup.display()
        );
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
        let mut c = Command::new(RT);
        container_args(&mut c, &self.root, &self.dir, args);
        run_logged(c.stdin(Stdio::null()), &self.dir, None)
    }
}

impl Drop for Ctr {
    fn drop(&mut self) {
        let _ = self.rt(&["resume", &self.id]);
        let _ = self.rt(&["delete", "--force", &self.id]);
        if under_systemd() {
            let _ = Command::new("systemctl")
                .args(["stop", &self.unit])
                .output();
            let _ = Command::new("systemctl")
                .args(["reset-failed", &self.unit])
                .output();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
        let _ = std::fs::remove_dir_all(&self.root);
    }
}
