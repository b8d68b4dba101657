//! An OCI bundle on disk: rootfs from fixtures plus a config.json that starts
//! as exactly what `runc spec` writes, edited through small helpers.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use super::fixtures;

/// Output of `runc spec` (runc 1.1.5), the default every test starts from.
pub const RUNC_SPEC: &str = include_str!("runc-spec.json");

/// Environment marker added to every container so that leftover processes
/// can be recognised by their environment.
pub const MARKER_VAR: &str = "RT_TEST_ID";

pub fn default_config() -> Value {
    serde_json::from_str(RUNC_SPEC).expect("embedded runc spec is valid JSON")
}

pub struct Bundle {
    pub dir: PathBuf,
    pub config: Value,
}

impl Bundle {
    /// A bundle at `dir` for container `id`: `runc spec` defaults with
    /// terminal off, `/probe all` as the process and the marker variable.
    pub fn new(dir: &Path, id: &str) -> Bundle {
        fs::create_dir_all(dir).expect("create bundle dir");
        fixtures::make_rootfs(&dir.join("rootfs"));
        let mut b = Bundle {
            dir: dir.to_path_buf(),
            config: default_config(),
        };
        b.set("/process/terminal", json!(false));
        b.probe(&["all"]);
        b.add_env(&format!("{MARKER_VAR}={id}"));
        b
    }

    pub fn rootfs(&self) -> PathBuf {
        self.dir.join("rootfs")
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.join("config.json")
    }

    pub fn save(&self) {
        let text = serde_json::to_string_pretty(&self.config).expect("serialise config");
        fs::write(self.config_path(), text).expect("write config.json");
    }

    /// Set the value at a JSON pointer, creating missing objects on the way.
    pub fn set(&mut self, pointer: &str, v: Value) -> &mut Self {
        let mut cur = &mut self.config;
        for part in pointer.trim_start_matches('/').split('/') {
            if !cur.is_object() {
                *cur = json!({});
            }
            cur = cur
                .as_object_mut()
                .expect("object")
                .entry(part.to_string())
                .or_insert(Value::Null);
        }
        *cur = v;
        self
    }

    pub fn get(&self, pointer: &str) -> Value {
        self.config.pointer(pointer).cloned().unwrap_or(Value::Null)
    }

    /// Remove the member at a JSON pointer (no-op when absent).
    pub fn remove(&mut self, pointer: &str) -> &mut Self {
        if let Some((parent, key)) = pointer.rsplit_once('/') {
            if let Some(Value::Object(m)) = self.config.pointer_mut(parent) {
                m.remove(key);
            }
        }
        self
    }

    fn push(&mut self, pointer: &str, v: Value) -> &mut Self {
        if !self.get(pointer).is_array() {
            self.set(pointer, json!([]));
        }
        if let Some(Value::Array(a)) = self.config.pointer_mut(pointer) {
            a.push(v);
        }
        self
    }

    pub fn args(&mut self, args: &[&str]) -> &mut Self {
        self.set("/process/args", json!(args))
    }

    /// Run the probe: `/probe args...`.
    pub fn probe(&mut self, args: &[&str]) -> &mut Self {
        let mut all = vec!["/probe"];
        all.extend_from_slice(args);
        self.args(&all)
    }

    pub fn env(&mut self) -> Vec<String> {
        serde_json::from_value(self.get("/process/env")).unwrap_or_default()
    }

    pub fn add_env(&mut self, kv: &str) -> &mut Self {
        self.push("/process/env", json!(kv))
    }

    pub fn cwd(&mut self, cwd: &str) -> &mut Self {
        self.set("/process/cwd", json!(cwd))
    }

    pub fn user(&mut self, uid: u32, gid: u32) -> &mut Self {
        self.set("/process/user/uid", json!(uid));
        self.set("/process/user/gid", json!(gid))
    }

    pub fn readonly_root(&mut self, ro: bool) -> &mut Self {
        self.set("/root/readonly", json!(ro))
    }

    /// Set one capability set ("bounding", "effective", ...).
    pub fn caps(&mut self, set: &str, caps: &[&str]) -> &mut Self {
        self.set(&format!("/process/capabilities/{set}"), json!(caps))
    }

    /// All five sets to the same list.
    pub fn all_caps(&mut self, caps: &[&str]) -> &mut Self {
        for set in [
            "bounding",
            "effective",
            "permitted",
            "inheritable",
            "ambient",
        ] {
            self.caps(set, caps);
        }
        self
    }

    pub fn add_rlimit(&mut self, kind: &str, soft: u64, hard: u64) -> &mut Self {
        self.push(
            "/process/rlimits",
            json!({"type": kind, "soft": soft, "hard": hard}),
        )
    }

    pub fn add_mount(&mut self, m: Value) -> &mut Self {
        self.push("/mounts", m)
    }

    pub fn namespaces(&self) -> Vec<String> {
        self.get("/linux/namespaces")
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|n| n["type"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn remove_namespace(&mut self, kind: &str) -> &mut Self {
        if let Some(Value::Array(a)) = self.config.pointer_mut("/linux/namespaces") {
            a.retain(|n| n["type"] != kind);
        }
        self
    }

    /// Append a namespace entry as is (even a duplicate, for bad input).
    pub fn push_namespace_raw(&mut self, ns: Value) -> &mut Self {
        self.push("/linux/namespaces", ns)
    }

    /// Add (or replace) a namespace, optionally joined by path.
    pub fn namespace(&mut self, kind: &str, path: Option<&str>) -> &mut Self {
        self.remove_namespace(kind);
        let mut n = json!({"type": kind});
        if let Some(p) = path {
            n["path"] = json!(p);
        }
        self.push("/linux/namespaces", n)
    }

    /// A user namespace mapping container 0..size to host `host`..; also
    /// what rootless mode needs.
    pub fn user_ns(&mut self, host_uid: u32, host_gid: u32, size: u32) -> &mut Self {
        self.namespace("user", None);
        self.set(
            "/linux/uidMappings",
            json!([{"containerID": 0, "hostID": host_uid, "size": size}]),
        );
        self.set(
            "/linux/gidMappings",
            json!([{"containerID": 0, "hostID": host_gid, "size": size}]),
        )
    }

    /// The rootless shape of `runc spec --rootless`: user namespace with a
    /// single mapping, no network namespace, /sys bind-mounted, no gid= for
    /// devpts and no device cgroup rules.
    pub fn rootless(&mut self, host_uid: u32, host_gid: u32) -> &mut Self {
        self.user_ns(host_uid, host_gid, 1);
        self.remove_namespace("network");
        self.remove("/linux/resources");
        if let Some(Value::Array(ms)) = self.config.pointer_mut("/mounts") {
            for m in ms.iter_mut() {
                if m["destination"] == "/sys" {
                    *m = json!({"destination": "/sys", "type": "none", "source": "/sys",
                        "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]});
                }
                if let Some(Value::Array(o)) = m.get_mut("options") {
                    o.retain(|x| x != "gid=5");
                }
            }
            ms.retain(|m| m["type"] != "cgroup");
        }
        self
    }

    pub fn hostname(&mut self, h: &str) -> &mut Self {
        self.set("/hostname", json!(h))
    }

    /// Relative cgroup path used by the runtime: linux.cgroupsPath or, when
    /// it is unset, the runtime's default: `<id>` for runc, `rt/<id>` for rt.
    pub fn cgroup_rel(&self, id: &str, kind: crate::common::Kind) -> String {
        match self.get("/linux/cgroupsPath").as_str() {
            Some(p) => p.trim_start_matches('/').to_string(),
            None if kind == crate::common::Kind::Rt => format!("rt/{id}"),
            None => id.to_string(),
        }
    }
}
