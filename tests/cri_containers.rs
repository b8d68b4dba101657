//! CRI scenarios about containers (tests/cri/ has the harness): create,
//! start, stop with a grace period, remove; ExecSync as exec probes use it;
//! streaming Exec and Attach; exit codes and reasons; stats; resource
//! updates; the CRI log file; a crash-looping container. Each runs with
//! handler runc, then rt.

mod common;
mod cri;

use std::fs;
use std::time::Duration;

use cri::pod::{best_effort, CREATED, EXITED, RUNNING};
use cri::stream::Session;
use cri::{both, same, Pod, PodOpts};
use k8s_cri::v1::{AttachRequest, ExecRequest, LinuxContainerResources};

const T: Duration = Duration::from_secs(30);

#[test]
fn create_start_stop_with_grace_remove() {
    both("Create/Start/Stop (grace, SIGKILL)/Remove", |h, handler| {
        let mut pod = Pod::run(h, handler, "stop", PodOpts::default());
        // Traps SIGTERM and exits cleanly within the grace period.
        let polite = pod.container(
            "polite",
            &[
                "/bin/sh",
                "-c",
                "trap 'echo got-term; exit 0' TERM; echo ready; while :; do sleep 1 & wait $!; done",
            ],
        );
        let p = pod.create(&polite);
        assert_eq!(pod.status(&p).state, CREATED);
        pod.start(&p);
        assert_eq!(pod.status(&p).state, RUNNING);
        // Ignores SIGTERM: only the SIGKILL after the grace period ends it.
        let stubborn = pod.container(
            "stubborn",
            &[
                "/bin/sh",
                "-c",
                "trap '' TERM; echo ready; while :; do sleep 1; done",
            ],
        );
        let s = pod.run_container(&stubborn);
        pod.wait_log("polite", "ready", T);
        pod.wait_log("stubborn", "ready", T);

        h.cri.stop_container(&p, 30).expect("StopContainer polite");
        let st = pod.status(&p);
        assert_eq!((st.state, st.exit_code), (EXITED, 0), "{st:?}");
        assert_eq!(st.reason, "Completed");
        pod.wait_log("polite", "got-term", T);

        h.cri.stop_container(&s, 1).expect("StopContainer stubborn");
        let st = pod.status(&s);
        assert_eq!((st.state, st.exit_code), (EXITED, 137), "{st:?}");
        assert_eq!(st.reason, "Error");
        assert!(
            st.finished_at >= st.started_at && st.started_at > 0,
            "{st:?}"
        );

        for c in [&p, &s] {
            h.cri.remove_container(c).expect("RemoveContainer");
        }
        assert!(h.cri.list_containers(&pod.id).unwrap().is_empty());
        assert!(
            h.cri.container_status(&p).is_err(),
            "removed container has a status"
        );
        pod.containers.clear();
        pod.teardown();
    });
}

#[test]
fn exec_sync_output_exit_code() {
    both("ExecSync output and exit code", |h, handler| {
        let mut pod = Pod::run(h, handler, "execsync", PodOpts::default());
        let c = pod.sleeper("app");
        let r = pod.exec(&c, &["/bin/sh", "-c", "echo out; echo err >&2; exit 3"]);
        assert_eq!(r.exit_code, 3);
        assert_eq!(String::from_utf8_lossy(&r.stdout), "out\n");
        assert_eq!(String::from_utf8_lossy(&r.stderr), "err\n");
        let r = pod.exec(&c, &["/bin/true"]);
        assert_eq!((r.exit_code, r.stdout.len()), (0, 0));
        // The exec'd process runs in the container: same pid namespace,
        // same environment as the container's process.
        assert_eq!(pod.sh(&c, "echo $RT_CRI_POD"), pod.uid);
        // A missing binary fails the exec itself, with the cause named.
        let e = h.cri.exec_sync(&c, &["/no/such/binary"], 10).unwrap_err();
        assert!(e.message().contains("no such file or directory"), "{e}");
        pod.teardown();
    });
}

#[test]
fn exec_sync_timeout() {
    // What containerd makes of a probe that overruns: the same for both
    // handlers, and the process is gone afterwards.
    same("ExecSync timeout", |h, handler| {
        let mut pod = Pod::run(h, handler, "exectimeout", PodOpts::default());
        let c = pod.sleeper("app");
        let r = h.cri.exec_sync(&c, &["/bin/sleep", "31"], 1);
        let outcome = match &r {
            Ok(resp) => format!("exit {}", resp.exit_code),
            Err(e) => format!("{:?}: {}", e.code(), e.message().contains("timeout")),
        };
        let left = pod.sh(&c, "ps -o args | grep -c '^/bin/sleep 31' || true");
        assert_eq!(left, "0", "the timed-out exec is still running");
        pod.teardown();
        outcome
    });
}

#[test]
fn streaming_exec() {
    both("streaming Exec (WebSocket)", |h, handler| {
        let mut pod = Pod::run(h, handler, "streamexec", PodOpts::default());
        let c = pod.sleeper("app");
        let url = h
            .cri
            .exec(ExecRequest {
                container_id: c.clone(),
                cmd: [
                    "/bin/sh",
                    "-c",
                    "echo out; echo err >&2; read l; echo got:$l; exit 3",
                ]
                .map(String::from)
                .to_vec(),
                tty: false,
                stdin: true,
                stdout: true,
                stderr: true,
            })
            .expect("Exec");
        let mut s = Session::open(&url);
        assert!(
            s.read_until(T, |s| s.stdout_text().contains("out\n")
                && s.stderr_text().contains("err\n")),
            "no output: {:?} {:?}",
            s.stdout_text(),
            s.stderr_text()
        );
        s.send_stdin(b"hello\n");
        assert!(s.finish(T), "session never ended");
        assert_eq!(s.stdout_text(), "out\ngot:hello\n");
        assert_eq!(s.exit_code(), Some(3), "{:?}", s.status);
        pod.teardown();
    });
}

#[test]
fn streaming_attach() {
    both("streaming Attach (WebSocket)", |h, handler| {
        let mut pod = Pod::run(h, handler, "attach", PodOpts::default());
        let mut cfg = pod.container(
            "echoer",
            &[
                "/bin/sh",
                "-c",
                "echo ready; while read l; do echo got:$l; done",
            ],
        );
        cfg.stdin = true;
        let c = pod.run_container(&cfg);
        pod.wait_log("echoer", "ready", T);
        let url = h
            .cri
            .attach(AttachRequest {
                container_id: c.clone(),
                stdin: true,
                tty: false,
                stdout: true,
                stderr: true,
            })
            .expect("Attach");
        let mut s = Session::open(&url);
        s.send_stdin(b"ping\n");
        assert!(
            s.read_until(T, |s| s.stdout_text().contains("got:ping\n")),
            "attach saw {:?}",
            s.stdout_text()
        );
        s.close();
        // Attached output also goes to the log, and the container lives on.
        pod.wait_log("echoer", "got:ping", T);
        assert_eq!(pod.status(&c).state, RUNNING);
        pod.teardown();
    });
}

#[test]
fn exit_code_and_reason() {
    both(
        "ContainerStatus: Completed, Error, OOMKilled",
        |h, handler| {
            let mut pod = Pod::run(h, handler, "reasons", PodOpts::default());
            let ok = pod.container("ok", &["/bin/sh", "-c", "exit 0"]);
            let ok = pod.run_container(&ok);
            let bad = pod.container("bad", &["/bin/sh", "-c", "exit 2"]);
            let bad = pod.run_container(&bad);
            let mut oom = pod.container("oom", &["/probe", "alloc", "512"]);
            let res = oom.linux.as_mut().unwrap().resources.as_mut().unwrap();
            res.memory_limit_in_bytes = 32 << 20;
            let oom = pod.run_container(&oom);
            let st = pod.wait_exited(&ok, T);
            assert_eq!((st.exit_code, st.reason.as_str()), (0, "Completed"));
            let st = pod.wait_exited(&bad, T);
            assert_eq!((st.exit_code, st.reason.as_str()), (2, "Error"));
            let st = pod.wait_exited(&oom, T);
            assert_eq!(
                (st.exit_code, st.reason.as_str()),
                (137, "OOMKilled"),
                "{st:?}"
            );
            pod.teardown();
        },
    );
}

#[test]
fn container_stats() {
    both("ContainerStats/ListContainerStats", |h, handler| {
        let mut pod = Pod::run(h, handler, "stats", PodOpts::default());
        let busy = pod.container(
            "busy",
            &[
                "/bin/sh",
                "-c",
                "/probe spin 0.5; /probe alloc 8 >/dev/null; echo done; exec sleep 3600",
            ],
        );
        let a = pod.run_container(&busy);
        let b = pod.sleeper("idle");
        pod.wait_log("busy", "done", T);
        let st = h.cri.container_stats(&a).expect("ContainerStats");
        assert_eq!(st.attributes.as_ref().unwrap().id, a);
        let cpu = st
            .cpu
            .as_ref()
            .and_then(|c| c.usage_core_nano_seconds.as_ref());
        assert!(cpu.is_some_and(|v| v.value > 0), "cpu {:?}", st.cpu);
        let mem = st
            .memory
            .as_ref()
            .and_then(|m| m.working_set_bytes.as_ref());
        assert!(mem.is_some_and(|v| v.value > 0), "memory {:?}", st.memory);
        let list = h
            .cri
            .list_container_stats(&pod.id)
            .expect("ListContainerStats");
        let mut ids: Vec<String> = list
            .iter()
            .filter_map(|s| s.attributes.as_ref().map(|a| a.id.clone()))
            .collect();
        ids.sort();
        let mut want = vec![a.clone(), b.clone()];
        want.sort();
        assert_eq!(ids, want);
        pod.teardown();
    });
}

#[test]
fn update_container_resources() {
    both("UpdateContainerResources seen inside", |h, handler| {
        let mut pod = Pod::run(h, handler, "update", PodOpts::default());
        let c = pod.sleeper("app");
        let res = LinuxContainerResources {
            cpu_quota: 50_000,
            cpu_shares: 512,
            memory_limit_in_bytes: 128 << 20,
            ..best_effort()
        };
        h.cri
            .update_resources(&c, res)
            .expect("UpdateContainerResources");
        let read = |f: &str| pod.sh(&c, &format!("cat /sys/fs/cgroup/{f}"));
        assert_eq!(read("cpu/cpu.cfs_quota_us"), "50000");
        assert_eq!(read("cpu/cpu.cfs_period_us"), "100000");
        assert_eq!(read("cpu/cpu.shares"), "512");
        assert_eq!(
            read("memory/memory.limit_in_bytes"),
            (128u64 << 20).to_string()
        );
        pod.teardown();
    });
}

#[test]
fn log_file_and_reopen() {
    both("CRI log file and ReopenContainerLog", |h, handler| {
        let mut pod = Pod::run(h, handler, "logs", PodOpts::default());
        let cfg = pod.container(
            "talker",
            &[
                "/bin/sh",
                "-c",
                "echo out1; echo err1 >&2; while [ ! -e /tmp/go ]; do sleep 0.1; done; echo out2; exec sleep 3600",
            ],
        );
        let c = pod.run_container(&cfg);
        pod.wait_log("talker", "err1", T);
        let lines = pod.log_lines("talker", 0);
        assert!(
            lines.contains(&("stdout".into(), "out1".into())),
            "{lines:?}"
        );
        assert!(
            lines.contains(&("stderr".into(), "err1".into())),
            "{lines:?}"
        );
        assert_eq!(
            pod.status(&c).log_path,
            pod.log_path("talker", 0).to_string_lossy()
        );
        // What kubelet's log rotation does: move the file, ask for a new one.
        let log = pod.log_path("talker", 0);
        let rotated = log.with_extension("log.1");
        fs::rename(&log, &rotated).unwrap();
        h.cri.reopen_log(&c).expect("ReopenContainerLog");
        pod.sh(&c, "touch /tmp/go");
        pod.wait_log("talker", "out2", T);
        let old = fs::read_to_string(&rotated).unwrap();
        assert!(old.contains("out1") && !old.contains("out2"), "{old}");
        pod.teardown();
    });
}

#[test]
fn crash_loop_restarts() {
    both("crash loop: repeated Create/Start", |h, handler| {
        let mut pod = Pod::run(h, handler, "crashloop", PodOpts::default());
        let mut prev: Option<String> = None;
        let mut ever = Vec::new();
        for attempt in 0..5u32 {
            let mut cfg = pod.container("crasher", &["/bin/sh", "-c", "echo try; exit 1"]);
            cfg.metadata.as_mut().unwrap().attempt = attempt;
            cfg.log_path = format!("crasher/{attempt}.log");
            let c = pod.run_container(&cfg);
            ever.push(c.clone());
            let st = pod.wait_exited(&c, T);
            assert_eq!((st.exit_code, st.reason.as_str()), (1, "Error"));
            // kubelet keeps the last dead container, removes older ones.
            if let Some(p) = prev.replace(c) {
                h.cri.remove_container(&p).expect("RemoveContainer");
                pod.containers.retain(|x| *x != p);
            }
            assert_eq!(h.cri.list_containers(&pod.id).unwrap().len(), 1);
            // An exited container's task is deleted at once: its runtime
            // state is gone even while the container is kept.
            let root = h.d.runtime_root(handler);
            assert!(root.join(&pod.id).exists(), "the sandbox's state");
            for id in &ever {
                assert!(!root.join(id).exists(), "state of dead {id} kept");
            }
            let cg_children = cri::leftovers::cgroup_dirs(&pod.cgroup)
                .into_iter()
                .map(|d| {
                    fs::read_dir(d)
                        .unwrap()
                        .flatten()
                        .filter(|e| e.file_type().unwrap().is_dir())
                        .count()
                })
                .max()
                .unwrap_or(0);
            assert!(cg_children <= 2, "cgroups pile up: {cg_children}");
        }
        pod.teardown();
    });
}
