//! Checks that run before anything is created. Fields that belong to parts
//! of rt not written yet fail loudly instead of being ignored.

use std::collections::HashSet;

use oci_spec::runtime::{LinuxNamespaceType, Spec};

use super::{Error, Result};

/// The runtime-spec versions rt implements: 1.0.0 up to 1.2.x.
const MAX_MINOR: u64 = 2;

pub fn validate(spec: &Spec) -> Result<()> {
    check_version(spec.version())?;
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| Error::Invalid("process is required".into()))?;
    if process.args().as_ref().is_none_or(|a| a.is_empty()) {
        return Err(Error::Invalid("process.args must not be empty".into()));
    }
    if !process.cwd().is_absolute() {
        return Err(Error::Invalid(format!(
            "process.cwd {:?} must be an absolute path",
            process.cwd()
        )));
    }
    if process
        .apparmor_profile()
        .as_ref()
        .is_some_and(|p| !p.is_empty())
    {
        return Err(Error::Unsupported("process.apparmorProfile".into()));
    }
    if process
        .selinux_label()
        .as_ref()
        .is_some_and(|p| !p.is_empty())
    {
        return Err(Error::Unsupported("process.selinuxLabel".into()));
    }
    for m in spec.mounts().iter().flatten() {
        if !m.destination().is_absolute() {
            return Err(Error::Invalid(format!(
                "mount destination {:?} must be absolute",
                m.destination()
            )));
        }
    }
    let Some(linux) = spec.linux() else {
        return Ok(());
    };
    let mut seen = HashSet::new();
    for ns in linux.namespaces().iter().flatten() {
        if !seen.insert(ns.typ()) {
            return Err(Error::Invalid(format!(
                "namespace {:?} is listed twice",
                ns.typ()
            )));
        }
    }
    let has = |t| seen.contains(&t);
    if (linux.uid_mappings().is_some() || linux.gid_mappings().is_some())
        && !has(LinuxNamespaceType::User)
    {
        return Err(Error::Invalid(
            "uidMappings/gidMappings need a user namespace".into(),
        ));
    }
    if linux.time_offsets().is_some() && !has(LinuxNamespaceType::Time) {
        return Err(Error::Invalid("timeOffsets need a time namespace".into()));
    }
    if linux.sysctl().as_ref().is_some_and(|s| !s.is_empty()) {
        for key in linux.sysctl().iter().flat_map(|s| s.keys()) {
            if key.contains("..") || key.starts_with('/') {
                return Err(Error::Invalid(format!("sysctl key {key:?}")));
            }
        }
    }
    if linux.mount_label().as_ref().is_some_and(|l| !l.is_empty()) {
        return Err(Error::Unsupported("linux.mountLabel".into()));
    }
    if linux.intel_rdt().is_some() {
        return Err(Error::Unsupported("linux.intelRdt".into()));
    }
    if linux.memory_policy().is_some() {
        return Err(Error::Unsupported("linux.memoryPolicy".into()));
    }
    if linux.net_devices().as_ref().is_some_and(|d| !d.is_empty()) {
        return Err(Error::Unsupported("linux.netDevices".into()));
    }
    Ok(())
}

fn check_version(v: &str) -> Result<()> {
    let mut parts = v.split('.');
    let major = parts.next().and_then(|m| m.parse::<u64>().ok());
    let minor = parts
        .next()
        .and_then(|m| m.split('-').next())
        .and_then(|m| m.parse::<u64>().ok());
    match (major, minor) {
        (Some(1), Some(minor)) if minor <= MAX_MINOR => Ok(()),
        _ => Err(Error::Invalid(format!(
            "ociVersion {v:?} is not supported (rt implements 1.0.0 to 1.{MAX_MINOR}.x)"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        for ok in ["1.0.0", "1.0.2-dev", "1.1.0", "1.2.1"] {
            assert!(check_version(ok).is_ok(), "{ok}");
        }
        for bad in ["", "2.0.0", "0.9", "1", "x.y", "1.9.0"] {
            assert!(check_version(bad).is_err(), "{bad}");
        }
    }

    fn spec(json: &str) -> Spec {
        serde_json::from_str(json).expect("test spec parses")
    }

    #[test]
    fn rejects_missing_args_and_relative_cwd() {
        let s = spec(
            r#"{"ociVersion":"1.0.2","process":{"user":{"uid":0,"gid":0},"cwd":"/","args":[]},"root":{"path":"r"}}"#,
        );
        assert!(validate(&s).is_err());
        let s = spec(
            r#"{"ociVersion":"1.0.2","process":{"user":{"uid":0,"gid":0},"cwd":"x","args":["a"]},"root":{"path":"r"}}"#,
        );
        assert!(validate(&s).is_err());
        let s = spec(
            r#"{"ociVersion":"1.0.2","process":{"user":{"uid":0,"gid":0},"cwd":"/","args":["a"]},"root":{"path":"r"}}"#,
        );
        assert!(validate(&s).is_ok());
    }

    #[test]
    fn rejects_duplicate_namespaces_and_unsupported_fields() {
        let s = spec(
            r#"{"ociVersion":"1.0.2","process":{"user":{"uid":0,"gid":0},"cwd":"/","args":["a"]},"root":{"path":"r"},
            "linux":{"namespaces":[{"type":"pid"},{"type":"pid"}]}}"#,
        );
        assert!(validate(&s).is_err());
        let s = spec(
            r#"{"ociVersion":"1.0.2","process":{"user":{"uid":0,"gid":0},"cwd":"/","args":["a"]},"root":{"path":"r"},
            "linux":{"uidMappings":[{"containerID":0,"hostID":1000,"size":1}]}}"#,
        );
        assert!(validate(&s).is_err());
    }
}
