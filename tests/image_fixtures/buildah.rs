//! A private buildah: its own storage root, run root, temp dir, network
//! config dir, registries and signature policy, so tests never share
//! state with each other or the host's image store, and never touch a
//! registry. Dropping it removes its containers, images and directories.

use std::path::PathBuf;
use std::process::{Command, Output};

use super::support::{mounts_under, TempDir};

pub struct Buildah {
    pub dir: TempDir,
}

impl Buildah {
    pub fn new(name: &str) -> Buildah {
        let dir = TempDir::new(&format!("buildah-{name}"));
        for d in ["store", "run", "tmp", "net"] {
            std::fs::create_dir_all(dir.path(d)).unwrap();
        }
        // Without an explicit policy buildah reads /etc/containers/policy.json,
        // which a clean machine may lack.
        std::fs::write(
            dir.path("policy.json"),
            r#"{"default":[{"type":"insecureAcceptAnything"}]}"#,
        )
        .unwrap();
        // Nothing here uses a network, yet buildah sets one up: by default
        // it leaves locks in /etc/cni/net.d and /etc/containers/networks,
        // and its netavark backend a fixed /run/containers/networks. CNI
        // with a private config dir touches none of them.
        std::fs::write(
            dir.path("containers.conf"),
            format!(
                "[network]\nnetwork_backend = \"cni\"\nnetwork_config_dir = \"{}\"\n",
                dir.path("net").display()
            ),
        )
        .unwrap();
        // No short-name resolution: every name used here is fully qualified,
        // and resolution would write an alias cache under /var/cache.
        std::fs::write(
            dir.path("registries.conf"),
            "short-name-mode = \"disabled\"\n",
        )
        .unwrap();
        Buildah { dir }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new("buildah");
        c.arg("--root")
            .arg(self.dir.path("store"))
            .arg("--runroot")
            .arg(self.dir.path("run"))
            .args(["--storage-driver", "vfs"])
            .args(args)
            .env("TMPDIR", self.dir.path("tmp"))
            .env("CONTAINERS_CONF", self.dir.path("containers.conf"))
            .env(
                "CONTAINERS_REGISTRIES_CONF",
                self.dir.path("registries.conf"),
            )
            .env_remove("BUILDAH_ISOLATION")
            .env_remove("STORAGE_DRIVER");
        c
    }

    pub fn output(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run buildah")
    }

    /// Runs buildah, asserts success, returns trimmed stdout.
    pub fn run(&self, args: &[&str]) -> String {
        let o = self.output(args);
        assert!(
            o.status.success(),
            "buildah {args:?} failed: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    }

    pub fn policy(&self) -> String {
        self.dir.path("policy.json").display().to_string()
    }

    /// `buildah mount`: with vfs a plain directory inside the store.
    pub fn mount(&self, ctr: &str) -> PathBuf {
        let m = PathBuf::from(self.run(&["mount", ctr]));
        assert!(
            m.starts_with(self.dir.path("store")),
            "mount point {} outside the private store",
            m.display()
        );
        m
    }

    /// Removes every container and image; asserts none is left and nothing
    /// is mounted under the private directory.
    pub fn clean(&self) {
        self.run(&["rm", "--all"]);
        self.run(&["rmi", "--all", "--force"]);
        assert_eq!(self.run(&["containers", "--quiet", "--all"]), "");
        assert_eq!(self.run(&["images", "--quiet", "--all"]), "");
        assert!(mounts_under(&self.dir.0).is_empty());
    }
}

impl Drop for Buildah {
    fn drop(&mut self) {
        // Best effort on a failed test; the TempDir then removes the rest.
        let _ = self.output(&["rm", "--all"]);
        let _ = self.output(&["rmi", "--all", "--force"]);
    }
}
