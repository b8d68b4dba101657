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
    /// `rro`, `rnosuid`, ...: attributes for the mount and every mount
    /// below it (mount_setattr with AT_RECURSIVE), applied after mounting.
    pub recursive_attrs: super::attr::Recursive,
    /// `remount`: change the mount already at the destination.
    pub remount: bool,
    /// `tmpcopyup` (cleared again by `notmpcopyup`): fill the tmpfs with
    /// what the directory it covers holds.
    pub copy_up: bool,
    /// `copy-symlink`: a bind whose source is a symlink becomes a symlink
    /// with the same target at the destination (crun's extension).
    pub copy_symlink: bool,
    /// `X-mount.owner=`, `X-mount.group=`, `X-mount.mode=` (mount(8)):
    /// set on the mount's root after mounting.
    pub owner: Option<u32>,
    pub group: Option<u32>,
    pub mode: Option<u32>,
}

impl Default for MountOptions {
    fn default() -> Self {
        MountOptions {
            flags: MsFlags::empty(),
            cleared: MsFlags::empty(),
            propagation: Vec::new(),
            data: String::new(),
            bind: false,
            recursive: false,
            recursive_attrs: Default::default(),
            remount: false,
            copy_up: false,
            copy_symlink: false,
            owner: None,
            group: None,
            mode: None,
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("mount option {option:?} is not supported: {why}")]
pub struct UnsupportedOption {
    pub option: String,
    pub why: &'static str,
}

fn unsupported(option: &str, why: &'static str) -> UnsupportedOption {
    UnsupportedOption {
        option: option.to_string(),
        why,
    }
}

/// nix has no name for it (Linux 5.10).
const MS_NOSYMFOLLOW: MsFlags = MsFlags::from_bits_retain(libc::MS_NOSYMFOLLOW);

/// Every option name `parse` honours (for `rt features`); `X-mount.owner=`
/// and friends take a value. docs/mount-options.md says what each does and
/// which ones are refused.
pub const KNOWN: &[&str] = &[
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
    "lazytime",
    "nolazytime",
    "iversion",
    "noiversion",
    "nosymfollow",
    "symfollow",
    "silent",
    "loud",
    "remount",
    "bind",
    "rbind",
    "private",
    "rprivate",
    "shared",
    "rshared",
    "slave",
    "rslave",
    "unbindable",
    "runbindable",
    "tmpcopyup",
    "notmpcopyup",
    "copy-symlink",
    "X-mount.mkdir",
    "X-mount.owner",
    "X-mount.group",
    "X-mount.mode",
    "idmap",
    "ridmap",
];

/// Recursive forms of mount(8) options that are superblock flags:
/// mount_setattr has no per-mount attribute for them (the recursive
/// attributes it has are attr.rs's).
const RECURSIVE_SUPERBLOCK: &[&str] = &["rsync", "rasync", "rdirsync", "rmand", "rnomand"];

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
            "lazytime" => set(MsFlags::MS_LAZYTIME, &mut o),
            "nolazytime" => clear(MsFlags::MS_LAZYTIME, &mut o),
            "iversion" => set(MsFlags::MS_I_VERSION, &mut o),
            "noiversion" => clear(MsFlags::MS_I_VERSION, &mut o),
            "nosymfollow" => set(MS_NOSYMFOLLOW, &mut o),
            "symfollow" => clear(MS_NOSYMFOLLOW, &mut o),
            "silent" => set(MsFlags::MS_SILENT, &mut o),
            "loud" => clear(MsFlags::MS_SILENT, &mut o),
            "remount" => o.remount = true,
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
            "tmpcopyup" => o.copy_up = true,
            "notmpcopyup" => o.copy_up = false,
            "copy-symlink" => o.copy_symlink = true,
            // rt creates every destination that is missing anyway.
            "X-mount.mkdir" => {}
            r if super::attr::recursive_option(r).is_some() => {
                let x = super::attr::recursive_option(r).unwrap_or_default();
                let a = &mut o.recursive_attrs;
                a.set = (a.set & !x.clr) | x.set;
                a.clr = (a.clr & !x.set) | x.clr;
            }
            r if RECURSIVE_SUPERBLOCK.contains(&r) => {
                return Err(unsupported(
                    r,
                    "a superblock flag: mount_setattr cannot set it per mount, recursively or not",
                ))
            }
            // rt prepares the idmapped tree before cloning (idmap.rs); the
            // mount itself attaches it.
            "idmap" | "ridmap" => {}
            "src-nofollow" | "dest-nofollow" => {
                return Err(unsupported(
                    opt,
                    "binding a symlink itself is not implemented (copy-symlink is)",
                ))
            }
            other => {
                if let Some((key, value)) = other.split_once('=') {
                    if let Some(slot) = match key {
                        "X-mount.owner" => Some(&mut o.owner),
                        "X-mount.group" => Some(&mut o.group),
                        "X-mount.mode" => Some(&mut o.mode),
                        _ => None,
                    } {
                        *slot = Some(x_mount_value(key, value, other)?);
                        continue;
                    }
                }
                if other.starts_with("X-") {
                    return Err(unsupported(
                        other,
                        "of mount(8)'s X-* options rt honours X-mount.mkdir, X-mount.owner=, \
                         X-mount.group= and X-mount.mode=",
                    ));
                }
                // mount(8) passes x-* options to no one but the programs
                // that read fstab (x-systemd.*): they are not for the kernel.
                if other.starts_with("x-") {
                    continue;
                }
                data.push(other)
            }
        }
    }
    o.data = data.join(",");
    Ok(o)
}

/// The number of an X-mount.owner/group (numeric only: names would be
/// looked up in the host's databases, not the container's) or mode (octal).
fn x_mount_value(key: &str, value: &str, opt: &str) -> Result<u32, UnsupportedOption> {
    let parsed = if key == "X-mount.mode" {
        u32::from_str_radix(value, 8).ok().filter(|m| *m <= 0o7777)
    } else {
        value.parse().ok()
    };
    parsed.ok_or_else(|| {
        unsupported(
            opt,
            "X-mount.owner= and X-mount.group= take a number, X-mount.mode= an octal mode",
        )
    })
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
        other => {
            return Err(UnsupportedOption {
                option: other.to_string(),
                why: "rootfsPropagation is one of private, rprivate, slave, rslave, shared, \
                      rshared, unbindable, runbindable",
            })
        }
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
    fn extensions_of_runc_crun_and_mount8() {
        let o = p(&[
            "tmpcopyup",
            "nosymfollow",
            "lazytime",
            "x-systemd.automount",
            "mode=1777",
        ]);
        assert!(o.copy_up);
        assert!(o.flags.contains(MS_NOSYMFOLLOW | MsFlags::MS_LAZYTIME));
        assert_eq!(o.data, "mode=1777");
        assert!(!p(&["tmpcopyup", "notmpcopyup"]).copy_up);
        let o = p(&[
            "X-mount.mkdir",
            "X-mount.owner=1000",
            "X-mount.group=5",
            "X-mount.mode=750",
        ]);
        assert_eq!(
            (o.owner, o.group, o.mode),
            (Some(1000), Some(5), Some(0o750))
        );
        assert!(o.data.is_empty());
        assert!(p(&["remount", "ro"]).remount);
        assert!(p(&["copy-symlink"]).copy_symlink);
        for bad in [
            "X-mount.owner=root",
            "X-mount.mode=999",
            "X-mount.idmap=0:1:1",
            "X-foo",
        ] {
            assert!(parse(&[bad.to_string()]).is_err(), "{bad}");
        }
    }

    #[test]
    fn refuses_what_it_cannot_do() {
        for opt in ["rsync", "rmand", "src-nofollow", "dest-nofollow"] {
            let err = parse(&[opt.to_string()]).unwrap_err();
            assert_eq!(err.option, opt);
        }
        assert!(root_propagation(Some("bogus")).is_err());
        assert_eq!(
            root_propagation(None).unwrap(),
            MsFlags::MS_SLAVE | MsFlags::MS_REC
        );
    }
}
