//! The systemd cgroup driver (`--systemd-cgroup`). On a host without
//! systemd (the development machine) the flag must fail with one clear
//! line and leave nothing. Under systemd (the VM lane tests/vm-systemd,
//! which sets RT_TEST_SYSTEMD=1) each container must be a transient scope
//! in the slice its cgroupsPath names, with the properties its resources
//! ask for, as `systemctl show` reports them; update, pause, kill --all,
//! delete and a scope left by a killed rt are checked the same way, and
//! containerd's runc shim drives rt with its systemd option.

#[path = "cgroups_support.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{json, Value};

mod systemd_util;

use systemd_util::scope::{tracking_dir, Ctr};
use systemd_util::*;

/// The development machine: no systemd, so `--systemd-cgroup` is one
/// clear error and nothing is created.
#[test]
fn without_systemd_the_flag_is_one_clear_error() {
    require_root!();
    if under_systemd() {
        eprintln!("skipped: systemd runs here (see systemd_missing_bus_is_one_clear_error)");
        return;
    }
    let c = Ctr::new("sdnone", "system.slice", &["true"], json!({}));
    for cmd in ["run", "create"] {
        let out = c.rt(&[cmd, &c.id]);
        assert!(!out.status.success(), "{cmd} succeeded");
        let line = err_line(&out);
        assert!(
            line.starts_with("rt: --systemd-cgroup: systemd is not running"),
            "{line}"
        );
        assert!(!c.root.join(&c.id).exists(), "state dir left");
        assert!(!support::exists_anywhere(&c.cgroup));
    }
}

/// Under systemd but with the bus unreachable: one error line, nothing left.
#[test]
fn systemd_missing_bus_is_one_clear_error() {
    require_root!();
    if !require_systemd() {
        return;
    }
    let c = Ctr::new("sdnobus", "system.slice", &["true"], json!({}));
    let out = Command::new(RT)
        .env("DBUS_SYSTEM_BUS_ADDRESS", "unix:path=/nonexistent/bus")
        .args(["--systemd-cgroup", "--root"])
        .arg(&c.root)
        .args(["run", "--bundle"])
        .arg(&c.dir)
        .arg(&c.id)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let line = err_line(&out);
    assert!(
        line.starts_with("rt: systemd: cannot reach systemd over D-Bus"),
        "{line}"
    );
    assert!(line.contains("/nonexistent/bus"), "{line}");
    c.assert_gone();
    // No system bus at all (a mount namespace hides /run/dbus): systemd's
    // private socket is not a way around it (zbus cannot talk to it).
    let out = Command::new("unshare")
        .args([
            "-m",
            "sh",
            "-c",
            "mount -t tmpfs tmpfs /run/dbus && exec \"$@\"",
            "sh",
            RT,
        ])
        .args(["--systemd-cgroup", "--root"])
        .arg(&c.root)
        .args(["run", "--bundle"])
        .arg(&c.dir)
        .arg(&c.id)
        .env_remove("DBUS_SYSTEM_BUS_ADDRESS")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let line = err_line(&out);
    assert_eq!(
        line,
        "rt: --systemd-cgroup: cannot reach systemd over D-Bus: /run/dbus/system_bus_socket \
         does not exist (is dbus.service running?)",
        "{out:?}"
    );
    c.assert_gone();
    // A bad cgroupsPath is refused before anything exists too.
    let mut cfg = c.config();
    cfg["linux"]["cgroupsPath"] = json!("/not/a/slice/path");
    c.set_config(&cfg);
    let out = c.rt(&["run", &c.id]);
    assert!(!out.status.success());
    assert!(
        err_line(&out).contains("slice:prefix:name"),
        "{}",
        err_line(&out)
    );
    c.assert_gone();
}

/// The scope, its slice and its properties as systemd reports them; the
/// files it has no property for written by rt; update, pause, exec,
/// kill --all and delete on the scope. On v2 and on v1/hybrid hosts, whose
/// systemd has older property names and fewer of them.
#[test]
fn scope_in_its_slice_with_the_resources_as_properties() {
    require_root!();
    if !require_systemd() {
        return;
    }
    let v2 = pure_v2();
    let mut res = json!({
        "memory": {"limit": 67108864, "reservation": 33554432},
        "cpu": {"shares": 512, "quota": 50000, "period": 100000, "cpus": "0", "mems": "0"},
        "pids": {"limit": 20},
        "blockIO": {"weight": 500,
            "throttleReadBpsDevice": [{"major": 254, "minor": 0, "rate": 1048576}]},
        "devices": [{"allow": true, "type": "c", "major": 10, "minor": 229, "access": "rw"}]
    });
    if v2 {
        // One key systemd has a property for, one it has not.
        res["unified"] = json!({"memory.high": "50331648", "memory.oom.group": "1"});
    }
    let c = Ctr::new(
        "sdscope",
        "rt-test-deep.slice",
        // The trailing `true` keeps sh from exec'ing the last command.
        &["sh", "-c", "sleep 1000 & sleep 1000; true"],
        res,
    );
    c.ok(&["run", "-d", &c.id]);
    let st = c.state();
    assert_eq!(st["status"], "running");
    let pid = st["pid"].as_u64().unwrap();
    let p = c.show(&[
        "ActiveState",
        "Slice",
        "ControlGroup",
        "Delegate",
        "MemoryMax",
        "MemoryLimit",
        "MemoryLow",
        "MemoryHigh",
        "CPUWeight",
        "CPUShares",
        "CPUQuotaPerSecUSec",
        "CPUQuotaPeriodUSec",
        "TasksMax",
        "AllowedCPUs",
        "AllowedMemoryNodes",
        "IOWeight",
        "BlockIOWeight",
        "IOReadBandwidthMax",
        "DevicePolicy",
        "DeviceAllow",
    ]);
    assert_eq!(p["ActiveState"], "active", "{p:?}");
    assert_eq!(p["Slice"], "rt-test-deep.slice");
    let cg = format!("/rt.slice/rt-test.slice/rt-test-deep.slice/{}", c.unit);
    assert_eq!(p["ControlGroup"], cg);
    assert_eq!(Path::new(&cg), c.cgroup);
    assert_eq!(p["Delegate"], "yes");
    assert_eq!(p["CPUQuotaPerSecUSec"], "500ms");
    assert_eq!(p["CPUQuotaPeriodUSec"], "100ms");
    assert_eq!(p["TasksMax"], "20");
    if v2 {
        assert_eq!(p["MemoryMax"], "67108864");
        assert_eq!(p["MemoryLow"], "33554432");
        assert_eq!(p["MemoryHigh"], "50331648");
        assert_eq!(p["CPUWeight"], "20");
        assert_eq!(p["AllowedCPUs"], "0");
        assert_eq!(p["AllowedMemoryNodes"], "0");
        assert_eq!(p["IOWeight"], "4950");
        assert_eq!(p["IOReadBandwidthMax"], "/dev/block/254:0 1048576");
    } else {
        assert_eq!(p["MemoryLimit"], "67108864");
        assert_eq!(p["CPUShares"], "512");
        assert_eq!(p["BlockIOWeight"], "500");
    }
    assert_eq!(p["DevicePolicy"], "strict");
    for want in [
        "/dev/char/10:229 rw",
        "/dev/char/1:3 rwm",
        "char-pts rwm",
        "char-* m",
    ] {
        assert!(p["DeviceAllow"].lines().any(|l| l == want), "{want}: {p:?}");
    }
    // The init is in the scope in every hierarchy (on v1 rt joins the
    // ones systemd does not drive itself), and systemd lists it there.
    let own = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    for line in own.lines() {
        assert!(line.ends_with(&format!(":{cg}")), "{own}");
    }
    let cgls = Command::new("systemd-cgls")
        .arg("--no-pager")
        .arg("-u")
        .arg(&c.unit)
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&cgls.stdout).contains(&pid.to_string()),
        "{cgls:?}"
    );
    // The kernel has what systemd was told, and what rt wrote itself.
    assert_eq!(c.file("pids", "pids.max"), "20");
    assert_eq!(c.file("cpuset", "cpuset.cpus"), "0");
    if v2 {
        assert_eq!(c.file("memory", "memory.max"), "67108864");
        assert_eq!(c.file("cpu", "cpu.max"), "50000 100000");
        let io = c.file("io", "io.max");
        assert!(io.contains("254:0 rbps=1048576"), "{io}");
        // No property for it: rt wrote the file.
        assert_eq!(c.file("memory", "memory.oom.group"), "1");
    } else {
        assert_eq!(c.file("memory", "memory.limit_in_bytes"), "67108864");
        assert_eq!(c.file("cpu", "cpu.shares"), "512");
        assert_eq!(c.file("cpu", "cpu.cfs_quota_us"), "50000");
        // No v1 properties for these: rt wrote the files.
        assert_eq!(c.file("memory", "memory.soft_limit_in_bytes"), "33554432");
        let t = c.file("blkio", "blkio.throttle.read_bps_device");
        assert_eq!(t, "254:0 1048576");
    }

    c.ok(&[
        "update",
        "--memory",
        "128m",
        "--pids-limit",
        "9",
        "--cpu-quota",
        "20000",
        &c.id,
    ]);
    let p = c.show(&["MemoryMax", "MemoryLimit", "TasksMax", "CPUQuotaPerSecUSec"]);
    assert_eq!(p[if v2 { "MemoryMax" } else { "MemoryLimit" }], "134217728");
    assert_eq!(p["TasksMax"], "9");
    assert_eq!(p["CPUQuotaPerSecUSec"], "200ms");
    if v2 {
        assert_eq!(c.file("memory", "memory.max"), "134217728");
        assert_eq!(c.file("cpu", "cpu.max"), "20000 100000");
    } else {
        assert_eq!(c.file("memory", "memory.limit_in_bytes"), "134217728");
        assert_eq!(c.file("cpu", "cpu.cfs_quota_us"), "20000");
    }

    c.ok(&["pause", &c.id]);
    assert_eq!(c.state()["status"], "paused");
    let frozen = || {
        if v2 {
            c.file("freezer", "cgroup.freeze") == "1"
        } else {
            c.file("freezer", "freezer.state") == "FROZEN"
        }
    };
    assert!(frozen());
    c.ok(&["resume", &c.id]);
    assert!(!frozen());

    c.ok(&["exec", "-d", &c.id, "sleep", "999"]);
    let ps: Vec<u64> = serde_json::from_str(&c.ok(&["ps", "--format", "json", &c.id])).unwrap();
    assert_eq!(ps.len(), 4, "init, two sleeps, the exec'd one: {ps:?}");
    let procs: Vec<u64> = c
        .file("pids", "cgroup.procs")
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    for p in &ps {
        assert!(procs.contains(p), "{p} not in the scope: {procs:?}");
    }
    let ev: Value = serde_json::from_str(&c.ok(&["events", "--stats", &c.id])).unwrap();
    assert_eq!(ev["data"]["pids"]["current"], 4);
    assert_eq!(ev["data"]["pids"]["limit"], 9);

    c.ok(&["kill", "--all", &c.id, "KILL"]);
    wait_until("stop", || c.state()["status"] == "stopped");
    c.ok(&["delete", &c.id]);
    c.assert_gone();
}

/// rt killed in the middle of `create` (a createRuntime hook puts a
/// process into the scope and SIGKILLs rt): `delete --force` still finds
/// and stops the scope.
#[test]
fn scope_left_by_a_killed_rt_is_removed_by_delete_force() {
    require_root!();
    if !require_systemd() {
        return;
    }
    let c = Ctr::new("sdkilled", "system.slice", &["sleep", "1000"], json!({}));
    let script = format!(
        "sleep 1000 </dev/null >/dev/null 2>&1 & echo $! > {}/cgroup.procs; kill -9 $PPID",
        tracking_dir(&c.cgroup).display()
    );
    let mut cfg = c.config();
    cfg["hooks"] = json!({"createRuntime": [{"path": "/bin/sh", "args": ["sh", "-c", script]}]});
    c.set_config(&cfg);
    let out = c.rt(&["create", &c.id]);
    assert_eq!(
        out.status.code(),
        None,
        "rt should have been killed: {out:?}"
    );
    assert_eq!(c.show(&["ActiveState"])["ActiveState"], "active");
    let procs = std::fs::read_to_string(tracking_dir(&c.cgroup).join("cgroup.procs")).unwrap();
    assert!(!procs.trim().is_empty());
    c.ok(&["delete", "--force", &c.id]);
    c.assert_gone();
}

/// containerd's runc shim with its systemd option (`ctr run
/// --runc-systemd-cgroup`, what `SystemdCgroup = true` sets) drives rt:
/// run, exec, kill, delete, each container a scope in the named slice.
#[test]
fn containerd_shim_with_systemd_cgroup() {
    require_root!();
    if !require_systemd() {
        return;
    }
    let Ok(image) = std::env::var("RT_TEST_IMAGE_TAR") else {
        eprintln!("skipped: RT_TEST_IMAGE_TAR (an OCI layout tar) not given");
        return;
    };
    let tag = support::unique("ctd");
    let name = tag.file_name().unwrap().to_string_lossy().to_string();
    let dir = std::env::temp_dir().join(&name);
    std::fs::create_dir_all(&dir).unwrap();
    let sock = dir.join("containerd.sock");
    let config = dir.join("config.toml");
    std::fs::write(
        &config,
        format!(
            "version = 2\nroot = \"{0}/root\"\nstate = \"{0}/state\"\n[grpc]\n  address = \"{1}\"\n\
             [plugins.\"io.containerd.grpc.v1.cri\"]\n  disable = true\n",
            dir.display(),
            sock.display()
        ),
    )
    .unwrap();
    // containerd as a service of its own, as on a real host.
    let daemon = format!("rt-test-{name}.service");
    let st = Command::new("systemd-run")
        .args(["--unit", &daemon, "--collect", "containerd", "--config"])
        .arg(&config)
        .status()
        .unwrap();
    assert!(st.success());
    struct Stop(String, PathBuf);
    impl Drop for Stop {
        fn drop(&mut self) {
            let _ = Command::new("systemctl").args(["stop", &self.0]).status();
            let _ = std::fs::remove_dir_all(&self.1);
        }
    }
    let _stop = Stop(daemon, dir.clone());
    let ctr = |args: &[&str]| {
        Command::new("ctr")
            .arg("--address")
            .arg(&sock)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    wait_until("containerd", || ctr(&["version"]).status.success());
    let o = ctr(&["images", "import", "--index-name", "sample:latest", &image]);
    assert!(o.status.success(), "{o:?}");
    let sd = |slice: &str, id: &str| {
        vec![
            "run".to_string(),
            "--runtime".into(),
            "io.containerd.runc.v2".into(),
            "--runc-binary".into(),
            RT.into(),
            "--runc-systemd-cgroup".into(),
            "--cgroup".into(),
            format!("{slice}:ctr:{id}"),
        ]
    };
    let run = |slice: &str, id: &str, extra: &[&str]| {
        let mut a = sd(slice, id);
        a.extend(extra.iter().map(|s| s.to_string()));
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        ctr(&a)
    };
    let o = run(
        "rt-ctr.slice",
        "c1",
        &[
            "--rm",
            "sample:latest",
            "c1",
            "sh",
            "-c",
            "cat /proc/self/cgroup; exit 3",
        ],
    );
    assert_eq!(o.status.code(), Some(3), "{o:?}");
    let id = "c2";
    let o = run(
        "rt-ctr.slice",
        id,
        &["-d", "sample:latest", id, "sleep", "1000"],
    );
    assert!(o.status.success(), "{o:?}");
    let unit = format!("ctr-{id}.scope");
    let p = show(&unit, &["ActiveState", "Slice", "ControlGroup", "Delegate"]);
    assert_eq!(p["ActiveState"], "active", "{p:?}");
    assert_eq!(p["Slice"], "rt-ctr.slice");
    assert_eq!(p["ControlGroup"], format!("/rt.slice/rt-ctr.slice/{unit}"));
    assert_eq!(p["Delegate"], "yes");
    let o = ctr(&["task", "exec", "--exec-id", "e1", id, "sh", "-c", "exit 6"]);
    assert_eq!(o.status.code(), Some(6), "{o:?}");
    let o = ctr(&["task", "kill", "-s", "KILL", id]);
    assert!(o.status.success(), "{o:?}");
    wait_until("task stopped", || {
        String::from_utf8_lossy(&ctr(&["task", "ls"]).stdout).contains("STOPPED")
    });
    let o = ctr(&["task", "delete", id]);
    assert!(o.status.success(), "{o:?}");
    let o = ctr(&["container", "delete", id]);
    assert!(o.status.success(), "{o:?}");
    assert_eq!(show(&unit, &["LoadState"])["LoadState"], "not-found");
    assert!(!Path::new("/sys/fs/cgroup/rt.slice/rt-ctr.slice")
        .join(&unit)
        .exists());
}
