//! Log capture: the CRI format on disk, across restarts and rotations,
//! every line exactly once and in order per stream; long lines cut into
//! P...F records; `rt logs` reading it back and following it.

mod common;
mod supervise_util;

use supervise_util::{join_lines, read_log, status, Sup};

const PER_RUN: usize = 12_500;
const RUNS: usize = 4;
const BIG: usize = 1 << 20;

fn expected(stream: &str) -> Vec<Vec<u8>> {
    let mut v = Vec::new();
    for run in 1..=RUNS {
        for i in 0..PER_RUN {
            v.push(format!("{stream} {run} {i}").into_bytes());
        }
        if run == 2 && stream == "out" {
            v.push(vec![b'x'; BIG]);
        }
    }
    v
}

#[test]
fn lines_survive_restarts_and_rotations_exactly_once() {
    let Some(mut s) = Sup::new("sv-logs") else {
        return;
    };
    // Each run counts itself in a file of the (writable) rootfs, prints
    // its lines to both streams, run 2 adds a 1 MiB line, and all but the
    // last fail: 4 runs, 3 restarts, 100k lines.
    let script = format!(
        "n=$(cat /runs 2>/dev/null || echo 0); n=$((n+1)); echo $n > /runs; \
         i=0; while [ $i -lt {PER_RUN} ]; do echo \"out $n $i\"; echo \"err $n $i\" >&2; \
         i=$((i+1)); done; \
         if [ $n -eq 2 ]; then head -c {BIG} /dev/zero | tr '\\0' x; echo; fi; \
         [ $n -ge {RUNS} ]"
    );
    s.c.bundle.args(&["/bin/sh", "-c", &script]);
    s.c.bundle.readonly_root(false);
    let log = s.c.dir.join("out.log");
    let log_s = log.to_string_lossy().into_owned();
    s.run_d(&[
        "--restart",
        "on-failure",
        "--restart-delay",
        "50ms",
        "--log-path",
        &log_s,
        "--log-max-size",
        "256k",
        "--log-max-files",
        "1000",
    ])
    .expect_ok("run -d");
    let v = s.wait_for("the last run", |v| status(v)["phase"] == "stopped");
    assert_eq!(status(&v)["restartCount"], 3, "{v:#}");
    assert_eq!(status(&v)["lastExit"]["exitCode"], 0, "{v:#}");

    let recs = read_log(&log);
    let rotated = (1..).take_while(|n| s.c.dir.join(format!("out.log.{n}")).exists());
    assert!(rotated.count() >= 3, "several rotations expected");
    let (out, err) = join_lines(&recs);
    assert_eq!(out.len(), expected("out").len());
    assert!(out == expected("out"), "stdout lines differ");
    assert!(err == expected("err"), "stderr lines differ");
    // The big line: P records then one F, none longer than 16 KiB.
    let start = recs
        .iter()
        .position(|r| r.text.first() == Some(&b'x'))
        .unwrap();
    let end = start
        + recs[start..]
            .iter()
            .position(|r| r.tag == "F" && r.stream == "stdout")
            .unwrap();
    assert!(end - start >= 63, "1 MiB in {} records", end - start + 1);
    assert!(recs[start..end]
        .iter()
        .filter(|r| r.stream == "stdout")
        .all(|r| r.tag == "P"));

    // `rt logs` gives the same lines back, each stream on its own.
    let out = s.cmd(&["logs", s.id()]);
    out.expect_ok("logs");
    let want: Vec<u8> = expected("out")
        .iter()
        .flat_map(|l| l.iter().copied().chain([b'\n']))
        .collect();
    assert!(
        out.stdout.as_bytes() == want.as_slice(),
        "rt logs stdout differs"
    );
    assert_eq!(out.stderr.lines().count(), RUNS * PER_RUN);
    // The last two lines in the log's order (the two streams are read
    // from two pipes: how they interleave is the reader's, not the test's).
    let tail = s.cmd(&["logs", "--tail", "2", s.id()]);
    let last: Vec<_> = recs.iter().filter(|r| r.tag == "F").rev().take(2).collect();
    let of = |stream: &str| -> String {
        last.iter()
            .rev()
            .filter(|r| r.stream == stream)
            .map(|r| format!("{}\n", String::from_utf8_lossy(&r.text)))
            .collect()
    };
    assert_eq!(
        (tail.stdout.clone(), tail.stderr.clone()),
        (of("stdout"), of("stderr"))
    );
    let since = s.cmd(&["logs", "--since", "1m", s.id()]);
    assert_eq!(
        since.stderr.lines().count(),
        RUNS * PER_RUN,
        "all in the last minute"
    );
    let future = s.cmd(&["logs", "--since", "2999-01-01T00:00:00Z", s.id()]);
    assert_eq!((future.stdout.as_str(), future.stderr.as_str()), ("", ""));

    s.cmd(&["delete", s.id()]).expect_ok("delete");
    s.assert_all_gone(s.id());
    assert!(log.exists(), "a --log-path of the user's stays");
}

#[test]
fn follow_reads_across_rotations_until_the_supervisor_exits() {
    let Some(mut s) = Sup::new("sv-follow") else {
        return;
    };
    // Waits for a go from the test, so the follower is following (not
    // reading history) while the lines come and the log rotates.
    s.c.bundle.args(&[
        "/bin/sh",
        "-c",
        "echo waiting; while [ ! -e /dev/shm/go ]; do sleep 0.02; done; \
         i=0; while [ $i -lt 3000 ]; do echo \"line $i\"; i=$((i+1)); done",
    ]);
    s.run_d(&[
        "--restart",
        "no",
        "--log-max-size",
        "4k",
        "--log-max-files",
        "1000",
    ])
    .expect_ok("run -d");
    let follower = s.c.rt.spawn(&["logs", "-f", s.id()]);
    assert!(follower.wait_for_output("waiting", supervise_util::WAIT));
    s.cmd(&["exec", s.id(), "touch", "/dev/shm/go"])
        .expect_ok("exec");
    let out = follower.wait(supervise_util::WAIT);
    out.expect_ok("logs -f");
    let mut want = String::from("waiting\n");
    for i in 0..3000 {
        want.push_str(&format!("line {i}\n"));
    }
    if out.stdout != want {
        let got: Vec<&str> = out.stdout.lines().collect();
        let first = want
            .lines()
            .zip(&got)
            .position(|(w, g)| w != *g)
            .unwrap_or(got.len());
        panic!(
            "followed output differs from line {first}: {:?}, {} lines",
            &got[first.saturating_sub(2)..(first + 3).min(got.len())],
            got.len()
        );
    }
    let rotations = (1..)
        .take_while(|n| {
            s.record_dir(s.id())
                .join(format!("container.log.{n}"))
                .exists()
        })
        .count();
    assert!(rotations > 5, "the log rotated while followed");
    s.cmd(&["delete", s.id()]).expect_ok("delete");
    s.assert_all_gone(s.id());
}

#[test]
fn logs_of_an_unsupervised_container_is_a_clear_error() {
    let mut c = common::Case::new("sv-nolog");
    if !c.is_rt() {
        return;
    }
    c.bundle.probe(&["sleep", "30"]);
    c.create().expect_ok("create");
    let out = c.rt.cmd(&["logs", &c.id]);
    assert_ne!(out.code, 0);
    assert!(
        out.last_err_line().contains("no supervisor record"),
        "{out:#?}"
    );
    c.rt.delete_force(&c.id).expect_ok("delete");
    c.assert_nothing_left();
}

/// Lines per stream, a line left open at the end counted as a line (what
/// conmon leaves when a container exits mid-line).
fn lines_of(recs: &[supervise_util::Rec]) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let (mut po, mut pe): (Vec<u8>, Vec<u8>) = (Vec::new(), Vec::new());
    for r in recs {
        let (acc, lines) = if r.stream == "stdout" {
            (&mut po, &mut out)
        } else {
            (&mut pe, &mut err)
        };
        acc.extend_from_slice(&r.text);
        if r.tag == "F" {
            lines.push(std::mem::take(acc));
        }
    }
    if !po.is_empty() {
        out.push(po);
    }
    if !pe.is_empty() {
        err.push(pe);
    }
    (out, err)
}

/// The reference writer of this format here is conmon (podman's
/// k8s-file log driver): the same output must read back as the same lines
/// per stream, however each cuts them into records.
#[test]
fn the_log_reads_back_like_conmons() {
    let Some(mut s) = Sup::new("sv-conmon") else {
        return;
    };
    if !std::path::Path::new("/usr/bin/podman").exists() {
        eprintln!("note: needs podman (tests/setup.sh installs it)");
        return;
    }
    let script = "echo a; head -c 40000 /dev/zero | tr '\\0' y; echo; echo b >&2; \
                  printf 'c\\nd'; printf partial";
    // conmon's log, from a private podman.
    let pd = s.c.dir.join("podman");
    std::fs::create_dir_all(&pd).unwrap();
    let conf = pd.join("containers.conf");
    std::fs::write(
        &conf,
        format!(
            "[containers]\ndefault_ulimits = []\n[engine]\nlock_type = \"file\"\ntmp_dir = \"{}\"\n",
            pd.join("tmp").display()
        ),
    )
    .unwrap();
    common::fixtures::probe();
    let img = pd.join("image");
    let made = std::process::Command::new("bash")
        .arg(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("rootfs-fixtures/make-image.sh"))
        .arg(&img)
        .output()
        .unwrap();
    assert!(made.status.success(), "{made:?}");
    let conmon_log = pd.join("conmon.log");
    let podman = |args: &[&str]| {
        std::process::Command::new("timeout")
            .args(["-k", "10", "60", "podman"])
            .arg("--root")
            .arg(pd.join("root"))
            .arg("--runroot")
            .arg(pd.join("runroot"))
            .args(["--storage-driver", "vfs", "--cgroup-manager", "cgroupfs"])
            .args(["--events-backend", "file", "--runtime", "/usr/sbin/runc"])
            .args(args)
            .env("CONTAINERS_CONF", &conf)
            .output()
            .unwrap()
    };
    let image = format!("oci:{}:latest", img.display());
    let log_opt = format!("path={}", conmon_log.display());
    let o = podman(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--ulimit",
        "nofile=1024:1024",
        "--ulimit",
        "nproc=1024:1024",
        "--log-driver",
        "k8s-file",
        "--log-opt",
        &log_opt,
        &image,
        "/bin/sh",
        "-c",
        script,
    ]);
    let _ = podman(&["rmi", "--all", "--force"]);
    assert!(o.status.success(), "podman run: {o:?}");
    // Ours.
    s.c.bundle.args(&["/bin/sh", "-c", script]);
    s.run_d(&["--restart", "no"]).expect_ok("run -d");
    s.wait_for("the exit", |v| status(v)["phase"] == "stopped");
    let ours = read_log(&s.record_dir(s.id()).join("container.log"));
    let theirs = read_log(&conmon_log);
    assert!(!theirs.is_empty(), "conmon wrote nothing");
    let (ours, theirs) = (lines_of(&ours), lines_of(&theirs));
    assert!(
        ours == theirs,
        "ours {:?}\nconmon's {:?}",
        short(&ours),
        short(&theirs)
    );
    assert_eq!(ours.1, [b"b".to_vec()]);
    s.cmd(&["delete", s.id()]).expect_ok("delete");
    s.assert_all_gone(s.id());
}

fn short(v: &(Vec<Vec<u8>>, Vec<Vec<u8>>)) -> Vec<String> {
    v.0.iter()
        .chain(&v.1)
        .map(|l| {
            format!(
                "{}({})",
                String::from_utf8_lossy(&l[..l.len().min(8)]),
                l.len()
            )
        })
        .collect()
}
