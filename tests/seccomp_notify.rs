//! SCMP_ACT_NOTIFY: rt hands the listener descriptor and the container
//! process state to the agent at listenerPath, once per process that
//! loads the filter (the init, then each exec); the agent's answers are
//! what the container sees.

mod common;

use std::io::{IoSliceMut, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::sync::mpsc;
use std::thread;

use common::Case;
use libseccomp::{ScmpNotifReq, ScmpNotifResp, ScmpNotifRespFlags};
use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
use serde_json::{json, Value};

/// One connection: the state JSON and the descriptor that came with it.
fn receive(conn: &std::os::unix::net::UnixStream) -> (Value, OwnedFd) {
    let mut buf = vec![0u8; 64 * 1024];
    let mut cbuf = nix::cmsg_space!([RawFd; 4]);
    let (n, fd) = {
        let mut iov = [IoSliceMut::new(&mut buf)];
        let m = recvmsg::<()>(
            conn.as_raw_fd(),
            &mut iov,
            Some(&mut cbuf),
            MsgFlags::empty(),
        )
        .expect("recvmsg");
        let mut fd = None;
        for c in m.cmsgs().expect("cmsgs") {
            if let ControlMessageOwned::ScmRights(fds) = c {
                // SAFETY: the kernel installed this descriptor for us.
                fd = fds.first().map(|f| unsafe { OwnedFd::from_raw_fd(*f) });
            }
        }
        (m.bytes, fd)
    };
    let mut data = buf[..n].to_vec();
    let mut rest = Vec::new();
    let mut conn = conn;
    conn.read_to_end(&mut rest).expect("read the rest");
    data.extend_from_slice(&rest);
    let v: Value = serde_json::from_slice(&data).expect("state JSON");
    (v, fd.expect("a descriptor with the state"))
}

enum Event {
    State(Value),
    Answered(String),
}

/// The agent: for each connection, report the state, then answer every
/// notification on that listener with success (0) without doing the
/// syscall, reporting the syscall's name.
fn agent(sock: &Path) -> mpsc::Receiver<Event> {
    let listener = UnixListener::bind(sock).expect("bind agent socket");
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        while let Ok((conn, _)) = listener.accept() {
            let (state, fd) = receive(&conn);
            let _ = tx.send(Event::State(state));
            let tx = tx.clone();
            thread::spawn(move || {
                while let Ok(req) = ScmpNotifReq::receive(fd.as_raw_fd()) {
                    let name = req.data.syscall.get_name().unwrap_or_default();
                    let resp = ScmpNotifResp::new_val(req.id, 0, ScmpNotifRespFlags::empty());
                    let _ = resp.respond(fd.as_raw_fd());
                    let _ = tx.send(Event::Answered(name));
                }
            });
        }
    });
    rx
}

fn next_state(rx: &mpsc::Receiver<Event>) -> Value {
    loop {
        match rx.recv_timeout(std::time::Duration::from_secs(20)) {
            Ok(Event::State(v)) => return v,
            Ok(Event::Answered(_)) => continue,
            Err(e) => panic!("no state from rt: {e}"),
        }
    }
}

fn next_answer(rx: &mpsc::Receiver<Event>) -> String {
    loop {
        match rx.recv_timeout(std::time::Duration::from_secs(20)) {
            Ok(Event::Answered(n)) => return n,
            Ok(Event::State(_)) => continue,
            Err(e) => panic!("no notification: {e}"),
        }
    }
}

#[test]
fn agent_answers_for_the_container() {
    let mut c = Case::new("seccomp-notify");
    let sock = c.dir.join("agent.sock");
    let rx = agent(&sock);
    c.bundle.set(
        "/linux/seccomp",
        json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "listenerPath": sock,
            "listenerMetadata": "test-agent-v1",
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}]
        }),
    );
    c.bundle.readonly_root(false);
    c.bundle.probe(&["sleep", "30"]);
    c.rt.run_with(&c.bundle, &c.id, &["--detach"])
        .expect_ok("run --detach");
    let state = next_state(&rx);
    assert_eq!(state["fds"], json!(["seccompFd"]), "{state}");
    assert_eq!(state["metadata"], "test-agent-v1", "{state}");
    assert_eq!(state["state"]["id"], c.id.as_str(), "{state}");
    let pid = c.rt.state_json(&c.id)["pid"].clone();
    assert_eq!(state["pid"], pid, "{state}");
    // The exec'd process loads the filter too: its own listener. (runc
    // 1.1.5 never delivers the exec's listener here: its exec hangs.)
    if !c.is_rt() {
        return;
    }
    let out =
        c.rt.cmd(&["exec", &c.id, "/probe", "mkdir", "/tmp/answered"]);
    out.expect_ok("exec");
    let state = next_state(&rx);
    assert_eq!(state["state"]["status"], "running", "{state}");
    let syscall = next_answer(&rx);
    assert!(syscall.starts_with("mkdir"), "{syscall}");
    // The agent said yes without making it.
    assert_eq!(out.json()["ok"], true, "{out:#?}");
    assert!(!c.bundle.rootfs().join("tmp/answered").exists());
    c.rt.delete_force(&c.id).expect_ok("delete --force");
    c.assert_nothing_left();
}

/// An agent that is not there fails `create` and leaves nothing.
#[test]
fn missing_agent_fails_cleanly() {
    let mut c = Case::new("seccomp-noagent");
    let sock = c.dir.join("nobody.sock");
    c.bundle.set(
        "/linux/seccomp",
        json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "listenerPath": sock,
            "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]
        }),
    );
    let out = c.create();
    c.assert_failed_cleanly(&out);
    if c.is_rt() {
        assert!(out.last_err_line().contains("nobody.sock"), "{out:#?}");
    }
}
