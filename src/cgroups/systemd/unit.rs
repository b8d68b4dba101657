//! Which unit a container gets under the systemd driver, from
//! `linux.cgroupsPath` in runc's "slice:prefix:name" form, and where systemd
//! puts that unit's cgroup (a-b.slice lives inside a.slice; a user
//! instance's slices live inside its own cgroup).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::Error;

/// A container's transient scope, as recorded in its state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unit {
    /// "prefix-name.scope".
    pub name: String,
    /// The slice it is started in ("system.slice", "-.slice" for the root).
    pub slice: String,
    /// Set when the user's systemd instance runs the unit (rootless): that
    /// manager's own cgroup ("/user.slice/user-1000.slice/user@1000.service"),
    /// which its slices are relative to. None: the system instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<PathBuf>,
}

impl Unit {
    /// runc's rules: "" takes `system.slice:rt:<id>` (`user.slice` when
    /// `rootless`, in the user's instance); otherwise exactly three
    /// ':'-separated fields, an empty slice meaning that default slice and
    /// an empty prefix the unit "name.scope". `user` is left for the
    /// caller, who asks the user's instance.
    pub fn from_cgroups_path(path: Option<&str>, id: &str, rootless: bool) -> Result<Unit, Error> {
        let path = path.unwrap_or("");
        let (slice, prefix, name) = if path.is_empty() {
            ("", "rt", id)
        } else {
            let parts: Vec<&str> = path.split(':').collect();
            let [slice, prefix, name] = parts[..] else {
                return Err(Error::Path(
                    path.to_string(),
                    "the systemd driver expects \"slice:prefix:name\"".into(),
                ));
            };
            (slice, prefix, name)
        };
        let bad = |why: String| Error::Path(path.to_string(), why);
        let slice = if slice.is_empty() && rootless {
            "user.slice"
        } else if slice.is_empty() {
            "system.slice"
        } else {
            slice
        };
        check_slice(slice).map_err(bad)?;
        if name.is_empty() {
            return Err(bad("the name part is empty".into()));
        }
        if name.ends_with(".slice") {
            return Err(bad(
                "a name ending in .slice asks for a slice unit; rt runs each container in a scope"
                    .into(),
            ));
        }
        let unit = if prefix.is_empty() {
            format!("{name}.scope")
        } else {
            format!("{prefix}-{name}.scope")
        };
        check_unit_chars(&unit).map_err(bad)?;
        Ok(Unit {
            name: unit,
            slice: slice.to_string(),
            user: None,
        })
    }

    /// The scope's cgroup, from the hierarchy root: the user manager's
    /// cgroup if any, the expanded slice, then the unit
    /// ("/system.slice/rt-abc.scope", "/user.slice/user-1000.slice/
    /// user@1000.service/user.slice/rt-abc.scope").
    pub fn cgroup_path(&self) -> PathBuf {
        let mut p = self.user.clone().unwrap_or_else(|| PathBuf::from("/"));
        p.extend(expand_slice(&self.slice).components().skip(1));
        p.push(&self.name);
        p
    }
}

/// systemd's slice names: "-.slice" is the root, otherwise dash-separated
/// parts, none empty.
fn check_slice(slice: &str) -> Result<(), String> {
    if slice == "-.slice" {
        return Ok(());
    }
    let Some(base) = slice.strip_suffix(".slice") else {
        return Err(format!("slice {slice:?} must end in .slice"));
    };
    if base.is_empty() || base.split('-').any(str::is_empty) {
        return Err(format!(
            "slice {slice:?}: no part between dashes may be empty"
        ));
    }
    check_unit_chars(slice)
}

/// The characters systemd allows in unit names, and its length limit.
fn check_unit_chars(unit: &str) -> Result<(), String> {
    if unit.len() > 255 {
        return Err(format!("unit name {unit:?} is longer than 255 bytes"));
    }
    if let Some(c) = unit
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, ':' | '-' | '_' | '.' | '\\')))
    {
        return Err(format!("unit name {unit:?} contains {c:?}"));
    }
    Ok(())
}

/// "a-b-c.slice" -> /a.slice/a-b.slice/a-b-c.slice; "-.slice" -> /.
pub fn expand_slice(slice: &str) -> PathBuf {
    let mut p = PathBuf::from("/");
    if slice == "-.slice" {
        return p;
    }
    let base = slice.strip_suffix(".slice").unwrap_or(slice);
    let mut prefix = String::new();
    for part in base.split('-') {
        if !prefix.is_empty() {
            prefix.push('-');
        }
        prefix.push_str(part);
        p.push(format!("{prefix}.slice"));
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(p: &str) -> Result<Unit, Error> {
        Unit::from_cgroups_path(Some(p), "abc", false)
    }

    #[test]
    fn runc_forms() {
        let u = Unit::from_cgroups_path(None, "abc", false).unwrap();
        assert_eq!(u.name, "rt-abc.scope");
        assert_eq!(u.slice, "system.slice");
        assert_eq!(u.cgroup_path(), PathBuf::from("/system.slice/rt-abc.scope"));
        let u = unit("kubepods-burstable-pod123.slice:cri-containerd:abc").unwrap();
        assert_eq!(u.name, "cri-containerd-abc.scope");
        assert_eq!(
            u.cgroup_path(),
            PathBuf::from(
                "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod123.slice/cri-containerd-abc.scope"
            )
        );
        let u = unit(":podman:x1").unwrap();
        assert_eq!(
            (u.slice.as_str(), u.name.as_str()),
            ("system.slice", "podman-x1.scope")
        );
        let u = unit("-.slice::x1").unwrap();
        assert_eq!(u.name, "x1.scope");
        assert_eq!(u.cgroup_path(), PathBuf::from("/x1.scope"));
    }

    #[test]
    fn user_instance_forms() {
        let mut u = Unit::from_cgroups_path(None, "abc", true).unwrap();
        assert_eq!(
            (u.slice.as_str(), u.name.as_str()),
            ("user.slice", "rt-abc.scope")
        );
        u.user = Some(PathBuf::from(
            "/user.slice/user-1000.slice/user@1000.service",
        ));
        assert_eq!(
            u.cgroup_path(),
            PathBuf::from("/user.slice/user-1000.slice/user@1000.service/user.slice/rt-abc.scope")
        );
        let u = Unit::from_cgroups_path(Some(":p:x"), "abc", true).unwrap();
        assert_eq!(u.slice, "user.slice");
        let mut u = Unit::from_cgroups_path(Some("a-b.slice:p:x"), "abc", true).unwrap();
        u.user = Some(PathBuf::from("/m"));
        assert_eq!(
            u.cgroup_path(),
            PathBuf::from("/m/a.slice/a-b.slice/p-x.scope")
        );
        let mut u = Unit::from_cgroups_path(Some("-.slice:p:x"), "abc", true).unwrap();
        u.user = Some(PathBuf::from("/m"));
        assert_eq!(u.cgroup_path(), PathBuf::from("/m/p-x.scope"));
        // The state of a system-instance unit has no "user" key.
        let sys = Unit::from_cgroups_path(None, "abc", false).unwrap();
        let json = serde_json::to_string(&sys).unwrap();
        assert!(!json.contains("user"), "{json}");
        let back: Unit = serde_json::from_str(r#"{"name":"a.scope","slice":"s.slice"}"#).unwrap();
        assert_eq!(back.user, None);
    }

    #[test]
    fn refusals() {
        for bad in [
            "/a/b",
            "a.slice:b",
            "a.slice:b:c:d",
            "a:b:c",
            "a--b.slice:p:n",
            "-a.slice:p:n",
            "a-.slice:p:n",
            ".slice:p:n",
            "a.slice:p:",
            "a.slice:p:n.slice",
            "a/b.slice:p:n",
            "a.slice:p:n/x",
            "a.slice:p q:n",
        ] {
            assert!(unit(bad).is_err(), "{bad} accepted");
        }
        let e = unit("/a/b").unwrap_err().to_string();
        assert!(e.contains("slice:prefix:name"), "{e}");
    }
}
