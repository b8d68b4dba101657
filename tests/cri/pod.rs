//! Pods and containers configured as kubelet configures them (v1.26-ish,
//! cgroupfs driver): a kubepods-style cgroup parent created beforehand,
//! BestEffort resources with a hugetlb limit of 0 for every page size the
//! node has, seccomp Unconfined unless asked, kubelet's default masked and
//! read-only paths, its /etc/hosts and /dev/termination-log mounts, the
//! labels kubelet sets, and its teardown order (StopContainer each,
//! StopPodSandbox, RemoveContainer each, RemovePodSandbox).

use std::collections::HashMap;
use std::fs;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use k8s_cri::v1::*;

use super::image::IMAGE;
use super::{leftovers, Harness};

/// The environment variable every container of a pod carries, to find its
/// processes afterwards.
pub const MARKER: &str = "RT_CRI_POD";

pub const DEFAULT_MASKED: &[&str] = &[
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
];
pub const DEFAULT_READONLY: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

// CRI enum values.
pub const NS_POD: i32 = 0;
pub const NS_CONTAINER: i32 = 1;
pub const NS_NODE: i32 = 2;
pub const RUNTIME_DEFAULT: i32 = 0;
pub const UNCONFINED: i32 = 1;
pub const CREATED: i32 = 0;
pub const RUNNING: i32 = 1;
pub const EXITED: i32 = 2;

#[derive(Default, Clone)]
pub struct PodOpts {
    pub host_network: bool,
    pub host_pid: bool,
    pub host_ipc: bool,
    /// shareProcessNamespace: containers join the sandbox's pid namespace.
    pub share_pid: bool,
    pub sysctls: Vec<(&'static str, &'static str)>,
    /// Some container of the pod is privileged (kubelet then marks the
    /// sandbox privileged too).
    pub privileged: bool,
    /// A cgroup parent other than the kubepods one (not created here).
    pub cgroup_parent: Option<String>,
}

pub struct Pod<'h> {
    pub h: &'h Harness,
    pub handler: &'static str,
    pub name: String,
    pub uid: String,
    pub opts: PodOpts,
    pub config: PodSandboxConfig,
    pub id: String,
    /// The pod's cgroup parent as the CRI gets it (a path, or a slice under
    /// the systemd driver).
    pub cgroup_parent: String,
    /// The pod's cgroup, relative to each hierarchy's root.
    pub cgroup: String,
    /// kubelet's pod directory (volumes, etc-hosts, termination logs) and
    /// the pod's log directory inside it.
    pub dir: PathBuf,
    pub log_dir: PathBuf,
    pub netns: Option<PathBuf>,
    pub containers: Vec<String>,
    done: bool,
}

/// hugetlb page sizes of this node, as kubelet names them ("2MB", "1GB").
fn hugepage_sizes() -> Vec<String> {
    let mut out = Vec::new();
    for e in fs::read_dir("/sys/kernel/mm/hugepages")
        .into_iter()
        .flatten()
        .flatten()
    {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(kb) = name
            .strip_prefix("hugepages-")
            .and_then(|s| s.strip_suffix("kB"))
            .and_then(|s| s.parse::<u64>().ok())
        else {
            continue;
        };
        out.push(if kb >= 1 << 20 {
            format!("{}GB", kb >> 20)
        } else if kb >= 1 << 10 {
            format!("{}MB", kb >> 10)
        } else {
            format!("{kb}KB")
        });
    }
    out.sort();
    out
}

/// A BestEffort container's resources as kubelet sends them.
pub fn best_effort() -> LinuxContainerResources {
    LinuxContainerResources {
        cpu_period: 100_000,
        cpu_shares: 2,
        oom_score_adj: 1000,
        hugepage_limits: hugepage_sizes()
            .into_iter()
            .map(|page_size| HugepageLimit {
                page_size,
                limit: 0,
            })
            .collect(),
        ..Default::default()
    }
}

pub fn profile(kind: i32) -> Option<SecurityProfile> {
    Some(SecurityProfile {
        profile_type: kind,
        localhost_ref: String::new(),
    })
}

fn labels(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

static SEQ: AtomicU32 = AtomicU32::new(0);

impl<'h> Pod<'h> {
    /// RunPodSandbox for scenario `name` with `handler`.
    pub fn run(h: &'h Harness, handler: &'static str, name: &str, opts: PodOpts) -> Pod<'h> {
        let n = SEQ.fetch_add(1, Ordering::Relaxed);
        let pod_name = format!("{name}-{handler}");
        let uid = format!("{}-{handler}-{}-{n}", name, std::process::id());
        let namespace = format!("rtcri-{name}");
        let (cgroup_parent, cgroup) = match &opts.cgroup_parent {
            Some(p) => (p.clone(), p.clone()),
            None => h.d.pod_cgroup(&uid),
        };
        let dir = h.d.dir.join("pods").join(&uid);
        let log_dir = dir.join("logs");
        fs::create_dir_all(&log_dir).expect("pod dirs");
        fs::write(
            dir.join("etc-hosts"),
            format!("127.0.0.1\tlocalhost\n127.0.1.1\t{pod_name}\n"),
        )
        .expect("etc-hosts");
        if opts.cgroup_parent.is_none() {
            h.d.create_pod_cgroup(&cgroup_parent, &cgroup);
        }
        let ns = NamespaceOption {
            network: if opts.host_network { NS_NODE } else { NS_POD },
            pid: if opts.host_pid {
                NS_NODE
            } else if opts.share_pid {
                NS_POD
            } else {
                NS_CONTAINER
            },
            ipc: if opts.host_ipc { NS_NODE } else { NS_POD },
            ..Default::default()
        };
        let config = PodSandboxConfig {
            metadata: Some(PodSandboxMetadata {
                name: pod_name.clone(),
                uid: uid.clone(),
                namespace: namespace.clone(),
                attempt: 0,
            }),
            hostname: if opts.host_network {
                String::new()
            } else {
                pod_name.clone()
            },
            log_directory: log_dir.to_string_lossy().into_owned(),
            dns_config: Some(DnsConfig {
                servers: vec!["127.0.0.1".into()],
                searches: vec![format!("{namespace}.svc.cluster.local")],
                options: vec!["ndots:5".into()],
            }),
            labels: labels(&[
                ("io.kubernetes.pod.name", &pod_name),
                ("io.kubernetes.pod.namespace", &namespace),
                ("io.kubernetes.pod.uid", &uid),
            ]),
            annotations: labels(&[("kubernetes.io/config.source", "api")]),
            linux: Some(LinuxPodSandboxConfig {
                cgroup_parent: cgroup_parent.clone(),
                security_context: Some(LinuxSandboxSecurityContext {
                    namespace_options: Some(ns),
                    privileged: opts.privileged,
                    seccomp: profile(UNCONFINED),
                    ..Default::default()
                }),
                sysctls: opts
                    .sysctls
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                ..Default::default()
            }),
            ..Default::default()
        };
        let mut pod = Pod {
            h,
            handler,
            name: pod_name,
            uid,
            opts,
            config,
            id: String::new(),
            cgroup_parent,
            cgroup,
            dir,
            log_dir,
            netns: None,
            containers: Vec::new(),
            done: false,
        };
        pod.id = h
            .cri
            .run_pod(&pod.config, handler)
            .unwrap_or_else(|e| panic!("RunPodSandbox ({handler}): {e}"));
        pod.netns = pod.netns_path();
        pod
    }

    /// containerd's verbose sandbox info (its pid, the runtime spec).
    pub fn info(&self) -> serde_json::Value {
        let st = self
            .h
            .cri
            .pod_status(&self.id, true)
            .unwrap_or_else(|e| panic!("PodSandboxStatus ({}): {e}", self.handler));
        st.info
            .get("info")
            .and_then(|i| serde_json::from_str(i).ok())
            .unwrap_or_default()
    }

    /// The host pid of the pod's pause process.
    pub fn pause_pid(&self) -> i64 {
        self.info()["pid"]
            .as_i64()
            .expect("sandbox pid in verbose info")
    }

    /// The network namespace containerd made (from the verbose status).
    fn netns_path(&self) -> Option<PathBuf> {
        let info = self.info();
        info["runtimeSpec"]["linux"]["namespaces"]
            .as_array()?
            .iter()
            .find(|n| n["type"] == "network")?["path"]
            .as_str()
            .filter(|p| !p.is_empty())
            .map(PathBuf::from)
    }

    pub fn marker(&self) -> String {
        format!("{MARKER}={}", self.uid)
    }

    /// A container as kubelet configures one, running `command`.
    pub fn container(&self, name: &str, command: &[&str]) -> ContainerConfig {
        let term = self.dir.join("containers").join(name);
        fs::create_dir_all(&term).expect("termination log dir");
        let term = term.join("termination-log");
        fs::write(&term, "").expect("termination log");
        let mut mounts = vec![Mount {
            container_path: "/dev/termination-log".into(),
            host_path: term.to_string_lossy().into_owned(),
            ..Default::default()
        }];
        if !self.opts.host_network {
            mounts.push(Mount {
                container_path: "/etc/hosts".into(),
                host_path: self.dir.join("etc-hosts").to_string_lossy().into_owned(),
                ..Default::default()
            });
        }
        let ns = self
            .config
            .linux
            .as_ref()
            .and_then(|l| l.security_context.as_ref())
            .and_then(|s| s.namespace_options.clone());
        ContainerConfig {
            metadata: Some(ContainerMetadata {
                name: name.into(),
                attempt: 0,
            }),
            image: Some(ImageSpec {
                image: IMAGE.into(),
                ..Default::default()
            }),
            command: command.iter().map(|s| s.to_string()).collect(),
            envs: vec![KeyValue {
                key: MARKER.into(),
                value: self.uid.clone(),
            }],
            mounts,
            labels: labels(&[
                ("io.kubernetes.container.name", name),
                ("io.kubernetes.pod.name", &self.name),
                ("io.kubernetes.pod.uid", &self.uid),
            ]),
            annotations: labels(&[
                ("io.kubernetes.container.restartCount", "0"),
                (
                    "io.kubernetes.container.terminationMessagePath",
                    "/dev/termination-log",
                ),
            ]),
            log_path: format!("{name}/0.log"),
            linux: Some(LinuxContainerConfig {
                resources: Some(best_effort()),
                security_context: Some(LinuxContainerSecurityContext {
                    namespace_options: ns,
                    masked_paths: DEFAULT_MASKED.iter().map(|s| s.to_string()).collect(),
                    readonly_paths: DEFAULT_READONLY.iter().map(|s| s.to_string()).collect(),
                    seccomp: profile(UNCONFINED),
                    ..Default::default()
                }),
            }),
            ..Default::default()
        }
    }

    pub fn create(&mut self, cfg: &ContainerConfig) -> String {
        let id = self
            .h
            .cri
            .create_container(&self.id, cfg, &self.config)
            .unwrap_or_else(|e| panic!("CreateContainer ({}): {e}", self.handler));
        self.containers.push(id.clone());
        id
    }

    pub fn start(&self, id: &str) {
        self.h
            .cri
            .start_container(id)
            .unwrap_or_else(|e| panic!("StartContainer ({}): {e}", self.handler));
    }

    /// Create and start.
    pub fn run_container(&mut self, cfg: &ContainerConfig) -> String {
        let id = self.create(cfg);
        self.start(&id);
        id
    }

    /// A long-running container named `name`.
    pub fn sleeper(&mut self, name: &str) -> String {
        let cfg = self.container(name, &["/bin/sleep", "3600"]);
        self.run_container(&cfg)
    }

    pub fn exec(&self, id: &str, cmd: &[&str]) -> ExecSyncResponse {
        self.h
            .cri
            .exec_sync(id, cmd, 20)
            .unwrap_or_else(|e| panic!("ExecSync {cmd:?} ({}): {e}", self.handler))
    }

    /// ExecSync that must exit 0; its stdout.
    #[track_caller]
    pub fn sh(&self, id: &str, script: &str) -> String {
        let r = self.exec(id, &["/bin/sh", "-c", script]);
        assert_eq!(
            r.exit_code,
            0,
            "{} `{script}`: stdout {:?} stderr {:?}",
            self.handler,
            String::from_utf8_lossy(&r.stdout),
            String::from_utf8_lossy(&r.stderr)
        );
        String::from_utf8_lossy(&r.stdout).trim().to_string()
    }

    pub fn status(&self, id: &str) -> ContainerStatus {
        self.h
            .cri
            .container_status(id)
            .unwrap_or_else(|e| panic!("ContainerStatus ({}): {e}", self.handler))
    }

    /// Wait until the container has exited; its status.
    #[track_caller]
    pub fn wait_exited(&self, id: &str, timeout: Duration) -> ContainerStatus {
        let end = Instant::now() + timeout;
        loop {
            let st = self.status(id);
            if st.state == EXITED {
                return st;
            }
            assert!(
                Instant::now() < end,
                "{}: container {id} did not exit: {st:?}",
                self.handler
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The CRI log file of container `name` (attempt 0).
    pub fn log_path(&self, name: &str, attempt: u32) -> PathBuf {
        self.log_dir.join(name).join(format!("{attempt}.log"))
    }

    /// The log's lines as (stream, text), parsed from the CRI format
    /// "<RFC3339Nano> <stdout|stderr> <F|P> <text>".
    pub fn log_lines(&self, name: &str, attempt: u32) -> Vec<(String, String)> {
        let text = fs::read_to_string(self.log_path(name, attempt)).unwrap_or_default();
        text.lines()
            .filter_map(|l| {
                let mut it = l.splitn(4, ' ');
                let (_time, stream, _tag) = (it.next()?, it.next()?, it.next()?);
                Some((stream.to_string(), it.next().unwrap_or("").to_string()))
            })
            .collect()
    }

    /// Wait until container `name`'s log has a line `text`.
    #[track_caller]
    pub fn wait_log(&self, name: &str, text: &str, timeout: Duration) {
        let end = Instant::now() + timeout;
        while !self.log_lines(name, 0).iter().any(|(_, t)| t == text) {
            assert!(
                Instant::now() < end,
                "{}: no {text:?} in the log of {name}: {:?}",
                self.handler,
                self.log_lines(name, 0)
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// kubelet's teardown, then: nothing of the pod may be left.
    #[track_caller]
    pub fn teardown(mut self) {
        self.stop_and_remove();
        self.assert_clean();
    }

    /// The CRI calls of kubelet's teardown, with how long each step took
    /// (what the benchmark reports).
    #[track_caller]
    pub fn stop_and_remove(&mut self) -> [(&'static str, Duration); 4] {
        self.done = true;
        let cri = &self.h.cri;
        let handler = self.handler;
        let t = Instant::now();
        for c in &self.containers {
            if let Err(e) = cri.stop_container(c, 2) {
                panic!("StopContainer ({handler}): {e}");
            }
        }
        let stop = t.elapsed();
        cri.stop_pod(&self.id)
            .unwrap_or_else(|e| panic!("StopPodSandbox ({handler}): {e}"));
        let stop_pod = t.elapsed() - stop;
        for c in &self.containers {
            cri.remove_container(c)
                .unwrap_or_else(|e| panic!("RemoveContainer ({handler}): {e}"));
        }
        let remove = t.elapsed() - stop - stop_pod;
        cri.remove_pod(&self.id)
            .unwrap_or_else(|e| panic!("RemovePodSandbox ({handler}): {e}"));
        let remove_pod = t.elapsed() - stop - stop_pod - remove;
        [
            ("StopContainer", stop),
            ("StopPodSandbox", stop_pod),
            ("RemoveContainer", remove),
            ("RemovePodSandbox", remove_pod),
        ]
    }

    /// After `stop_and_remove`: nothing of the pod may be left.
    #[track_caller]
    pub fn assert_clean(self) {
        let left = leftovers::of_pod(
            self.h.d,
            self.handler,
            &self.id,
            &self.containers,
            &self.cgroup,
            self.netns.as_deref(),
            &self.marker(),
        );
        self.h
            .d
            .remove_pod_cgroup(&self.cgroup_parent, &self.cgroup);
        let _ = fs::remove_dir_all(&self.dir);
        assert!(
            left.is_empty(),
            "{}: pod {} left things behind:\n{}",
            self.handler,
            self.name,
            left.join("\n")
        );
    }
}

impl Drop for Pod<'_> {
    /// After a failed scenario: remove the pod anyway, so the daemon's other
    /// scenarios run on a clean node.
    fn drop(&mut self) {
        if self.done {
            return;
        }
        if !self.id.is_empty() {
            let _ = self.h.cri.stop_pod(&self.id);
            let _ = self.h.cri.remove_pod(&self.id);
        }
        self.h
            .d
            .remove_pod_cgroup(&self.cgroup_parent, &self.cgroup);
        if std::env::var_os("RT_TEST_KEEP").is_none() {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}
