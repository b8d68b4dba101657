//! A private containerd with the CRI plugin, as a node would run it but
//! with everything under one directory: config, root, state, sockets, the
//! two runtimes' state roots, the CNI configuration and IPAM store, pod log
//! and volume directories. Also the teardown that removes all of it,
//! including what a killed earlier run left.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::common::runtime::RUNC;

/// Where every run's directory lives: `<pid>` below it.
pub const BASE: &str = "/tmp/rt-cri";

/// The runtime handlers every scenario runs with, the reference first.
pub const HANDLERS: [&str; 2] = ["runc", "rt"];

/// How the node manages cgroups, as kubelet's `cgroupDriver` and the
/// runtimes' `SystemdCgroup` option say: one per test binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Driver {
    /// Pod cgroups are directories the harness makes (kubelet's cgroupfs).
    Cgroupfs,
    /// Pod cgroups are systemd slices the harness starts as kubelet's
    /// systemd driver does; the shim runs both handlers with
    /// `--systemd-cgroup` (SystemdCgroup = true), so every container is a
    /// scope in its pod's slice.
    Systemd,
}

pub struct Daemon {
    pub driver: Driver,
    pub dir: PathBuf,
    pub sock: PathBuf,
    /// The top of this run's kubepods-style cgroup tree (relative to each
    /// hierarchy's root).
    pub cgroup_base: String,
    pub bridge: String,
    pub net_name: String,
    child: Mutex<Option<Child>>,
}

/// The runtime binary a handler names: for rt the one cargo built, or
/// RT_CRI_RT (the benchmark passes the static release build).
pub fn binary(handler: &str) -> PathBuf {
    match handler {
        "rt" => std::env::var_os("RT_CRI_RT")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_rt"))),
        _ => PathBuf::from(RUNC),
    }
}

impl Daemon {
    pub fn start(driver: Driver) -> Daemon {
        clean_stale_runs();
        let pid = std::process::id();
        let dir = Path::new(BASE).join(pid.to_string());
        let _ = fs::remove_dir_all(&dir);
        for d in [
            "cni/conf",
            "cni/ipam",
            "pods",
            "rt-root",
            "runc-root",
            "opt",
        ] {
            fs::create_dir_all(dir.join(d)).expect("create daemon dirs");
        }
        let d = Daemon {
            driver,
            sock: dir.join("containerd.sock"),
            cgroup_base: format!("rtcri{pid}"),
            bridge: format!("rtcri{}", pid % 10_000_000),
            net_name: format!("rtcri-{pid}"),
            dir,
            child: Mutex::new(None),
        };
        fs::write(d.dir.join("config.toml"), d.config()).expect("write config.toml");
        fs::write(d.dir.join("cni/conf/10-rtcri.conflist"), d.cni_config())
            .expect("write CNI config");
        let log = fs::File::create(d.dir.join("containerd.log")).expect("containerd log");
        let child = Command::new("containerd")
            .arg("--config")
            .arg(d.dir.join("config.toml"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup log"))
            .stderr(log)
            .spawn()
            .expect("start containerd");
        *d.child.lock().unwrap() = Some(child);
        let end = Instant::now() + Duration::from_secs(30);
        while !d.sock.exists() {
            assert!(
                Instant::now() < end,
                "containerd did not come up:\n{}",
                d.log_tail()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        d
    }

    pub fn ctr(&self, args: &[&str]) -> std::process::Output {
        Command::new("timeout")
            .args(["-k", "10", "120", "ctr", "-a"])
            .arg(&self.sock)
            .args(["-n", "k8s.io"])
            .args(args)
            .output()
            .expect("run ctr")
    }

    pub fn log_tail(&self) -> String {
        let text = fs::read_to_string(self.dir.join("containerd.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// The state root the shim hands the handler's binary (`--root`).
    pub fn runtime_root(&self, handler: &str) -> PathBuf {
        self.dir.join(format!("{handler}-root")).join("k8s.io")
    }

    /// A BestEffort pod's cgroup parent as kubelet names it (what the CRI
    /// gets) and its cgroup path from the hierarchy root. With systemd the
    /// slice nests by its dashes, the pod uid's dashes escaped as kubelet
    /// escapes them.
    pub fn pod_cgroup(&self, uid: &str) -> (String, String) {
        match self.driver {
            Driver::Cgroupfs => {
                let p = format!("/{}/kubepods/besteffort/pod{uid}", self.cgroup_base);
                (p.clone(), p)
            }
            Driver::Systemd => {
                let slice = format!(
                    "{}-kubepods-besteffort-pod{}.slice",
                    self.cgroup_base,
                    uid.replace('-', "_")
                );
                let path = rt::cgroups::systemd::expand_slice(&slice);
                (slice, path.to_string_lossy().into_owned())
            }
        }
    }

    /// What kubelet does before RunPodSandbox: the pod's cgroup directory,
    /// or its slice started as a transient unit (kubelet's systemd driver
    /// calls StartTransientUnit with Wants= on the parent slice).
    pub fn create_pod_cgroup(&self, parent: &str, path: &str) {
        match self.driver {
            Driver::Cgroupfs => super::leftovers::create_pod_cgroup(path),
            Driver::Systemd => {
                let up = parent.rsplit_once('-').map(|(a, _)| a).unwrap_or("-");
                let o = Command::new("busctl")
                    .args([
                        "call",
                        "org.freedesktop.systemd1",
                        "/org/freedesktop/systemd1",
                        "org.freedesktop.systemd1.Manager",
                        "StartTransientUnit",
                        "ssa(sv)a(sa(sv))",
                        parent,
                        "replace",
                        "5",
                        "Description",
                        "s",
                        "kubelet-style pod slice (rt CRI tests)",
                        "Wants",
                        "as",
                        "1",
                        &format!("{up}.slice"),
                        "DefaultDependencies",
                        "b",
                        "false",
                        "MemoryAccounting",
                        "b",
                        "true",
                        "CPUAccounting",
                        "b",
                        "true",
                        "0",
                    ])
                    .output()
                    .expect("busctl");
                assert!(o.status.success(), "start {parent}: {o:?}");
                let end = Instant::now() + Duration::from_secs(30);
                while unit_prop(parent, "ActiveState") != "active" {
                    assert!(Instant::now() < end, "{parent} did not start");
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        }
    }

    /// What kubelet does after RemovePodSandbox: remove the pod's cgroup
    /// (stop its slice), killing anything a failed scenario left in it.
    pub fn remove_pod_cgroup(&self, parent: &str, path: &str) {
        if self.driver == Driver::Systemd {
            stop_unit(parent);
        }
        super::leftovers::remove_cgroup_tree(path);
    }

    pub fn ipam_dir(&self) -> PathBuf {
        self.dir.join("cni/ipam").join(&self.net_name)
    }

    fn config(&self) -> String {
        let d = self.dir.display();
        let mut runtimes = String::new();
        for h in HANDLERS {
            runtimes.push_str(&format!(
                "    [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.{h}]\n\
                 \x20     runtime_type = \"io.containerd.runc.v2\"\n\
                 \x20     [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.{h}.options]\n\
                 \x20       BinaryName = \"{bin}\"\n\
                 \x20       Root = \"{d}/{h}-root\"\n\
                 \x20       SystemdCgroup = {systemd}\n",
                bin = binary(h).display(),
                systemd = self.driver == Driver::Systemd,
            ));
        }
        format!(
            r#"version = 2
root = "{d}/root"
state = "{d}/state"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = "{d}/containerd.sock"
[ttrpc]
  address = "{d}/containerd.sock.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "{d}/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{pause}"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  disable_apparmor = true
  # Lowering oom_score_adj needs CAP_SYS_RESOURCE, which this sandbox's
  # bounding set lacks: clamp to containerd's own (as for rootless nodes).
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  stats_collect_period = 1
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "{d}/cni/conf"
    max_conf_num = 1
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes]
{runtimes}"#,
            pause = super::image::PAUSE,
        )
    }

    /// bridge + host-local on a private subnet; the host gets no address on
    /// the bridge and pods no default route, so nothing leaves the machine
    /// (containerd adds the loopback plugin itself).
    fn cni_config(&self) -> String {
        serde_json::json!({
            "cniVersion": "1.0.0",
            "name": self.net_name,
            "plugins": [{
                "type": "bridge",
                "bridge": self.bridge,
                "isGateway": false,
                "ipMasq": false,
                "hairpinMode": false,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": "10.254.0.0/24"}]],
                    "dataDir": self.dir.join("cni/ipam"),
                },
            }],
        })
        .to_string()
    }

    /// Stop containerd and remove everything it and its shims made.
    pub fn shutdown(&self) {
        if let Ok(mut guard) = self.child.lock() {
            if let Some(mut child) = guard.take() {
                // SAFETY: signalling the daemon this harness started.
                unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
                let end = Instant::now() + Duration::from_secs(10);
                while matches!(child.try_wait(), Ok(None)) && Instant::now() < end {
                    std::thread::sleep(Duration::from_millis(20));
                }
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        clean_dir(&self.dir, &self.cgroup_base, &self.bridge);
    }
}

/// Remove what a run left in `dir`: its shims, the containers in both
/// runtimes' roots, mounts, the cgroup tree, the bridge, the directory.
fn clean_dir(dir: &Path, cgroup_base: &str, bridge: &str) {
    let sock = dir.join("containerd.sock");
    for pid in shims_of(&sock) {
        let id = shim_id(pid);
        // SAFETY: killing the shims of our own private containerd.
        unsafe { libc::kill(pid, libc::SIGKILL) };
        // A killed shim cannot remove its socket.
        if let Some(id) = id {
            let _ = fs::remove_file(shim_socket(&sock, &id));
        }
    }
    for h in HANDLERS {
        let root = dir.join(format!("{h}-root")).join("k8s.io");
        for e in fs::read_dir(&root).into_iter().flatten().flatten() {
            let _ = Command::new(binary(h))
                .arg("--root")
                .arg(&root)
                .args(["delete", "--force"])
                .arg(e.file_name())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
    // Under systemd the run's slices (one tree, named after it) go first.
    if Path::new("/run/systemd/system").is_dir() {
        stop_unit(&format!("{cgroup_base}.slice"));
    }
    super::leftovers::remove_cgroup_tree(cgroup_base);
    let mut mounts = super::leftovers::mount_points_under(dir);
    mounts.sort_by_key(|m| std::cmp::Reverse(m.len()));
    for m in mounts {
        let _ = Command::new("umount").args(["-l", &m]).status();
    }
    let _ = Command::new("ip")
        .args(["link", "del", bridge])
        .stderr(Stdio::null())
        .status();
    let mine = format!("{}/", dir.display());
    remove_cni_cache(|text| text.contains(&mine));
    // Made by libcni for us; only removed when nobody else's entries are in.
    let _ = fs::remove_dir(CNI_CACHE);
    let _ = fs::remove_dir("/var/lib/cni");
    let _ = fs::remove_dir_all(dir);
}

/// One property of a systemd unit (`systemctl show -p`).
pub fn unit_prop(unit: &str, prop: &str) -> String {
    let o = Command::new("systemctl")
        .args(["show", "--value", "-p", prop, unit])
        .output()
        .expect("systemctl");
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

/// Stop a unit (a slice: everything in it) and forget it if it failed.
pub fn stop_unit(unit: &str) {
    for verb in ["stop", "reset-failed"] {
        let _ = Command::new("systemctl")
            .args([verb, unit])
            .stderr(Stdio::null())
            .status();
    }
}

/// libcni caches every ADD in /var/lib/cni/results (containerd 1.6 has no
/// setting to move it) until the DEL; a run that never tore its pods down
/// leaves entries. Remove those whose text `matches`.
pub const CNI_CACHE: &str = "/var/lib/cni/results";

fn remove_cni_cache(matches: impl Fn(&str) -> bool) {
    for e in fs::read_dir(CNI_CACHE).into_iter().flatten().flatten() {
        if fs::read_to_string(e.path()).is_ok_and(|t| matches(&t)) {
            let _ = fs::remove_file(e.path());
        }
    }
}

/// The `-id` a shim was started with (its sandbox's id).
fn shim_id(pid: i32) -> Option<String> {
    let cmd = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let args: Vec<&[u8]> = cmd.split(|b| *b == 0).collect();
    let i = args.iter().position(|a| *a == b"-id")?;
    args.get(i + 1)
        .map(|a| String::from_utf8_lossy(a).into_owned())
}

/// Where containerd 1.6 puts a shim's socket: /run/containerd/s/ and the
/// sha256 of "<daemon address>/<namespace>/<shim id>".
pub fn shim_socket(sock: &Path, id: &str) -> PathBuf {
    let key = format!("{}/k8s.io/{id}", sock.display());
    Path::new("/run/containerd/s").join(super::sha256_hex(key.as_bytes()))
}

/// Pids of containerd-shim-runc-v2 processes serving the daemon at `sock`.
pub fn shims_of(sock: &Path) -> Vec<i32> {
    let want = sock.to_string_lossy().into_owned();
    let mut out = Vec::new();
    for e in fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let cmd = fs::read(e.path().join("cmdline")).unwrap_or_default();
        let args: Vec<String> = cmd
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        let is_shim = args
            .first()
            .is_some_and(|a| a.ends_with("containerd-shim-runc-v2"));
        if is_shim && args.contains(&want) {
            out.push(pid);
        }
    }
    out
}

/// Runs killed before they could tear down (SIGKILL, a CI timeout) leave a
/// directory named after their pid: clean those whose process is gone.
fn clean_stale_runs() {
    remove_cni_cache(|text| {
        let Some(rest) = text.split(&format!("{BASE}/")).nth(1) else {
            return false;
        };
        let pid: String = rest.chars().take_while(char::is_ascii_digit).collect();
        !pid.is_empty() && !Path::new(&format!("/proc/{pid}")).exists()
    });
    // A dead run's containerd may have outlived it (even its directory).
    for p in fs::read_dir("/proc").into_iter().flatten().flatten() {
        let cmd = fs::read(p.path().join("cmdline")).unwrap_or_default();
        let args: Vec<String> = cmd
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        if !args.first().is_some_and(|a| a.ends_with("containerd")) {
            continue;
        }
        let owner = args
            .iter()
            .find_map(|a| a.strip_prefix(&format!("{BASE}/")))
            .and_then(|rest| rest.split('/').next())
            .and_then(|pid| pid.parse::<u32>().ok());
        let Some(owner) = owner else { continue };
        if Path::new(&format!("/proc/{owner}")).exists() {
            continue;
        }
        if let Some(pid) = p.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) {
            // SAFETY: killing the orphaned daemon of a dead run.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
    for e in fs::read_dir(BASE).into_iter().flatten().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        if Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        eprintln!("note: cleaning up a dead CRI run in {}", e.path().display());
        clean_dir(
            &e.path(),
            &format!("rtcri{pid}"),
            &format!("rtcri{}", pid % 10_000_000),
        );
    }
}
