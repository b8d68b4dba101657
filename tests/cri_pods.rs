//! CRI scenarios about pods (tests/cri/ has the harness): the sandbox
//! lifecycle, the namespaces containers share with their pod or the node,
//! the pod cgroup parent, sysctls. Each runs with handler runc, then rt.

mod common;
mod cri;

use std::fs;
use std::path::Path;

use cri::pod::{NS_NODE, RUNNING};
use cri::{both, Pod, PodOpts};

const READY: i32 = 0;
const NOT_READY: i32 = 1;

fn ns_of_pid(pid: i64, kind: &str) -> String {
    fs::read_link(format!("/proc/{pid}/ns/{kind}"))
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn ns_in(pod: &Pod, c: &str, kind: &str) -> String {
    pod.sh(c, &format!("readlink /proc/self/ns/{kind}"))
}

#[test]
fn sandbox_run_stop_remove() {
    both(
        "RunPodSandbox/StopPodSandbox/RemovePodSandbox",
        |h, handler| {
            let mut pod = Pod::run(h, handler, "sandbox", PodOpts::default());
            let st = h.cri.pod_status(&pod.id, false).expect("status");
            let st = st.status.expect("status body");
            assert_eq!(st.state, READY);
            assert_eq!(st.runtime_handler, handler);
            let ip = st.network.expect("network status").ip;
            assert!(ip.starts_with("10.254.0."), "pod IP {ip:?}");
            assert!(h.cri.list_pods().unwrap().iter().any(|p| p.id == pod.id));
            // What the leftover checks look for exists while the pod runs.
            let sock = cri::daemon::shim_socket(&h.d.sock, &pod.id);
            assert!(sock.exists(), "shim socket {}", sock.display());
            assert!(h.d.runtime_root(handler).join(&pod.id).exists());
            assert!(
                pod.netns.as_ref().is_some_and(|n| n.exists()),
                "{:?}",
                pod.netns
            );
            let c = pod.sleeper("app");
            assert_eq!(pod.status(&c).state, RUNNING);
            // The pod's IP is on the container's eth0.
            let addr = pod.sh(&c, "ip -4 -o addr show eth0");
            assert!(addr.contains(&format!("{ip}/24")), "{addr}");
            // StopPodSandbox stops the containers too and keeps the pod listed.
            h.cri.stop_pod(&pod.id).expect("StopPodSandbox");
            let st = h.cri.pod_status(&pod.id, false).unwrap().status.unwrap();
            assert_eq!(st.state, NOT_READY);
            assert_eq!(pod.status(&c).state, cri::pod::EXITED);
            pod.teardown();
        },
    );
}

#[test]
fn containers_share_the_pods_namespaces() {
    both("containers share net/ipc/uts, not pid", |h, handler| {
        let mut pod = Pod::run(h, handler, "sharens", PodOpts::default());
        let a = pod.sleeper("a");
        let b = pod.sleeper("b");
        let pause = pod.pause_pid();
        for kind in ["net", "ipc", "uts"] {
            let want = ns_of_pid(pause, kind);
            assert_eq!(ns_in(&pod, &a, kind), want, "{kind} of a");
            assert_eq!(ns_in(&pod, &b, kind), want, "{kind} of b");
        }
        assert_ne!(ns_in(&pod, &a, "pid"), ns_in(&pod, &b, "pid"));
        assert_ne!(ns_in(&pod, &a, "pid"), ns_of_pid(pause, "pid"));
        assert_ne!(ns_in(&pod, &a, "mnt"), ns_in(&pod, &b, "mnt"));
        assert_eq!(pod.sh(&a, "hostname"), pod.name);
        // Each sees only itself (and the exec'd shell) in its pid namespace.
        assert_eq!(
            pod.sh(&a, "cat /proc/1/cmdline | tr '\\0' ' '"),
            "/bin/sleep 3600"
        );
        pod.teardown();
    });
}

#[test]
fn share_process_namespace() {
    both("shareProcessNamespace", |h, handler| {
        let opts = PodOpts {
            share_pid: true,
            ..Default::default()
        };
        let mut pod = Pod::run(h, handler, "sharepid", opts);
        let a = pod.sleeper("a");
        let b = pod.sleeper("b");
        let pause = pod.pause_pid();
        assert_eq!(ns_in(&pod, &a, "pid"), ns_of_pid(pause, "pid"));
        assert_eq!(ns_in(&pod, &b, "pid"), ns_of_pid(pause, "pid"));
        // pid 1 is the pause process; b sees a's sleep.
        assert_eq!(
            pod.sh(&b, "cat /proc/1/cmdline | tr '\\0' ' '"),
            "/probe pause"
        );
        let ps = pod.sh(&b, "ps -o args");
        assert_eq!(ps.matches("sleep 3600").count(), 2, "{ps}");
        // A container that exits leaves a child behind in the shared
        // namespace: its exit must still be handled (the shim's kill --all)
        // and the pod torn down.
        let cfg = pod.container("leaver", &["/bin/sh", "-c", "sleep 3600 & exit 0"]);
        let l = pod.run_container(&cfg);
        let st = pod.wait_exited(&l, std::time::Duration::from_secs(30));
        assert_eq!(st.exit_code, 0, "{st:?}");
        pod.teardown();
    });
}

#[test]
fn host_network_pid_ipc() {
    both("hostNetwork/hostPID/hostIPC", |h, handler| {
        let opts = PodOpts {
            host_network: true,
            host_pid: true,
            host_ipc: true,
            ..Default::default()
        };
        let mut pod = Pod::run(h, handler, "hostns", opts);
        let ns = pod
            .config
            .linux
            .as_ref()
            .and_then(|l| l.security_context.as_ref())
            .and_then(|s| s.namespace_options.as_ref())
            .unwrap();
        assert_eq!((ns.network, ns.pid, ns.ipc), (NS_NODE, NS_NODE, NS_NODE));
        let c = pod.sleeper("app");
        let me = std::process::id() as i64;
        for kind in ["net", "pid", "ipc", "uts"] {
            assert_eq!(ns_in(&pod, &c, kind), ns_of_pid(me, kind), "{kind}");
        }
        assert_ne!(ns_in(&pod, &c, "mnt"), ns_of_pid(me, "mnt"));
        let host = fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
        assert_eq!(pod.sh(&c, "hostname"), host.trim());
        // The container sees the host's processes, this test among them.
        let found = pod.sh(&c, &format!("test -d /proc/{me} && echo yes"));
        assert_eq!(found, "yes");
        pod.teardown();
    });
}

/// The relative cgroup path of a process, from /proc/<pid>/cgroup: the
/// memory hierarchy's line.
fn memory_cgroup(cgroup_text: &str) -> String {
    cgroup_text
        .lines()
        .find_map(|l| {
            let mut it = l.splitn(3, ':');
            let (_, ctrl, path) = (it.next()?, it.next()?, it.next()?);
            ctrl.split(',')
                .any(|c| c == "memory")
                .then(|| path.to_string())
        })
        .unwrap_or_default()
}

#[test]
fn cgroup_parent_holds_sandbox_and_containers() {
    both("cgroup_parent under kubepods", |h, handler| {
        let mut pod = Pod::run(h, handler, "cgparent", PodOpts::default());
        let c = pod.sleeper("app");
        let inside = memory_cgroup(&pod.sh(&c, "cat /proc/self/cgroup"));
        assert_eq!(inside, format!("{}/{c}", pod.cgroup));
        let pause = fs::read_to_string(format!("/proc/{}/cgroup", pod.pause_pid())).unwrap();
        assert_eq!(memory_cgroup(&pause), format!("{}/{}", pod.cgroup, pod.id));
        // Every hierarchy nests the container's cgroup in the pod's.
        let dirs = cri::leftovers::cgroup_dirs(&format!("{}/{c}", pod.cgroup));
        let hier = cri::leftovers::hierarchies();
        let missing: Vec<_> = hier
            .iter()
            .filter(|h| !dirs.iter().any(|d| d.starts_with(h)))
            .filter(|h| !h.ends_with("systemd") && !h.ends_with("misc"))
            .collect();
        assert!(missing.is_empty(), "no container cgroup in {missing:?}");
        // The container's BestEffort cpu.shares landed in its own cgroup.
        let shares = Path::new("/sys/fs/cgroup/cpu")
            .join(pod.cgroup.trim_start_matches('/'))
            .join(&c)
            .join("cpu.shares");
        if shares.exists() {
            assert_eq!(fs::read_to_string(&shares).unwrap().trim(), "2");
        }
        pod.teardown();
    });
}

#[test]
fn sysctls_safe_and_unsafe() {
    both("sysctls (safe and unsafe)", |h, handler| {
        let opts = PodOpts {
            sysctls: vec![
                ("kernel.shm_rmid_forced", "1"),
                ("net.ipv4.ip_local_port_range", "20000 30000"),
                ("net.ipv4.ping_group_range", "0 2147483647"),
                // Unsafe (kubelet needs --allowed-unsafe-sysctls), namespaced.
                ("net.core.somaxconn", "1024"),
                ("kernel.msgmax", "12345"),
            ],
            ..Default::default()
        };
        let mut pod = Pod::run(h, handler, "sysctls", opts);
        let c = pod.sleeper("app");
        let read = |k: &str| pod.sh(&c, &format!("cat /proc/sys/{}", k.replace('.', "/")));
        assert_eq!(read("kernel.shm_rmid_forced"), "1");
        assert_eq!(read("net.ipv4.ip_local_port_range"), "20000\t30000");
        assert_eq!(read("net.ipv4.ping_group_range"), "0\t2147483647");
        assert_eq!(read("net.core.somaxconn"), "1024");
        assert_eq!(read("kernel.msgmax"), "12345");
        // The node's values are untouched.
        let host = fs::read_to_string("/proc/sys/kernel/msgmax").unwrap();
        assert_ne!(host.trim(), "12345");
        pod.teardown();
    });
}

/// Where a relative cgroupsPath can end up: below the caller's own cgroup
/// in each hierarchy (runc) or below its unified one (rt), so both.
fn relative_cgroup_dirs(name: &str) -> Vec<std::path::PathBuf> {
    let own = fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let mut bases: Vec<String> = own
        .lines()
        .filter_map(|l| l.splitn(3, ':').nth(2))
        .map(|p| p.trim_start_matches('/').to_string())
        .collect();
    bases.push(String::new());
    let mut out = Vec::new();
    for h in cri::leftovers::hierarchies() {
        for b in &bases {
            out.push(h.join(b).join(name));
        }
    }
    out
}

#[test]
fn slice_cgroup_parent_under_cgroupfs() {
    // A parent ending in ".slice" makes containerd write cgroupsPath
    // "<slice>:cri-containerd:<id>" whatever the driver; without
    // SystemdCgroup runc takes that as a plain relative cgroup name.
    both("cgroup_parent *.slice with cgroupfs", |h, handler| {
        let slice = format!("rtcri{}-{handler}.slice", std::process::id());
        let opts = PodOpts {
            cgroup_parent: Some(format!("/{slice}")),
            ..Default::default()
        };
        let mut pod = Pod::run(h, handler, "slicepath", opts);
        let c = pod.sleeper("app");
        let want = format!("{slice}:cri-containerd:{c}");
        let inside = memory_cgroup(&pod.sh(&c, "cat /proc/self/cgroup"));
        assert!(inside.ends_with(&format!("/{want}")), "{inside}");
        assert!(
            relative_cgroup_dirs(&want).iter().any(|d| d.is_dir()),
            "no cgroup {want}"
        );
        let ids = [pod.id.clone(), c.clone()];
        pod.teardown();
        for id in ids {
            let name = format!("{slice}:cri-containerd:{id}");
            let left: Vec<_> = relative_cgroup_dirs(&name)
                .into_iter()
                .filter(|d| d.exists())
                .collect();
            assert!(left.is_empty(), "cgroups left: {left:?}");
        }
    });
}
