//! CRI scenarios about a container's securityContext as kubelet sends it
//! (tests/cri/ has the harness): users and groups, read-only root,
//! privileged, capabilities, no_new_privs, seccomp, masked and read-only
//! paths, procMount. Each runs with handler runc, then rt; where the exact
//! view depends on containerd's defaults, rt must show what runc shows.

mod common;
mod cri;

use cri::pod::{profile, RUNTIME_DEFAULT};
use cri::{same, Pod, PodOpts};
use k8s_cri::v1::{Capability, ContainerConfig, Int64Value, LinuxContainerSecurityContext};

fn sc(cfg: &mut ContainerConfig) -> &mut LinuxContainerSecurityContext {
    cfg.linux
        .as_mut()
        .and_then(|l| l.security_context.as_mut())
        .expect("security context")
}

/// Status fields of the container's process, as the probe reports them.
fn status(pod: &Pod, c: &str, fields: &[&str]) -> Vec<String> {
    let out = pod.sh(c, "cat /proc/self/status");
    fields
        .iter()
        .map(|f| {
            out.lines()
                .find(|l| l.starts_with(&format!("{f}:")))
                .map(|l| l.split_whitespace().skip(1).collect::<Vec<_>>().join(" "))
                .unwrap_or_default()
        })
        .collect()
}

#[test]
fn run_as_user_group_supplemental() {
    same("runAsUser/runAsGroup/supplementalGroups", |h, handler| {
        let mut pod = Pod::run(h, handler, "users", PodOpts::default());
        let mut cfg = pod.container("app", &["/bin/sleep", "3600"]);
        let s = sc(&mut cfg);
        s.run_as_user = Some(Int64Value { value: 1000 });
        s.run_as_group = Some(Int64Value { value: 1000 });
        s.supplemental_groups = vec![1001, 2000];
        let c = pod.run_container(&cfg);
        let id = pod.sh(&c, "id");
        assert!(id.starts_with("uid=1000(tester) gid=1000(tester)"), "{id}");
        for g in ["1001", "2000"] {
            assert!(id.contains(g), "group {g} missing: {id}");
        }
        // An exec'd process runs as the same user.
        let exec_id = pod.sh(&c, "id -u");
        pod.teardown();
        (id, exec_id)
    });
}

#[test]
fn read_only_root_filesystem() {
    same("readOnlyRootFilesystem", |h, handler| {
        let mut pod = Pod::run(h, handler, "rofs", PodOpts::default());
        let mut cfg = pod.container("app", &["/bin/sleep", "3600"]);
        sc(&mut cfg).readonly_rootfs = true;
        let c = pod.run_container(&cfg);
        let root = pod.exec(&c, &["/bin/touch", "/newfile"]);
        let tmp = pod.exec(&c, &["/bin/touch", "/tmp/newfile"]);
        assert_ne!(root.exit_code, 0, "root is writable");
        assert!(
            String::from_utf8_lossy(&root.stderr).contains("Read-only"),
            "{root:?}"
        );
        // Mounts kubelet adds stay writable.
        let term = pod.exec(&c, &["/bin/sh", "-c", "echo bye > /dev/termination-log"]);
        assert_eq!(term.exit_code, 0, "{term:?}");
        pod.teardown();
        (root.exit_code, tmp.exit_code, term.exit_code)
    });
}

#[test]
fn privileged_container() {
    same("privileged", |h, handler| {
        let opts = PodOpts {
            privileged: true,
            ..Default::default()
        };
        let mut pod = Pod::run(h, handler, "priv", opts);
        let mut cfg = pod.container("app", &["/bin/sleep", "3600"]);
        let s = sc(&mut cfg);
        s.privileged = true;
        // kubelet sends no masks for a privileged container.
        s.masked_paths.clear();
        s.readonly_paths.clear();
        let c = pod.run_container(&cfg);
        let caps = status(&pod, &c, &["CapEff", "CapBnd", "Seccomp"]);
        let mount = pod
            .exec(&c, &["/bin/mount", "-t", "tmpfs", "tmpfs", "/tmp"])
            .exit_code;
        assert_eq!(mount, 0, "a privileged container can mount");
        let dev = pod.sh(&c, "test -c /dev/kmsg && echo host-devices || echo none");
        assert_eq!(dev, "host-devices");
        // containerd keeps /sys read-only for a pod not on the host
        // network, privileged or not: compared, not asserted.
        let sys = pod.sh(
            &c,
            "grep ' /sys ' /proc/self/mounts | cut -d' ' -f4 | cut -d, -f1",
        );
        let keys = pod.sh(&c, "test -c /proc/keys && echo masked || echo visible");
        pod.teardown();
        (caps, mount, dev, sys, keys)
    });
}

#[test]
fn capabilities_add_drop() {
    same("capabilities add/drop", |h, handler| {
        let mut pod = Pod::run(h, handler, "caps", PodOpts::default());
        let mut cfg = pod.container("dropall", &["/bin/sleep", "3600"]);
        sc(&mut cfg).capabilities = Some(Capability {
            add_capabilities: vec!["NET_BIND_SERVICE".into(), "NET_ADMIN".into()],
            drop_capabilities: vec!["ALL".into()],
            ..Default::default()
        });
        let a = pod.run_container(&cfg);
        let mut cfg = pod.container("adddrop", &["/bin/sleep", "3600"]);
        sc(&mut cfg).capabilities = Some(Capability {
            add_capabilities: vec!["SYS_TIME".into()],
            drop_capabilities: vec!["CHOWN".into(), "KILL".into()],
            ..Default::default()
        });
        let b = pod.run_container(&cfg);
        let fields = ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"];
        let sa = status(&pod, &a, &fields);
        assert_eq!(
            sa[2], "0000000000001400",
            "NET_BIND_SERVICE|NET_ADMIN: {sa:?}"
        );
        let sb = status(&pod, &b, &fields);
        let eff = u64::from_str_radix(&sb[2], 16).unwrap();
        assert_eq!(eff & (1 << 25), 1 << 25, "SYS_TIME added: {sb:?}");
        assert_eq!(
            eff & ((1 << 0) | (1 << 5)),
            0,
            "CHOWN, KILL dropped: {sb:?}"
        );
        // Exec'd processes get the container's capabilities.
        let exec = status(&pod, &a, &["CapEff"]);
        pod.teardown();
        (sa, sb, exec)
    });
}

#[test]
fn no_new_privs() {
    same("no_new_privs", |h, handler| {
        let mut pod = Pod::run(h, handler, "nnp", PodOpts::default());
        let plain = pod.sleeper("plain");
        let mut cfg = pod.container("nnp", &["/bin/sleep", "3600"]);
        sc(&mut cfg).no_new_privs = true;
        let nnp = pod.run_container(&cfg);
        let (p, n) = (
            status(&pod, &plain, &["NoNewPrivs"]),
            status(&pod, &nnp, &["NoNewPrivs"]),
        );
        assert_eq!((p[0].as_str(), n[0].as_str()), ("0", "1"));
        pod.teardown();
        (p, n)
    });
}

#[test]
fn seccomp_runtime_default_and_unconfined() {
    same("seccomp RuntimeDefault/Unconfined", |h, handler| {
        let mut pod = Pod::run(h, handler, "seccomp", PodOpts::default());
        let free = pod.sleeper("unconfined");
        let mut cfg = pod.container("default", &["/bin/sleep", "3600"]);
        sc(&mut cfg).seccomp = profile(RUNTIME_DEFAULT);
        let conf = pod.run_container(&cfg);
        let sf = status(&pod, &free, &["Seccomp"]);
        let sd = status(&pod, &conf, &["Seccomp"]);
        assert_eq!((sf[0].as_str(), sd[0].as_str()), ("0", "2"));
        // containerd's default profile refuses keyctl with EPERM.
        let kf = pod.sh(&free, "/probe keyring");
        let kd = pod.sh(&conf, "/probe keyring");
        assert!(
            kd.contains("\"errno\":1"),
            "keyctl under RuntimeDefault: {kd}"
        );
        assert!(kf.contains("session"), "keyctl unconfined: {kf}");
        pod.teardown();
        (sf, sd, kd)
    });
}

/// What the container sees of kubelet's default masked and read-only paths.
fn proc_view(pod: &Pod, c: &str) -> Vec<String> {
    let mut out = Vec::new();
    for p in [
        "/proc/kcore",
        "/proc/keys",
        "/proc/timer_list",
        "/sys/firmware",
        "/proc/acpi",
    ] {
        out.push(pod.sh(
            c,
            &format!("if [ -c {p} ]; then echo {p}:null; elif [ -d {p} ]; then echo {p}:dir:$(ls {p} | wc -l); elif [ -e {p} ]; then echo {p}:file; else echo {p}:absent; fi"),
        ));
    }
    for p in ["/proc/sys/kernel/domainname", "/proc/sysrq-trigger"] {
        let w = pod.exec(c, &["/bin/sh", "-c", &format!("echo x > {p}")]);
        out.push(format!("{p}:write:{}", w.exit_code));
    }
    out
}

#[test]
fn masked_and_readonly_paths() {
    same("masked/readonly paths (default procMount)", |h, handler| {
        let mut pod = Pod::run(h, handler, "masked", PodOpts::default());
        let c = pod.sleeper("app");
        let view = proc_view(&pod, &c);
        assert!(view.contains(&"/proc/keys:null".to_string()), "{view:?}");
        assert!(
            view.contains(&"/proc/sys/kernel/domainname:write:1".to_string()),
            "{view:?}"
        );
        pod.teardown();
        view
    });
}

#[test]
fn proc_mount_unmasked() {
    // kubelet sends empty lists for procMount: Unmasked; over the CRI an
    // empty list is indistinguishable from none, so containerd 1.6 applies
    // its own defaults. rt must do what runc does with that spec.
    same("procMount Unmasked", |h, handler| {
        let mut pod = Pod::run(h, handler, "unmasked", PodOpts::default());
        let mut cfg = pod.container("app", &["/bin/sleep", "3600"]);
        let s = sc(&mut cfg);
        s.masked_paths.clear();
        s.readonly_paths.clear();
        let c = pod.run_container(&cfg);
        let view = proc_view(&pod, &c);
        pod.teardown();
        view
    });
}
