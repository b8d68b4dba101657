//! config.json from the image config, as umoci and the image spec's
//! conversion rules do it, on top of the runc-spec defaults.

use std::collections::BTreeMap;
use std::os::fd::RawFd;

use serde::Deserialize;
use serde_json::{json, Value};

use super::defaults::{default_spec, DEFAULT_PATH};
use super::user;
use super::Error;

#[derive(Debug, Default, Deserialize)]
pub struct ImageConfig {
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub os: String,
    #[serde(default)]
    pub variant: Option<String>,
    #[serde(default)]
    pub author: Option<String>,
    #[serde(default)]
    pub created: Option<String>,
    #[serde(default)]
    pub config: Option<RunConfig>,
    pub rootfs: RootFs,
}

#[derive(Debug, Default, Deserialize)]
pub struct RootFs {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub diff_ids: Vec<String>,
}

/// Docker writes `null` for absent fields, hence the Options everywhere.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RunConfig {
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub exposed_ports: Option<BTreeMap<String, Value>>,
    #[serde(default)]
    pub env: Option<Vec<String>>,
    #[serde(default)]
    pub entrypoint: Option<Vec<String>>,
    #[serde(default)]
    pub cmd: Option<Vec<String>>,
    #[serde(default)]
    pub volumes: Option<BTreeMap<String, Value>>,
    #[serde(default)]
    pub working_dir: Option<String>,
    #[serde(default)]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub stop_signal: Option<String>,
}

fn has_var(env: &[String], name: &str) -> bool {
    env.iter()
        .any(|e| e.split_once('=').map(|(k, _)| k) == Some(name))
}

/// Builds the runtime config. `root` is the unpacked rootfs, for the
/// User lookup. An unknown user or group name is an error.
pub fn generate(img: &ImageConfig, root: RawFd, rootless: bool) -> Result<Value, Error> {
    let empty = RunConfig::default();
    let rc = img.config.as_ref().unwrap_or(&empty);
    let u = user::resolve_in_root(rc.user.as_deref().unwrap_or(""), root)?;
    build(img, &u, rootless)
}

/// The pure part of `generate`, given the resolved user.
pub fn build(img: &ImageConfig, u: &user::ExecUser, rootless: bool) -> Result<Value, Error> {
    let empty = RunConfig::default();
    let rc = img.config.as_ref().unwrap_or(&empty);
    let mut spec = default_spec(rootless);
    let p = &mut spec["process"];
    p["terminal"] = json!(false);
    let mut args: Vec<String> = rc.entrypoint.clone().unwrap_or_default();
    args.extend(rc.cmd.clone().unwrap_or_default());
    if !args.is_empty() {
        p["args"] = json!(args);
    }
    let mut env: Vec<String> = rc.env.clone().unwrap_or_default();
    if !has_var(&env, "PATH") {
        env.insert(0, DEFAULT_PATH.to_string());
    }
    if !has_var(&env, "HOME") {
        env.push(format!("HOME={}", u.home));
    }
    p["env"] = json!(env);
    if let Some(wd) = rc.working_dir.as_deref().filter(|w| !w.is_empty()) {
        if !wd.starts_with('/') {
            return Err(Error::Invalid(format!(
                "image WorkingDir {wd:?} is not absolute"
            )));
        }
        p["cwd"] = json!(wd);
    }
    p["user"] = json!({"uid": u.uid, "gid": u.gid});
    if !u.additional_gids.is_empty() {
        p["user"]["additionalGids"] = json!(u.additional_gids);
    }
    spec["root"] = json!({"path": "rootfs", "readonly": false});
    if let Some(vols) = &rc.volumes {
        let mounts = spec["mounts"]
            .as_array_mut()
            .ok_or_else(|| Error::Invalid("mounts".into()))?;
        for v in vols.keys() {
            if !v.starts_with('/') {
                return Err(Error::Invalid(format!(
                    "image volume {v:?} is not absolute"
                )));
            }
            mounts.push(json!({
                "destination": v, "type": "tmpfs", "source": "none",
                "options": ["rw", "nosuid", "nodev", "noexec", "relatime"]
            }));
        }
    }
    let mut ann: BTreeMap<String, String> = BTreeMap::new();
    // Labels first: the spec's own keys below must not be overridden by them.
    if let Some(l) = &rc.labels {
        ann.extend(l.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    let oci = "org.opencontainers.image.";
    if !img.os.is_empty() {
        ann.insert(format!("{oci}os"), img.os.clone());
    }
    if !img.architecture.is_empty() {
        ann.insert(format!("{oci}architecture"), img.architecture.clone());
    }
    if let Some(a) = img.author.as_ref().filter(|a| !a.is_empty()) {
        ann.insert(format!("{oci}author"), a.clone());
    }
    if let Some(c) = img.created.as_ref().filter(|c| !c.is_empty()) {
        ann.insert(format!("{oci}created"), c.clone());
    }
    if let Some(s) = rc.stop_signal.as_ref().filter(|s| !s.is_empty()) {
        ann.insert(format!("{oci}stopSignal"), s.clone());
    }
    if let Some(ports) = rc.exposed_ports.as_ref().filter(|p| !p.is_empty()) {
        let list: Vec<&str> = ports.keys().map(String::as_str).collect();
        ann.insert(format!("{oci}exposedPorts"), list.join(","));
    }
    if !ann.is_empty() {
        spec["annotations"] = json!(ann);
    }
    Ok(spec)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn img(cfg: Value) -> ImageConfig {
        serde_json::from_value(json!({
            "architecture": "amd64", "os": "linux", "author": "me",
            "config": cfg,
            "rootfs": {"type": "layers", "diff_ids": []}
        }))
        .unwrap()
    }

    fn user() -> user::ExecUser {
        user::ExecUser {
            uid: 1000,
            gid: 100,
            additional_gids: vec![10],
            home: "/home/a".into(),
        }
    }

    #[test]
    fn maps_every_field() {
        let i = img(json!({
            "Entrypoint": ["/bin/sh", "-c"], "Cmd": ["echo hi"],
            "Env": ["FOO=bar", "PATH=/bin"], "WorkingDir": "/w",
            "Volumes": {"/data": {}}, "ExposedPorts": {"80/tcp": {}, "53/udp": {}},
            "Labels": {"a": "b", "org.opencontainers.image.os": "fake"},
            "StopSignal": "SIGINT", "User": "ignored-here"
        }));
        let s = build(&i, &user(), false).unwrap();
        assert_eq!(s["process"]["args"], json!(["/bin/sh", "-c", "echo hi"]));
        assert_eq!(
            s["process"]["env"],
            json!(["FOO=bar", "PATH=/bin", "HOME=/home/a"])
        );
        assert_eq!(s["process"]["cwd"], "/w");
        assert_eq!(s["process"]["terminal"], false);
        assert_eq!(
            s["process"]["user"],
            json!({"uid": 1000, "gid": 100, "additionalGids": [10]})
        );
        let m = s["mounts"].as_array().unwrap().last().unwrap().clone();
        assert_eq!(m["destination"], "/data");
        let a = &s["annotations"];
        assert_eq!(a["a"], "b");
        assert_eq!(a["org.opencontainers.image.os"], "linux");
        assert_eq!(a["org.opencontainers.image.stopSignal"], "SIGINT");
        assert_eq!(a["org.opencontainers.image.exposedPorts"], "53/udp,80/tcp");
        assert_eq!(a["org.opencontainers.image.author"], "me");
        let _: oci_spec::runtime::Spec = serde_json::from_value(s).unwrap();
    }

    #[test]
    fn defaults_when_empty_and_docker_nulls() {
        let i = img(json!({"Env": null, "Cmd": null, "Entrypoint": null, "Volumes": null}));
        let s = build(
            &i,
            &user::ExecUser {
                uid: 0,
                gid: 0,
                additional_gids: vec![],
                home: "/".into(),
            },
            false,
        )
        .unwrap();
        assert_eq!(s["process"]["args"], json!(["sh"]));
        assert_eq!(s["process"]["env"][0], DEFAULT_PATH);
        assert_eq!(s["process"]["env"][1], "HOME=/");
        assert_eq!(s["process"]["cwd"], "/");
        assert!(s["process"]["user"].get("additionalGids").is_none());
        let i = img(json!({"Env": ["HOME=/x"]}));
        let s = build(&i, &user(), false).unwrap();
        assert_eq!(s["process"]["env"], json!([DEFAULT_PATH, "HOME=/x"]));
    }

    #[test]
    fn rejects_relative_paths() {
        assert!(build(&img(json!({"WorkingDir": "rel"})), &user(), false).is_err());
        assert!(build(&img(json!({"Volumes": {"rel": {}}})), &user(), false).is_err());
    }
}
