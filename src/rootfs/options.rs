//! Mount options from config.json turned into mount(2) flags, propagation
//! changes and filesystem data. Pure, so it is tested without root.

use nix::mount::MsFlags;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountOptions {
    /// Flags for the mount itself (and for the remount of a bind).
    pub flags: MsFlags,
    /// Flags cleared by an explicit option (e.g. `rw`, `suid`).
    pub cleared: MsFlags,
    /// Propagation changes applied after mounting, in order.
    pub propagation: Vec<MsFlags>,
    /// Filesystem-specific options, comma-joined (`size=64k,mode=755`).
    pub data: String,
    pub bind: bool,
    pub recursive: bool,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("mount option {0:?} is not supported")]
pub struct UnsupportedOption(pub String);

impl Default for MountOptions {
    fn default() -> Self {
        MountOptions {
            flags: MsFlags::empty(),
            cleared: MsFlags::empty(),
            propagation: Vec::new(),
            data: String::new(),
            bind: false,
            recursive: false,
        }
    }
}

/// Every option name `parse` honours (for `rt features`).
pub const KNOWN: [&str; 33] = [
    "defaults",
    "ro",
    "rw",
    "nosuid",
    "suid",
    "nodev",
    "dev",
    "noexec",
    "exec",
    "sync",
    "async",
    "dirsync",
    "mand",
    "nomand",
    "atime",
    "noatime",
    "diratime",
    "nodiratime",
    "relatime",
    "norelatime",
    "strictatime",
    "nostrictatime",
    "silent",
    "loud",
    "bind",
    "rbind",
    "private",
    "rprivate",
    "shared",
    "rshared",
    "slave",
    "rslave",
    "unbindable",
];

pub fn parse(options: &[String]) -> Result<MountOptions, UnsupportedOption> {
    let mut o = MountOptions::default();
    let mut data: Vec<&str> = Vec::new();
    for opt in options {
        let set = |f: MsFlags, o: &mut MountOptions| {
            o.flags |= f;
            o.cleared &= !f;
        };
        let clear = |f: MsFlags, o: &mut MountOptions| {
            o.flags &= !f;
            o.cleared |= f;
        };
        match opt.as_str() {
            "defaults" => {}
            "ro" => set(MsFlags::MS_RDONLY, &mut o),
            "rw" => clear(MsFlags::MS_RDONLY, &mut o),
            "nosuid" => set(MsFlags::MS_NOSUID, &mut o),
            "suid" => clear(MsFlags::MS_NOSUID, &mut o),
            "nodev" => set(MsFlags::MS_NODEV, &mut o),
            "dev" => clear(MsFlags::MS_NODEV, &mut o),
            "noexec" => set(MsFlags::MS_NOEXEC, &mut o),
            "exec" => clear(MsFlags::MS_NOEXEC, &mut o),
            "sync" => set(MsFlags::MS_SYNCHRONOUS, &mut o),
            "async" => clear(MsFlags::MS_SYNCHRONOUS, &mut o),
            "dirsync" => set(MsFlags::MS_DIRSYNC, &mut o),
            "mand" => set(MsFlags::MS_MANDLOCK, &mut o),
            "nomand" => clear(MsFlags::MS_MANDLOCK, &mut o),
            "atime" => clear(MsFlags::MS_NOATIME, &mut o),
            "noatime" => set(MsFlags::MS_NOATIME, &mut o),
            "diratime" => clear(MsFlags::MS_NODIRATIME, &mut o),
            "nodiratime" => set(MsFlags::MS_NODIRATIME, &mut o),
            "relatime" => set(MsFlags::MS_RELATIME, &mut o),
            "norelatime" => clear(MsFlags::MS_RELATIME, &mut o),
            "strictatime" => set(MsFlags::MS_STRICTATIME, &mut o),
            "nostrictatime" => clear(MsFlags::MS_STRICTATIME, &mut o),
            "silent" => set(MsFlags::MS_SILENT, &mut o),
            "loud" => clear(MsFlags::MS_SILENT, &mut o),
            "bind" => o.bind = true,
            "rbind" => {
                o.bind = true;
                o.recursive = true;
            }
            "private" => o.propagation.push(MsFlags::MS_PRIVATE),
            "rprivate" => o.propagation.push(MsFlags::MS_PRIVATE | MsFlags::MS_REC),
            "shared" => o.propagation.push(MsFlags::MS_SHARED),
            "rshared" => o.propagation.push(MsFlags::MS_SHARED | MsFlags::MS_REC),
            "slave" => o.propagation.push(MsFlags::MS_SLAVE),
            "rslave" => o.propagation.push(MsFlags::MS_SLAVE | MsFlags::MS_REC),
            "unbindable" => o.propagation.push(MsFlags::MS_UNBINDABLE),
            "runbindable" => o.propagation.push(MsFlags::MS_UNBINDABLE | MsFlags::MS_REC),
            // Recursive attributes (mount_setattr), id-mapped mounts and
            // copy-up are not implemented: refuse rather than ignore.
            "rro" | "rrw" | "rnosuid" | "rsuid" | "rnodev" | "rdev" | "rnoexec" | "rexec"
            | "rnoatime" | "ratime" | "rrelatime" | "rnorelatime" | "rstrictatime"
            | "rnostrictatime" | "rnodiratime" | "rdiratime" | "tmpcopyup" | "idmap" | "ridmap"
            | "remount" => return Err(UnsupportedOption(opt.clone())),
            other => data.push(other),
        }
    }
    o.data = data.join(",");
    Ok(o)
}

/// The rootfsPropagation value as mount flags (runc's default: rslave).
pub fn root_propagation(value: Option<&str>) -> Result<MsFlags, UnsupportedOption> {
    Ok(match value.unwrap_or("") {
        "" | "rslave" => MsFlags::MS_SLAVE | MsFlags::MS_REC,
        "slave" => MsFlags::MS_SLAVE,
        "private" => MsFlags::MS_PRIVATE,
        "rprivate" => MsFlags::MS_PRIVATE | MsFlags::MS_REC,
        "shared" => MsFlags::MS_SHARED,
        "rshared" => MsFlags::MS_SHARED | MsFlags::MS_REC,
        "unbindable" => MsFlags::MS_UNBINDABLE,
        "runbindable" => MsFlags::MS_UNBINDABLE | MsFlags::MS_REC,
        other => return Err(UnsupportedOption(other.to_string())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(opts: &[&str]) -> MountOptions {
        parse(&opts.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn flags_and_data_split() {
        let o = p(&["nosuid", "strictatime", "mode=755", "size=65536k"]);
        assert_eq!(o.flags, MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME);
        assert_eq!(o.data, "mode=755,size=65536k");
        assert!(!o.bind);
    }

    #[test]
    fn later_options_win() {
        let o = p(&["ro", "rw"]);
        assert!(!o.flags.contains(MsFlags::MS_RDONLY));
        assert!(o.cleared.contains(MsFlags::MS_RDONLY));
    }

    #[test]
    fn bind_and_propagation() {
        let o = p(&["rbind", "ro", "rprivate"]);
        assert!(o.bind && o.recursive);
        assert_eq!(o.propagation, vec![MsFlags::MS_PRIVATE | MsFlags::MS_REC]);
    }

    #[test]
    fn refuses_what_it_cannot_do() {
        assert!(parse(&["rro".to_string()]).is_err());
        assert!(parse(&["idmap".to_string()]).is_err());
        assert!(root_propagation(Some("bogus")).is_err());
        assert_eq!(
            root_propagation(None).unwrap(),
            MsFlags::MS_SLAVE | MsFlags::MS_REC
        );
    }
}
