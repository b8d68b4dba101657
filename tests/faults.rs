//! Faults: rt killed with SIGKILL at any point of `create`. Whatever it
//! had made by then, `delete --force` removes: state, cgroups in every
//! hierarchy, mounts and processes; where it had written no state, nothing
//! is left at all. rt's test hook RT_TEST_KILL_AT=N (src/testpoint.rs)
//! makes it kill itself at the N-th step it reaches, so every step is hit
//! without timing; the loop ends at the first N the create completes with.

mod common;

use common::Case;

/// More steps than create has: the loop must have ended before.
const MAX_POINTS: u32 = 40;

fn killed_at_every_point(name: &str, edit: fn(&mut common::Bundle)) {
    for n in 1..=MAX_POINTS {
        let mut c = Case::with_kind(&format!("{name}-{n}"), common::Kind::Rt);
        edit(&mut c.bundle);
        c.bundle.probe(&["sleep", "60"]);
        c.bundle.save();
        let dir = c.bundle.dir.to_string_lossy().into_owned();
        let n_s = n.to_string();
        let out = c.rt.cmd_env(
            &["--debug", "create", "--bundle", &dir, &c.id],
            &[("RT_TEST_KILL_AT", &n_s)],
        );
        let finished = out.code == 0;
        assert!(
            finished || out.code == 128 + libc::SIGKILL,
            "step {n}: create neither finished nor was killed: {out:#?}"
        );
        let del = c.rt.delete_force(&c.id);
        del.expect_ok(&format!("delete --force after a kill at step {n}"));
        c.assert_nothing_left();
        if finished {
            assert!(n > 5, "create has more steps than {n}: {out:#?}");
            return;
        }
    }
    panic!("create was still being killed at step {MAX_POINTS}");
}

#[test]
fn killed_create_leaves_what_delete_removes() {
    killed_at_every_point("kill9", |_| {});
}

/// A time namespace needs an intermediate process, with a handshake of its
/// own; a prestart hook adds the hook round trip.
#[test]
fn killed_create_with_an_intermediate_and_hooks() {
    killed_at_every_point("kill9-ns", |b| {
        b.namespace("time", None);
        b.set(
            "/hooks/prestart",
            serde_json::json!([{"path": common::fixtures::busybox(), "args": ["true"]}]),
        );
    });
}
