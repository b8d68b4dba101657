//! What a Kubernetes node feels of its runtime, through containerd's CRI
//! (the tests/cri/ harness: a private containerd, handlers runc and rt):
//! pod start (RunPodSandbox to the first container running), an exec probe
//! (ExecSync of /bin/true) and pod teardown (kubelet's StopContainer,
//! StopPodSandbox, RemoveContainer, RemovePodSandbox). Handlers are
//! interleaved, the order alternating every round; medians, min-max and
//! the ratio rt/runc of the medians are printed as a table.
//!
//! sudo cargo bench --bench cri                        # rt as cargo built it (release)
//! sudo RT_CRI_RT=target/x86_64-unknown-linux-gnu/release/rt cargo bench --bench cri
//! RT_CRI_BENCH_ROUNDS=N (default 15), RT_CRI_BENCH_EXECS=N per pod (default 5)

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "../tests/cri/mod.rs"]
mod cri;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use cri::{Pod, PodOpts, HANDLERS};

fn env_num(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

type Samples = BTreeMap<(&'static str, &'static str), Vec<f64>>;

/// One pod's life with `handler`, timing its three phases.
fn round(h: &'static cri::Harness, handler: &'static str, execs: usize, out: &mut Samples) {
    let t = Instant::now();
    let mut pod = Pod::run(h, handler, "bench", PodOpts::default());
    // An application that ends on SIGTERM, so that teardown measures the
    // runtime rather than the grace period.
    let cfg = pod.container("app", &["/probe", "signal-wait"]);
    let c = pod.run_container(&cfg);
    let start = t.elapsed();
    let st = pod.status(&c);
    assert_eq!(st.state, cri::pod::RUNNING, "{handler}: {st:?}");
    out.entry(("pod start (RunPodSandbox to container running)", handler))
        .or_default()
        .push(ms(start));
    for _ in 0..execs {
        let t = Instant::now();
        let r = pod.exec(&c, &["/bin/true"]);
        let d = t.elapsed();
        assert_eq!(r.exit_code, 0, "{handler}: {r:?}");
        out.entry(("ExecSync /bin/true", handler))
            .or_default()
            .push(ms(d));
    }
    pod.wait_log("app", r#"{"waiting":true}"#, Duration::from_secs(30));
    let t = Instant::now();
    let steps = pod.stop_and_remove();
    out.entry(("pod teardown (stop + remove)", handler))
        .or_default()
        .push(ms(t.elapsed()));
    for (step, d) in steps {
        out.entry((step, handler)).or_default().push(ms(d));
    }
    pod.assert_clean();
}

fn main() {
    // `cargo bench` passes --bench; nothing else is understood.
    let Some(h) = cri::harness() else {
        eprintln!("bench: the CRI benchmark needs root, containerd and runc");
        std::process::exit(1);
    };
    let rounds = env_num("RT_CRI_BENCH_ROUNDS", 15);
    let execs = env_num("RT_CRI_BENCH_EXECS", 5);
    eprintln!(
        "bench: {rounds} rounds, {execs} execs per pod, rt = {}",
        cri::daemon::binary("rt").display()
    );
    // One untimed warm-up pod per handler (image snapshots, page cache).
    let mut warm = Samples::new();
    for handler in HANDLERS {
        round(h, handler, 1, &mut warm);
    }
    let mut samples = Samples::new();
    for i in 0..rounds {
        let mut order = HANDLERS;
        if i % 2 == 1 {
            order.reverse();
        }
        for handler in order {
            round(h, handler, execs, &mut samples);
        }
    }
    let rows: Vec<&str> = {
        let mut r: Vec<&str> = samples.keys().map(|(row, _)| *row).collect();
        r.dedup();
        r
    };
    println!("| median ms (min-max) | runc | rt | rt/runc |");
    println!("|---|---|---|---|");
    for row in [
        "pod start (RunPodSandbox to container running)",
        "ExecSync /bin/true",
        "pod teardown (stop + remove)",
        "StopContainer",
        "StopPodSandbox",
        "RemoveContainer",
        "RemovePodSandbox",
    ] {
        if !rows.contains(&row) {
            continue;
        }
        let mut cells = Vec::new();
        let mut meds = Vec::new();
        for handler in HANDLERS {
            let v = samples.get_mut(&(row, handler)).expect("samples");
            let (lo, hi) = v
                .iter()
                .fold((f64::MAX, f64::MIN), |(a, b), x| (a.min(*x), b.max(*x)));
            let m = median(v);
            meds.push(m);
            cells.push(format!("{m:.1} ({lo:.1}-{hi:.1})"));
        }
        let indent = if row.starts_with("Stop") || row.starts_with("Remove") {
            "- of which "
        } else {
            ""
        };
        println!(
            "| {indent}{row} | {} | {} | {:.2} |",
            cells[0],
            cells[1],
            meds[1] / meds[0]
        );
    }
}
