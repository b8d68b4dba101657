//! process.terminal with --console-socket: the pty master reaches the caller
//! over SCM_RIGHTS and the process sees a terminal on fds 0-2.

mod common;

use std::io::Read;
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use common::console::ConsoleReceiver;
use common::Case;
use serde_json::json;

const T: Duration = Duration::from_secs(10);

/// Read the pty master until `needle` shows up, EOF/EIO, or the timeout.
fn read_until(master: OwnedFd, needle: &str) -> String {
    let mut f = std::fs::File::from(master);
    let fd = std::os::unix::io::AsRawFd::as_raw_fd(&f);
    // SAFETY: setting O_NONBLOCK on our own descriptor.
    unsafe { libc::fcntl(fd, libc::F_SETFL, libc::O_NONBLOCK) };
    let mut text = String::new();
    let end = Instant::now() + T;
    let mut buf = [0u8; 4096];
    while Instant::now() < end && !text.contains(needle) {
        match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => text.push_str(&String::from_utf8_lossy(&buf[..n])),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(10))
            }
            Err(_) => break,
        }
    }
    text
}

fn with_console(c: &mut Case) -> ConsoleReceiver {
    c.bundle.set("/process/terminal", json!(true));
    ConsoleReceiver::listen(&c.dir.join("console.sock"))
}

#[test]
fn console_socket_receives_pty_master() {
    let mut c = Case::new("console");
    let rx = with_console(&mut c);
    c.bundle.probe(&["tty"]);
    let sock = rx.path.to_string_lossy().into_owned();
    let out =
        c.rt.create_with(&c.bundle, &c.id, &["--console-socket", &sock]);
    out.expect_ok("create --console-socket");
    let master = rx.master_within(T).expect("pty master received");
    c.start().expect_ok("start");
    let text = read_until(master, "}");
    assert!(text.contains(r#""0":true,"1":true,"2":true"#), "{text:?}");
    assert!(text.contains(r#""stdin":"/dev/pts/0""#), "{text:?}");
    assert!(c.rt.wait_status(&c.id, "stopped", T));
    c.rt.delete(&c.id).expect_ok("delete");
    c.assert_nothing_left();
}

#[test]
fn console_size_applied() {
    let mut c = Case::new("console-size");
    let rx = with_console(&mut c);
    c.bundle
        .set("/process/consoleSize", json!({"height": 31, "width": 101}));
    c.bundle.args(&["sh", "-c", "echo size=$(stty size)"]);
    let sock = rx.path.to_string_lossy().into_owned();
    c.rt.create_with(&c.bundle, &c.id, &["--console-socket", &sock])
        .expect_ok("create");
    let master = rx.master_within(T).expect("pty master received");
    c.start().expect_ok("start");
    let text = read_until(master, "\n");
    assert!(text.contains("size=31 101"), "{text:?}");
    c.rt.delete_force(&c.id);
}

#[test]
fn terminal_without_console_socket_fails() {
    let mut c = Case::new("console-none");
    c.bundle.set("/process/terminal", json!(true));
    let out = c.create();
    c.assert_failed_cleanly(&out);
}

#[test]
fn console_socket_without_terminal_fails() {
    let c = Case::new("console-noterm");
    let rx = ConsoleReceiver::listen(&c.dir.join("console.sock"));
    let sock = rx.path.to_string_lossy().into_owned();
    let out =
        c.rt.create_with(&c.bundle, &c.id, &["--console-socket", &sock]);
    c.assert_failed_cleanly(&out);
}

#[test]
fn console_socket_missing_path_fails() {
    let mut c = Case::new("console-missing");
    c.bundle.set("/process/terminal", json!(true));
    let sock = c.dir.join("nobody-listens.sock");
    let out = c.rt.create_with(
        &c.bundle,
        &c.id,
        &["--console-socket", sock.to_str().unwrap()],
    );
    c.assert_failed_cleanly(&out);
}

/// `run` in the foreground with process.terminal and no console socket:
/// rt holds the pty master itself and copies between it and its own stdio,
/// which here is a terminal made by script(1).
#[test]
fn foreground_run_proxies_the_terminal() {
    let mut c = Case::new("console-fg");
    c.bundle.set("/process/terminal", json!(true));
    c.bundle.probe(&["tty"]);
    c.bundle.save();
    let cmd = format!(
        "{} --root {} run --bundle {} {}; echo EXIT=$?",
        c.rt.bin.display(),
        c.rt.root.display(),
        c.bundle.dir.display(),
        c.id
    );
    let out = std::process::Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run script(1)");
    let text = String::from_utf8_lossy(&out.stdout).replace('\r', "");
    // script(1) may echo control characters ahead of the output.
    let json_line = text
        .lines()
        .find_map(|l| l.find('{').map(|i| &l[i..]))
        .unwrap_or_else(|| panic!("no probe output through the terminal: {text}"));
    let v: serde_json::Value = serde_json::from_str(json_line).unwrap();
    for fd in ["0", "1", "2"] {
        assert_eq!(v[fd], true, "fd {fd} is the terminal: {v}");
    }
    assert!(text.contains("EXIT=0"), "{text}");
    c.assert_nothing_left();
}
