//! A private podman: its own storage, run root, temp dir, configuration,
//! registries and signature policy, no systemd, no network, no registry.
//! Images come in from a local OCI layout (`oci:` transport). Dropping it
//! removes its images and directories.

use std::process::{Command, Output};

use super::support::TempDir;

pub struct Podman {
    pub dir: TempDir,
}

impl Podman {
    pub fn new(name: &str) -> Podman {
        let dir = TempDir::new(&format!("podman-{name}"));
        for d in ["store", "run", "tmp", "net"] {
            std::fs::create_dir_all(dir.path(d)).unwrap();
        }
        std::fs::write(
            dir.path("policy.json"),
            r#"{"default":[{"type":"insecureAcceptAnything"}]}"#,
        )
        .unwrap();
        std::fs::write(
            dir.path("containers.conf"),
            format!(
                "[engine]\ncgroup_manager = \"cgroupfs\"\nevents_logger = \"file\"\n\
                 events_logfile_path = \"{}\"\n\
                 [network]\nnetwork_backend = \"cni\"\nnetwork_config_dir = \"{}\"\n",
                dir.path("events.log").display(),
                dir.path("net").display()
            ),
        )
        .unwrap();
        std::fs::write(
            dir.path("registries.conf"),
            "short-name-mode = \"disabled\"\n",
        )
        .unwrap();
        Podman { dir }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new("podman");
        c.arg("--root")
            .arg(self.dir.path("store"))
            .arg("--runroot")
            .arg(self.dir.path("run"))
            .arg("--tmpdir")
            .arg(self.dir.path("tmp"))
            .args(["--storage-driver", "vfs"])
            .args(args)
            .env("TMPDIR", self.dir.path("tmp"))
            .env("CONTAINERS_CONF", self.dir.path("containers.conf"))
            .env(
                "CONTAINERS_REGISTRIES_CONF",
                self.dir.path("registries.conf"),
            )
            .env("CONTAINERS_POLICY", self.dir.path("policy.json"))
            .env_remove("STORAGE_DRIVER");
        c
    }

    pub fn output(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run podman")
    }

    pub fn run(&self, args: &[&str]) -> String {
        let o = self.output(args);
        assert!(
            o.status.success(),
            "podman {args:?} failed: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    }

    pub fn policy(&self) -> String {
        self.dir.path("policy.json").display().to_string()
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        let _ = self.output(&["rmi", "--all", "--force"]);
    }
}
