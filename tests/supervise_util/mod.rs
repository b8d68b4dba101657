//! Helpers for the supervisor's tests (tests/supervise_*.rs): start a
//! supervised container, read its record through `rt inspect`, wait for a
//! state of the record (never for a time), and check that nothing of it
//! is left: the harness's checks plus the record directory and the
//! supervisor process, which the harness does not know about.
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{Case, Out};

/// Generous: the suite runs on a loaded 2-core VM. Waiting ends as soon
/// as the record says what is waited for.
pub const WAIT: Duration = Duration::from_secs(30);

pub struct Sup {
    pub c: Case,
}

impl Sup {
    /// None (with a note) under runc: it has no supervisor.
    pub fn new(name: &str) -> Option<Sup> {
        let c = Case::new(name);
        if !c.is_rt() {
            eprintln!("note: the supervisor is rt's own: not run under runc");
            return None;
        }
        Some(Sup { c })
    }

    pub fn id(&self) -> &str {
        &self.c.id
    }

    /// `rt run -d --bundle B extra... ID`
    pub fn run_d(&self, extra: &[&str]) -> Out {
        self.run_d_as(&self.c.id, extra)
    }

    pub fn run_d_as(&self, id: &str, extra: &[&str]) -> Out {
        self.c.bundle.save();
        let dir = self.c.bundle.dir.to_string_lossy().into_owned();
        let mut args = vec!["run", "-d", "--bundle", &dir];
        args.extend_from_slice(extra);
        args.push(id);
        self.c.rt.cmd(&args)
    }

    pub fn cmd(&self, args: &[&str]) -> Out {
        self.c.rt.cmd(args)
    }

    /// `rt inspect ID`, parsed.
    #[track_caller]
    pub fn inspect(&self) -> Value {
        self.inspect_id(&self.c.id)
    }

    #[track_caller]
    pub fn inspect_id(&self, id: &str) -> Value {
        let out = self.cmd(&["inspect", id]);
        out.expect_ok("inspect");
        serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("inspect JSON: {e}: {out:#?}"))
    }

    /// Poll the record until `pred` holds; panics with the last record.
    #[track_caller]
    pub fn wait_for(&self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        self.wait_for_id(&self.c.id, what, pred)
    }

    #[track_caller]
    pub fn wait_for_id(&self, id: &str, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let end = Instant::now() + WAIT;
        loop {
            let v = self.inspect_id(id);
            if pred(&v) {
                return v;
            }
            if Instant::now() > end {
                panic!("timed out waiting for {what}: {v:#}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn record_dir(&self, id: &str) -> PathBuf {
        self.c.rt.root.join(".supervise").join(id)
    }

    /// The live supervisor's pid (0: none).
    pub fn supervisor_pid(&self) -> i32 {
        status(&self.inspect())["supervisorPid"]
            .as_i64()
            .unwrap_or(0) as i32
    }

    /// Everything the harness checks, plus no record and no supervisor.
    #[track_caller]
    pub fn assert_all_gone(&self, id: &str) {
        let rd = self.record_dir(id);
        assert!(!rd.exists(), "record dir {} is left", rd.display());
        let sups = supervisor_processes(id);
        assert!(
            sups.is_empty(),
            "supervisor process(es) {sups:?} of {id} left"
        );
        let c = &self.c;
        common_nothing_left(c, id);
    }
}

fn common_nothing_left(c: &Case, id: &str) {
    crate::common::assert_nothing_left(&c.rt.root, id, &c.bundle.cgroup_rel(id, c.rt.kind), &c.dir);
}

impl Drop for Sup {
    fn drop(&mut self) {
        // After a failure: the harness's own cleanup (delete --force) runs
        // when the Case drops; a supervisor it could not reach is killed
        // here so no test leaves a daemon behind.
        let _ = self.c.rt.delete_force(&self.c.id);
        for pid in supervisor_processes(&self.c.id) {
            // SAFETY: killing a supervisor this test started.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
}

pub fn status(v: &Value) -> &Value {
    &v["supervisor"]["status"]
}

/// How often the supervisor restarted the container.
pub fn count(v: &Value) -> u64 {
    status(v)["restartCount"].as_u64().unwrap_or(0)
}

/// Supervisor processes for `id`: `rt ... supervise ... ID`, not counting
/// their short-lived workers (forks with the same command line).
pub fn supervisors_of(id: &str) -> Vec<i32> {
    let all = supervisor_processes(id);
    all.iter()
        .copied()
        .filter(|p| !all.contains(&ppid(*p)))
        .collect()
}

fn ppid(pid: i32) -> i32 {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    stat.rsplit(')')
        .next()
        .and_then(|r| r.split_whitespace().nth(1))
        .and_then(|p| p.parse().ok())
        .unwrap_or(0)
}

/// Supervisors and their workers.
pub fn supervisor_processes(id: &str) -> Vec<i32> {
    let mut out = Vec::new();
    let Ok(rd) = fs::read_dir("/proc") else {
        return out;
    };
    for e in rd.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let cmd = fs::read(e.path().join("cmdline")).unwrap_or_default();
        let args: Vec<&[u8]> = cmd.split(|b| *b == 0).collect();
        let is_sup = args.contains(&&b"supervise"[..]);
        if is_sup && args.contains(&id.as_bytes()) {
            out.push(pid);
        }
    }
    out
}

/// Processes whose command line is exactly `argv` and whose environment
/// carries the test marker of `id` (the container's, and its execs').
pub fn processes_running(id: &str, argv: &[&str]) -> Vec<i32> {
    let marker = format!("RT_TEST_ID={id}");
    let want: Vec<u8> = argv.iter().flat_map(|a| a.bytes().chain([0])).collect();
    let mut out = Vec::new();
    for e in fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let cmd = fs::read(e.path().join("cmdline")).unwrap_or_default();
        let env = fs::read(e.path().join("environ")).unwrap_or_default();
        if cmd == want && env.split(|b| *b == 0).any(|kv| kv == marker.as_bytes()) {
            out.push(pid);
        }
    }
    out
}

/// Wait (bounded) until `cond` holds; false if it never did.
pub fn eventually(cond: impl Fn() -> bool) -> bool {
    let end = Instant::now() + WAIT;
    while !cond() {
        if Instant::now() > end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    true
}

/// Wait (bounded) for a process to have exited (a zombie counts: its
/// parent may be an init that reaps only now and then).
pub fn wait_dead(pid: i32) -> bool {
    let end = Instant::now() + WAIT;
    loop {
        let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let state = stat
            .rsplit(')')
            .next()
            .and_then(|r| r.split_whitespace().next());
        if matches!(state, None | Some("Z") | Some("X")) {
            return true;
        }
        if Instant::now() > end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Wait (bounded) for a process to be gone: exited and reaped.
pub fn wait_gone(pid: i32) -> bool {
    let end = Instant::now() + WAIT;
    while Path::new(&format!("/proc/{pid}")).exists() {
        if Instant::now() > end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    true
}

/// One CRI log record.
#[derive(Debug, Clone)]
pub struct Rec {
    pub ts: String,
    pub stream: String,
    pub tag: String,
    pub text: Vec<u8>,
}

/// Every record of a log and its rotated files, oldest first.
pub fn read_log(path: &Path) -> Vec<Rec> {
    let mut files = Vec::new();
    for n in 1.. {
        let p = PathBuf::from(format!("{}.{n}", path.display()));
        if !p.exists() {
            break;
        }
        files.push(p);
    }
    files.reverse();
    files.push(path.to_path_buf());
    let mut out = Vec::new();
    for f in files {
        let data = fs::read(&f).unwrap_or_default();
        assert!(
            data.is_empty() || data.ends_with(b"\n"),
            "{} ends mid-record",
            f.display()
        );
        for line in data.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            let mut it = line.splitn(4, |b| *b == b' ');
            let ts = String::from_utf8_lossy(it.next().unwrap_or_default()).into_owned();
            let stream = String::from_utf8_lossy(it.next().unwrap_or_default()).into_owned();
            let tag = String::from_utf8_lossy(it.next().unwrap_or_default()).into_owned();
            let text = it.next().unwrap_or_default().to_vec();
            out.push(Rec {
                ts,
                stream,
                tag,
                text,
            });
        }
    }
    out
}

/// RFC 3339 with nanoseconds, in UTC: 2026-01-02T03:04:05.123456789Z.
pub fn is_rfc3339_nano(ts: &str) -> bool {
    let b = ts.as_bytes();
    b.len() == 30
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && b[19] == b'.'
        && b[29] == b'Z'
        && b.iter()
            .enumerate()
            .all(|(i, c)| [4, 7, 10, 13, 16, 19, 29].contains(&i) || c.is_ascii_digit())
}

/// Lines per stream with their `P` pieces joined; checks every record's
/// shape on the way.
#[track_caller]
pub fn join_lines(recs: &[Rec]) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let (mut po, mut pe): (Vec<u8>, Vec<u8>) = (Vec::new(), Vec::new());
    for r in recs {
        assert!(is_rfc3339_nano(&r.ts), "timestamp {:?}", r.ts);
        assert!(r.tag == "F" || r.tag == "P", "tag {:?}", r.tag);
        assert!(
            r.text.len() <= 16 * 1024,
            "record of {} bytes",
            r.text.len()
        );
        let (acc, lines) = match r.stream.as_str() {
            "stdout" => (&mut po, &mut out),
            "stderr" => (&mut pe, &mut err),
            s => panic!("stream {s:?}"),
        };
        acc.extend_from_slice(&r.text);
        if r.tag == "F" {
            lines.push(std::mem::take(acc));
        }
    }
    assert!(po.is_empty() && pe.is_empty(), "a line was left unfinished");
    (out, err)
}
