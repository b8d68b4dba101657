//! Real clients drive rt in runc's place: podman (through conmon) runs,
//! limits, execs into, stops and removes containers, and gives one a
//! terminal through the console socket; containerd's runc shim (ctr run
//! --runc-binary) runs, execs into, kills and deletes tasks.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::Case;

/// `timeout`'s arguments for every client call: 60 s, then SIGKILL 10 s
/// later, since `podman run` and `ctr run` pass SIGTERM on to the
/// container and keep waiting.
const LIMIT: &[&str] = &["-k", "10", "60"];

struct Podman {
    dir: PathBuf,
    image: String,
}

impl Podman {
    /// A private podman: its own storage, run root, temporary dir and config,
    /// cgroupfs (no systemd here), no network, and no default ulimits (its
    /// default nofile of 1048576 is above what this sandbox lets root set).
    /// Locks are files in the private temporary dir: podman's default shm
    /// locks live in one /dev/shm segment shared by every podman on the
    /// host, and the first podman after boot frees all of them, so parallel
    /// tests with separate roots could end up sharing a lock.
    fn new(c: &Case) -> Option<Podman> {
        if !c.is_rt() || !Path::new("/usr/bin/podman").exists() {
            eprintln!("note: podman tests need rt and podman (tests/setup.sh installs it)");
            return None;
        }
        common::fixtures::probe();
        let dir = c.dir.join("podman");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("containers.conf"),
            format!(
                "[containers]\ndefault_ulimits = []\n[engine]\nlock_type = \"file\"\ntmp_dir = \"{}\"\n",
                dir.join("tmp").display()
            ),
        )
        .unwrap();
        let img = dir.join("image");
        let out = Command::new("bash")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("rootfs-fixtures/make-image.sh"))
            .arg(&img)
            .output()
            .unwrap();
        assert!(out.status.success(), "make-image.sh: {out:?}");
        Some(Podman {
            image: format!("oci:{}:latest", img.display()),
            dir,
        })
    }

    /// podman's argv up to the subcommand: every private location and rt.
    fn base(&self) -> Vec<String> {
        let mut v = vec!["podman".to_string()];
        for (flag, sub) in [("--root", "root"), ("--runroot", "runroot")] {
            v.push(flag.into());
            v.push(self.dir.join(sub).display().to_string());
        }
        for a in [
            "--storage-driver",
            "vfs",
            "--cgroup-manager",
            "cgroupfs",
            "--events-backend",
            "file",
            "--runtime",
            env!("CARGO_BIN_EXE_rt"),
        ] {
            v.push(a.into());
        }
        v
    }

    fn cmd(&self, args: &[&str]) -> Output {
        Command::new("timeout")
            .env("CONTAINERS_CONF", self.dir.join("containers.conf"))
            .args(LIMIT)
            .args(self.base())
            .args(args)
            .output()
            .expect("run podman")
    }

    /// What a hung or failed podman test needs to be understood.
    fn diagnose(&self) -> String {
        let ps = self.cmd(&["ps", "-a"]);
        let tree = Command::new("ps")
            .args(["-eo", "pid,ppid,stat,wchan:20,args", "--forest"])
            .output()
            .unwrap();
        let tree: String = stdout(&tree)
            .lines()
            .filter(|l| l.contains("podman") || l.contains("conmon") || l.contains("/rt"))
            .map(|l| format!("{l}\n"))
            .collect();
        format!(
            "podman ps -a:\n{}{}\nprocesses:\n{tree}",
            stdout(&ps),
            String::from_utf8_lossy(&ps.stderr)
        )
    }

    fn run(&self, extra: &[&str], command: &[&str]) -> Output {
        let mut args = vec![
            "run",
            "--network",
            "none",
            "--ulimit",
            "nofile=1024:1024",
            "--ulimit",
            "nproc=1024:1024",
        ];
        args.extend_from_slice(extra);
        args.push(&self.image);
        args.extend_from_slice(command);
        self.cmd(&args)
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        let _ = self.cmd(&["rm", "--all", "--force"]);
        let _ = self.cmd(&["rmi", "--all", "--force"]);
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn podman_runs_limits_execs_and_stops() {
    let c = Case::new("podman");
    let Some(p) = Podman::new(&c) else { return };
    let limit = "if [ -f /sys/fs/cgroup/memory.max ]; then cat /sys/fs/cgroup/memory.max; \
                 else cat /sys/fs/cgroup/memory/memory.limit_in_bytes; fi; exit 3";
    let o = p.run(&["--rm", "--memory", "64m"], &["sh", "-c", limit]);
    assert_eq!(o.status.code(), Some(3), "{o:?}");
    assert_eq!(stdout(&o).trim(), "67108864", "{o:?}");

    let o = p.run(&["-d", "--name", "pd"], &["sleep", "100"]);
    assert!(o.status.success(), "{o:?}");
    let o = p.cmd(&["exec", "pd", "/probe", "pid"]);
    assert!(o.status.success(), "{o:?}");
    assert!(stdout(&o).contains("\"pid\":"), "{o:?}");
    let o = p.cmd(&["exec", "pd", "sh", "-c", "exit 5"]);
    assert_eq!(o.status.code(), Some(5), "{o:?}");
    let o = p.cmd(&["stop", "-t", "1", "pd"]);
    assert!(o.status.success(), "{o:?}");
    let o = p.cmd(&["inspect", "--format", "{{.State.Status}}", "pd"]);
    assert_eq!(stdout(&o).trim(), "exited", "{o:?}");
    let o = p.cmd(&["rm", "pd"]);
    assert!(o.status.success(), "{o:?}");
}

#[test]
fn podman_terminal_through_conmon() {
    let c = Case::new("podman-tty");
    let Some(p) = Podman::new(&c) else { return };
    // Pulled first so that the terminal run below is only the run.
    let o = p.cmd(&["pull", &p.image]);
    assert!(o.status.success(), "{o:?}");
    // conmon hands rt a console socket; script(1) gives podman a terminal.
    // script runs the command with $SHELL -c; a shell that forks instead of
    // exec'ing (dash, what CI has) leaves timeout free to move itself and
    // podman into a background process group, where podman's switch of the
    // terminal to raw mode stops it with SIGTTOU for good. So the shell is
    // pinned, exec'd away, and timeout told to stay in the foreground.
    let mut argv: Vec<String> = ["exec", "timeout", "--foreground"]
        .iter()
        .chain(LIMIT)
        .map(|s| s.to_string())
        .collect();
    argv.extend(p.base());
    argv.extend(
        [
            "run",
            "--rm",
            "-t",
            "--network",
            "none",
            "--ulimit",
            "nofile=1024:1024",
            "--ulimit",
            "nproc=1024:1024",
            &p.image,
            "/probe",
            "tty",
        ]
        .map(String::from),
    );
    let o = Command::new("script")
        .env("CONTAINERS_CONF", p.dir.join("containers.conf"))
        .env("SHELL", "/bin/sh")
        .args(["-qec", &argv.join(" "), "/dev/null"])
        .output()
        .unwrap();
    let text = stdout(&o).replace('\r', "");
    if !text.contains("\"0\":true,\"1\":true,\"2\":true") {
        panic!(
            "the container sees a terminal: {text}\n{:?}\n{}",
            o.status,
            p.diagnose()
        );
    }
}

/// podman's tmpfs mounts come with tmpcopyup: --tmpfs adds it to each
/// one, and --read-only puts such tmpfs on /run, /tmp and /var/tmp. Each
/// starts with what the image held there, keeping owners, modes and
/// symlinks, and takes writes the read-only root refuses (rt refused
/// tmpcopyup before: `mount option "tmpcopyup" is not supported`).
#[test]
fn podman_read_only_with_tmpfs_copy_up() {
    let c = Case::new("podman-copyup");
    let Some(p) = Podman::new(&c) else { return };
    // /bin on a tmpfs too: the shell runs only if busybox and its applet
    // symlinks were copied whole.
    let script = "readlink /bin/sh; stat -c '%a %u %g' /etc/passwd; \
                  grep -q tester: /etc/passwd && touch /etc/new /tmp/new /run/new /var/tmp/new \
                  && echo written; touch /new 2>/dev/null && echo root-writable; true";
    let o = p.run(
        &[
            "--rm",
            "--read-only",
            "--tmpfs",
            "/etc",
            "--tmpfs",
            "/bin:exec",
        ],
        &["/bin/sh", "-c", script],
    );
    assert!(o.status.success(), "{o:?}\n{}", p.diagnose());
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines, ["busybox", "644 0 0", "written"], "{o:?}");
}

/// A private containerd daemon (its own root, state and socket under the
/// test directory), stopped with everything it started when dropped.
struct Containerd {
    dir: PathBuf,
    daemon: std::process::Child,
}

impl Containerd {
    fn start(c: &Case) -> Option<Containerd> {
        if !c.is_rt() || !Path::new("/usr/bin/containerd").exists() {
            eprintln!("note: containerd tests need rt and containerd (tests/setup.sh installs it)");
            return None;
        }
        let dir = c.dir.join("containerd");
        std::fs::create_dir_all(&dir).unwrap();
        let config = format!(
            "version = 2\nroot = \"{d}/root\"\nstate = \"{d}/state\"\n[grpc]\n  address = \"{d}/sock\"\n",
            d = dir.display()
        );
        std::fs::write(dir.join("config.toml"), config).unwrap();
        let daemon = Command::new("containerd")
            .arg("--config")
            .arg(dir.join("config.toml"))
            .stdout(std::fs::File::create(dir.join("log")).unwrap())
            .stderr(std::fs::File::create(dir.join("log.err")).unwrap())
            .spawn()
            .expect("start containerd");
        let d = Containerd { dir, daemon };
        let end = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while !d.ctr(&["version"]).status.success() {
            assert!(
                std::time::Instant::now() < end,
                "containerd did not come up"
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        Some(d)
    }

    fn ctr(&self, args: &[&str]) -> Output {
        Command::new("timeout")
            .args(LIMIT)
            .arg("ctr")
            .arg("-a")
            .arg(self.dir.join("sock"))
            .args(args)
            .output()
            .expect("run ctr")
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
        // Shims outlive the daemon; ours name our socket.
        let _ = Command::new("pkill")
            .arg("-f")
            .arg(format!("containerd-shim.*{}", self.dir.display()))
            .status();
        for m in common::leftovers::mounts_under(&self.dir) {
            let _ = Command::new("umount").arg("-l").arg(m).status();
        }
    }
}

#[test]
fn containerd_shim_runs_rt_as_its_runc() {
    let c = Case::new("containerd");
    let Some(p) = Podman::new(&c) else { return };
    let Some(d) = Containerd::start(&c) else {
        return;
    };
    // ctr imports an OCI layout packed as a tar.
    let archive = c.dir.join("image.tar");
    let layout = p
        .image
        .trim_start_matches("oci:")
        .trim_end_matches(":latest");
    let st = Command::new("tar")
        .arg("-C")
        .arg(layout)
        .arg("-cf")
        .arg(&archive)
        .arg(".")
        .status()
        .unwrap();
    assert!(st.success());
    let o = d.ctr(&[
        "images",
        "import",
        "--index-name",
        "sample:latest",
        archive.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{o:?}");
    let rt = env!("CARGO_BIN_EXE_rt");
    let o = d.ctr(&[
        "run",
        "--rm",
        "--runc-binary",
        rt,
        "sample:latest",
        "c1",
        "/probe",
        "ids",
    ]);
    assert!(o.status.success(), "{o:?}");
    assert!(stdout(&o).contains("\"uid\":0"), "{o:?}");
    let o = d.ctr(&[
        "run",
        "--rm",
        "--runc-binary",
        rt,
        "sample:latest",
        "c2",
        "sh",
        "-c",
        "exit 4",
    ]);
    assert_eq!(o.status.code(), Some(4), "{o:?}");

    let o = d.ctr(&[
        "run",
        "-d",
        "--runc-binary",
        rt,
        "sample:latest",
        "c3",
        "sleep",
        "100",
    ]);
    assert!(o.status.success(), "{o:?}");
    let o = d.ctr(&[
        "task",
        "exec",
        "--exec-id",
        "e1",
        "c3",
        "sh",
        "-c",
        "exit 6",
    ]);
    assert_eq!(o.status.code(), Some(6), "{o:?}");
    let o = d.ctr(&["task", "kill", "-s", "KILL", "c3"]);
    assert!(o.status.success(), "{o:?}");
    let end = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !stdout(&d.ctr(&["task", "ls"])).contains("STOPPED") {
        assert!(std::time::Instant::now() < end, "task never stopped");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let o = d.ctr(&["task", "delete", "c3"]);
    assert!(o.status.success(), "{o:?}");
    let o = d.ctr(&["container", "delete", "c3"]);
    assert!(o.status.success(), "{o:?}");
}
