//! Resolving a path from config.json inside the rootfs as the container
//! would see it: symlinks are followed relative to the rootfs, and `..`
//! never climbs above it. A mount destination can therefore never land
//! outside the container's root, whatever symlinks the image holds.

use std::ffi::OsString;
use std::fs;
use std::io;
use std::path::{Component, Path, PathBuf};

const MAX_LINKS: usize = 255;

/// `root` joined with `path`, with every symlink resolved inside `root`.
/// Components that do not exist yet are kept as they are.
pub fn resolve_in_root(root: &Path, path: &Path) -> io::Result<PathBuf> {
    let mut todo: Vec<OsString> = components(path);
    todo.reverse();
    let mut done: Vec<OsString> = Vec::new();
    let mut links = 0;
    while let Some(c) = todo.pop() {
        if c == ".." {
            done.pop();
            continue;
        }
        let candidate = done
            .iter()
            .fold(root.to_path_buf(), |p, c| p.join(c))
            .join(&c);
        match fs::symlink_metadata(&candidate) {
            Ok(m) if m.file_type().is_symlink() => {
                links += 1;
                if links > MAX_LINKS {
                    return Err(io::Error::other(format!(
                        "too many symlinks resolving {}",
                        path.display()
                    )));
                }
                let target = fs::read_link(&candidate)?;
                if target.is_absolute() {
                    done.clear();
                }
                let mut more = components(&target);
                more.reverse();
                todo.extend(more);
            }
            _ => done.push(c),
        }
    }
    Ok(done.iter().fold(root.to_path_buf(), |p, c| p.join(c)))
}

fn components(path: &Path) -> Vec<OsString> {
    path.components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_os_string()),
            Component::ParentDir => Some(OsString::from("..")),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("rt-resolve-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn plain_and_dotdot_stay_inside() {
        let r = tmp("plain");
        assert_eq!(
            resolve_in_root(&r, Path::new("/a/b")).unwrap(),
            r.join("a/b")
        );
        assert_eq!(
            resolve_in_root(&r, Path::new("/../../etc")).unwrap(),
            r.join("etc")
        );
        fs::remove_dir_all(&r).unwrap();
    }

    #[test]
    fn absolute_and_relative_symlinks_are_rooted() {
        let r = tmp("links");
        fs::create_dir_all(r.join("real")).unwrap();
        symlink("/etc", r.join("abs")).unwrap();
        symlink("../../../real", r.join("rel")).unwrap();
        symlink("/abs/x", r.join("chain")).unwrap();
        assert_eq!(
            resolve_in_root(&r, Path::new("/abs/passwd")).unwrap(),
            r.join("etc/passwd")
        );
        assert_eq!(
            resolve_in_root(&r, Path::new("/rel/f")).unwrap(),
            r.join("real/f")
        );
        assert_eq!(
            resolve_in_root(&r, Path::new("/chain")).unwrap(),
            r.join("etc/x")
        );
        fs::remove_dir_all(&r).unwrap();
    }

    #[test]
    fn loops_are_an_error() {
        let r = tmp("loop");
        symlink("/b", r.join("a")).unwrap();
        symlink("/a", r.join("b")).unwrap();
        assert!(resolve_in_root(&r, Path::new("/a/x")).is_err());
        fs::remove_dir_all(&r).unwrap();
    }
}
