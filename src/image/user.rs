//! The image config's `User` in all its forms (`uid`, `uid:gid`, `name`,
//! `name:group`, ...), resolved against the rootfs's own /etc/passwd and
//! /etc/group, read through `openat2(RESOLVE_IN_ROOT)` so a symlinked
//! /etc/passwd can only point at another file inside the image.

use std::io::Read;
use std::os::fd::RawFd;

use super::fsops;
use super::Error;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Passwd {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub name: String,
    pub gid: u32,
    pub members: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecUser {
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    pub home: String,
}

/// Files bigger than this are not account databases; refuse to slurp them.
const MAX_DB: u64 = 16 << 20;

pub fn parse_passwd(text: &[u8]) -> Vec<Passwd> {
    let text = String::from_utf8_lossy(text);
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            if f.len() < 4 {
                return None;
            }
            Some(Passwd {
                name: f[0].to_string(),
                uid: f[2].parse().ok()?,
                gid: f[3].parse().ok()?,
                home: f.get(5).map(|s| s.to_string()).unwrap_or_default(),
            })
        })
        .collect()
}

pub fn parse_group(text: &[u8]) -> Vec<Group> {
    let text = String::from_utf8_lossy(text);
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            if f.len() < 3 {
                return None;
            }
            Some(Group {
                name: f[0].to_string(),
                gid: f[2].parse().ok()?,
                members: f
                    .get(3)
                    .map(|m| {
                        m.split(',')
                            .filter(|s| !s.is_empty())
                            .map(|s| s.trim().to_string())
                            .collect()
                    })
                    .unwrap_or_default(),
            })
        })
        .collect()
}

/// Splits `user[:group]`.
pub fn split_spec(spec: &str) -> (&str, Option<&str>) {
    match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    }
}

/// Resolves the image's User the way runc and umoci do: numeric ids need
/// no database entry, names must exist, supplementary groups come from
/// /etc/group membership when no group was given.
pub fn resolve(spec: &str, passwd: &[Passwd], groups: &[Group]) -> Result<ExecUser, Error> {
    let (u, g) = split_spec(spec.trim());
    let mut out = ExecUser {
        uid: 0,
        gid: 0,
        additional_gids: Vec::new(),
        home: "/".into(),
    };
    let mut name: Option<&str> = None;
    let entry = if u.is_empty() {
        passwd.iter().find(|p| p.uid == 0)
    } else if let Ok(uid) = u.parse::<u32>() {
        out.uid = uid;
        passwd.iter().find(|p| p.uid == uid)
    } else {
        let p = passwd.iter().find(|p| p.name == u).ok_or_else(|| {
            Error::User(format!("user {u:?} not found in the image's /etc/passwd"))
        })?;
        Some(p)
    };
    if let Some(p) = entry {
        out.uid = p.uid;
        out.gid = p.gid;
        if !p.home.is_empty() {
            out.home = p.home.clone();
        }
        name = Some(&p.name);
    }
    match g {
        Some("") => return Err(Error::User(format!("user {spec:?} has an empty group"))),
        Some(g) => {
            out.gid = match g.parse::<u32>() {
                Ok(gid) => gid,
                Err(_) => groups
                    .iter()
                    .find(|x| x.name == g)
                    .map(|x| x.gid)
                    .ok_or_else(|| {
                        Error::User(format!("group {g:?} not found in the image's /etc/group"))
                    })?,
            };
        }
        None => {
            if let Some(n) = name {
                for grp in groups.iter().filter(|x| x.members.iter().any(|m| m == n)) {
                    if !out.additional_gids.contains(&grp.gid) {
                        out.additional_gids.push(grp.gid);
                    }
                }
            }
        }
    }
    Ok(out)
}

/// Reads a small file inside the rootfs; a missing file is `None`.
pub fn read_in_root(root: RawFd, path: &str) -> Result<Option<Vec<u8>>, Error> {
    let fd = match fsops::open_in_root(root, path.as_bytes(), libc::O_RDONLY | libc::O_NONBLOCK) {
        Ok(fd) => fd,
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT) | Some(libc::ENOTDIR)) => {
            return Ok(None)
        }
        Err(e) => return Err(Error::io(format!("open {path} in the rootfs"), e)),
    };
    let f = std::fs::File::from(fd);
    let md = f
        .metadata()
        .map_err(|e| Error::io(format!("stat {path}"), e))?;
    if !md.is_file() {
        return Err(Error::User(format!(
            "{path} in the rootfs is not a regular file"
        )));
    }
    let mut buf = Vec::new();
    f.take(MAX_DB)
        .read_to_end(&mut buf)
        .map_err(|e| Error::io(format!("read {path} in the rootfs"), e))?;
    Ok(Some(buf))
}

pub fn resolve_in_root(spec: &str, root: RawFd) -> Result<ExecUser, Error> {
    let passwd = read_in_root(root, "etc/passwd")?
        .map(|b| parse_passwd(&b))
        .unwrap_or_default();
    let groups = read_in_root(root, "etc/group")?
        .map(|b| parse_group(&b))
        .unwrap_or_default();
    resolve(spec, &passwd, &groups)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &[u8] = b"root:x:0:0:root:/root:/bin/sh\n\
        # comment\n\
        daemon:x:1:1::/usr/sbin:/usr/sbin/nologin\n\
        alice:x:1000:1000:Alice:/home/alice:/bin/sh\n\
        broken line\n\
        bob:x:1001:100::/home/bob:/bin/sh\n";
    const GROUP: &[u8] =
        b"root:x:0:\nusers:x:100:alice\nwheel:x:10:alice,bob\nalice:x:1000:\nstaff:x:50:\n";

    fn r(s: &str) -> Result<ExecUser, Error> {
        resolve(s, &parse_passwd(PASSWD), &parse_group(GROUP))
    }

    #[test]
    fn parses_databases() {
        let p = parse_passwd(PASSWD);
        assert_eq!(p.len(), 4);
        assert_eq!(p[2].home, "/home/alice");
        let g = parse_group(GROUP);
        assert_eq!(g[2].members, ["alice", "bob"]);
        assert!(g[0].members.is_empty());
    }

    #[test]
    fn every_user_form() {
        let e = r("").unwrap();
        assert_eq!((e.uid, e.gid, e.home.as_str()), (0, 0, "/root"));
        let e = r("alice").unwrap();
        assert_eq!((e.uid, e.gid, e.home.as_str()), (1000, 1000, "/home/alice"));
        assert_eq!(e.additional_gids, [100, 10]);
        let e = r("1001").unwrap();
        assert_eq!((e.uid, e.gid), (1001, 100));
        assert_eq!(e.additional_gids, [10]);
        let e = r("4242").unwrap();
        assert_eq!((e.uid, e.gid, e.home.as_str()), (4242, 0, "/"));
        let e = r("4242:77").unwrap();
        assert_eq!((e.uid, e.gid), (4242, 77));
        assert!(e.additional_gids.is_empty());
        let e = r("alice:staff").unwrap();
        assert_eq!((e.uid, e.gid), (1000, 50));
        assert!(e.additional_gids.is_empty());
        let e = r("bob:0").unwrap();
        assert_eq!((e.uid, e.gid), (1001, 0));
        let e = r("1000:wheel").unwrap();
        assert_eq!((e.uid, e.gid), (1000, 10));
    }

    #[test]
    fn unknown_names_are_errors() {
        assert!(r("mallory").is_err());
        assert!(r("alice:nogroup").is_err());
        assert!(r("alice:").is_err());
        assert!(resolve("alice", &[], &[]).is_err());
        assert!(resolve("12:34", &[], &[]).is_ok());
    }
}
