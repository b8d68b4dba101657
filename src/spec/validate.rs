//! Checks that run before anything is created. Fields that belong to parts
//! of rt not written yet fail loudly instead of being ignored.

use std::collections::HashSet;

use oci_spec::runtime::{LinuxNamespaceType, Spec};

use super::lsm::Lsm;
use super::{Error, Result};
use crate::namespaces::MountNs;

/// The runtime-spec versions rt implements: 1.0.0 up to 1.2.x.
const MAX_MINOR: u64 = 2;

pub fn validate(spec: &Spec) -> Result<()> {
    validate_on(spec, Lsm::detect())
}

/// `validate` for a host running the security modules in `lsm`.
pub(crate) fn validate_on(spec: &Spec, lsm: Lsm) -> Result<()> {
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
    let set = |v: &Option<String>| v.as_ref().is_some_and(|v| !v.is_empty());
    // A process label is a confinement the caller asked for: without the
    // module (or with it, since rt cannot apply labels yet) it is refused
    // rather than silently not applied, as runc does.
    if set(process.apparmor_profile()) {
        return Err(lsm_refusal(
            "process.apparmorProfile",
            "AppArmor",
            lsm.apparmor,
        ));
    }
    if set(process.selinux_label()) {
        return Err(lsm_refusal("process.selinuxLabel", "SELinux", lsm.selinux));
    }
    for m in spec.mounts().iter().flatten() {
        if !m.destination().is_absolute() {
            return Err(Error::Invalid(format!(
                "mount destination {:?} must be absolute",
                m.destination()
            )));
        }
        // Options rt refuses fail here, before anything exists.
        crate::rootfs::options::parse(m.options().as_deref().unwrap_or(&[]))
            .map_err(|e| Error::Invalid(format!("mount {}: {e}", m.destination().display())))?;
    }
    if let Some(hooks) = spec.hooks() {
        check_hooks(hooks)?;
    }
    own_mount_namespace_fields(spec)?;
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
    if set(linux.mount_label()) {
        // A mount label only names an SELinux context: on a host without
        // SELinux it has no meaning and confines nothing (crun and runc
        // ignore it there). Podman and CRI-O send one whenever they were
        // built with SELinux support.
        if lsm.selinux {
            return Err(lsm_refusal("linux.mountLabel", "SELinux", true));
        }
        crate::log::debug("linux.mountLabel ignored: SELinux is not enabled on this host");
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

/// config.md: a hook's path MUST be absolute (a relative one would run
/// relative to whatever directory the caller of rt happens to be in), and
/// a timeout MUST be greater than zero.
fn check_hooks(hooks: &oci_spec::runtime::Hooks) -> Result<()> {
    for (kind, i, hook) in crate::hooks::all(hooks) {
        let name = kind.name();
        if !hook.path().is_absolute() {
            return Err(Error::Invalid(format!(
                "hooks.{name}[{i}].path {:?} must be an absolute path",
                hook.path()
            )));
        }
        if hook.timeout().is_some_and(|t| t <= 0) {
            return Err(Error::Invalid(format!(
                "hooks.{name}[{i}].timeout must be greater than zero"
            )));
        }
    }
    Ok(())
}

/// Fields that only a mount namespace of the container's own can honour.
/// Without one rt mounts nothing: in rt's own namespace every mount would
/// change the host's mount table and outlive the container, and a joined
/// namespace is set up by whoever made it (its mounts would outlive the
/// container too, in a table rt does not own; runtime-spec 1.0 said so:
/// a joined namespace's setup "has already been done").
fn own_mount_namespace_fields(spec: &Spec) -> Result<()> {
    let why = match crate::namespaces::mount_ns(spec) {
        MountNs::New => return Ok(()),
        MountNs::Shared => {
            "the container shares rt's mount namespace (linux.namespaces has no \
                            mount entry), where a mount would change the host's mount table"
        }
        MountNs::Joined => {
            "the container joins an existing mount namespace, whose mounts are \
                            set up by whoever made it"
        }
    };
    let linux = spec.linux().as_ref();
    let nonempty = |v: Option<&Vec<String>>| v.is_some_and(|v| !v.is_empty());
    let field = if spec.mounts().as_ref().is_some_and(|m| !m.is_empty()) {
        Some("mounts")
    } else if nonempty(linux.and_then(|l| l.masked_paths().as_ref())) {
        Some("linux.maskedPaths")
    } else if nonempty(linux.and_then(|l| l.readonly_paths().as_ref())) {
        Some("linux.readonlyPaths")
    } else if linux.is_some_and(|l| l.devices().as_ref().is_some_and(|d| !d.is_empty())) {
        Some("linux.devices")
    } else if linux.is_some_and(|l| {
        l.rootfs_propagation()
            .as_ref()
            .is_some_and(|p| !p.is_empty())
    }) {
        Some("linux.rootfsPropagation")
    } else if spec
        .root()
        .as_ref()
        .is_some_and(|r| r.readonly() == Some(true))
    {
        Some("root.readonly")
    } else {
        None
    };
    match field {
        Some(f) => Err(Error::Invalid(format!(
            "{f} needs a new mount namespace: {why}"
        ))),
        None => Ok(()),
    }
}

fn lsm_refusal(field: &str, module: &str, enabled: bool) -> Error {
    if enabled {
        Error::Invalid(format!(
            "{field} is set: {module} is enabled on this host, but rt cannot apply {module} \
             labels yet"
        ))
    } else {
        Error::Invalid(format!(
            "{field} is set, but {module} is not enabled on this host"
        ))
    }
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

    #[test]
    fn without_an_own_mount_namespace_nothing_may_be_mounted() {
        let base = r#""ociVersion":"1.0.2","process":{"user":{"uid":0,"gid":0},"cwd":"/","args":["a"]},"root":{"path":"r"}"#;
        let shared = spec(&format!(
            r#"{{{base},"linux":{{"namespaces":[{{"type":"pid"}}]}}}}"#
        ));
        assert!(validate(&shared).is_ok());
        for extra in [
            r#""mounts":[{"destination":"/proc","type":"proc","source":"proc"}]"#,
            r#""linux":{"maskedPaths":["/proc/kcore"]}"#,
            r#""linux":{"rootfsPropagation":"shared"}"#,
        ] {
            let s = spec(&format!("{{{base},{extra}}}"));
            let err = validate(&s).unwrap_err().to_string();
            assert!(err.contains("needs a new mount namespace"), "{err}");
        }
        let ro = base.replace(r#"{"path":"r"}"#, r#"{"path":"r","readonly":true}"#);
        let joined = spec(&format!(
            r#"{{{ro},"linux":{{"namespaces":[{{"type":"mount","path":"/proc/1/ns/mnt"}}]}}}}"#
        ));
        let err = validate(&joined).unwrap_err().to_string();
        assert!(
            err.contains("root.readonly") && err.contains("joins"),
            "{err}"
        );
    }

    #[test]
    fn hook_paths_must_be_absolute_and_timeouts_positive() {
        let with = |hooks: &str| {
            spec(&format!(
                r#"{{"ociVersion":"1.0.2","process":{{"user":{{"uid":0,"gid":0}},"cwd":"/","args":["a"]}},"root":{{"path":"r"}},"hooks":{hooks}}}"#
            ))
        };
        assert!(validate(&with(r#"{"poststop":[{"path":"/bin/true","timeout":1}]}"#)).is_ok());
        let err = validate(&with(
            r#"{"createRuntime":[{"path":"/bin/true"},{"path":"bin/x"}]}"#,
        ))
        .unwrap_err()
        .to_string();
        assert!(err.contains("hooks.createRuntime[1].path"), "{err}");
        let err = validate(&with(r#"{"prestart":[{"path":"/bin/true","timeout":0}]}"#))
            .unwrap_err()
            .to_string();
        assert!(err.contains("timeout"), "{err}");
    }

    #[test]
    fn mount_label_is_ignored_without_selinux_and_refused_with_it() {
        let s = spec(
            r#"{"ociVersion":"1.0.2","process":{"user":{"uid":0,"gid":0},"cwd":"/","args":["a"]},"root":{"path":"r"},
            "linux":{"mountLabel":"system_u:object_r:container_file_t:s0:c1,c2"}}"#,
        );
        let none = Lsm::default();
        let selinux = Lsm {
            selinux: true,
            apparmor: false,
        };
        assert!(validate_on(&s, none).is_ok());
        let err = validate_on(&s, selinux).unwrap_err().to_string();
        assert!(
            err.contains("mountLabel") && err.contains("cannot apply"),
            "{err}"
        );
    }

    #[test]
    fn process_labels_are_refused_either_way() {
        let s = spec(
            r#"{"ociVersion":"1.0.2","process":{"user":{"uid":0,"gid":0},"cwd":"/","args":["a"],
            "selinuxLabel":"system_u:system_r:container_t:s0","apparmorProfile":"p"},"root":{"path":"r"}}"#,
        );
        let all = Lsm {
            selinux: true,
            apparmor: true,
        };
        for lsm in [Lsm::default(), all] {
            let err = validate_on(&s, lsm).unwrap_err().to_string();
            assert!(err.contains("apparmorProfile"), "{err}");
        }
        let err = validate_on(&s, Lsm::default()).unwrap_err().to_string();
        assert!(err.contains("not enabled on this host"), "{err}");
    }
}
