//! `rt run -d --image`: an image run under a supervisor. The image's
//! StopSignal (its config, carried as an annotation) is what `rt stop`
//! sends; the unpacked bundle lives as long as the container.

mod common;
mod supervise_util;

use std::path::Path;
use std::process::Command;

use supervise_util::{status, Sup};

/// The sample image with StopSignal set to SIGUSR1 in its config.
fn image_with_stop_signal(dir: &Path) -> String {
    common::fixtures::probe();
    let img = dir.join("image");
    let out = Command::new("bash")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("rootfs-fixtures/make-image.sh"))
        .arg(&img)
        .output()
        .expect("run make-image.sh");
    assert!(out.status.success(), "make-image.sh: {out:?}");
    let tagged = format!("{}:latest", img.display());
    let out = Command::new("umoci")
        .args([
            "config",
            "--image",
            &tagged,
            "--config.stopsignal",
            "SIGUSR1",
        ])
        .output()
        .expect("run umoci");
    assert!(out.status.success(), "umoci config: {out:?}");
    img.display().to_string()
}

#[test]
fn an_image_runs_supervised_and_stops_with_its_stop_signal() {
    let Some(s) = Sup::new("sv-image") else {
        return;
    };
    let img = image_with_stop_signal(&s.c.dir);
    let id = s.id().to_string();
    let run = |cmd: &[&str]| {
        let mut args = vec!["run", "-d", "--image", &img, "--name", &id];
        args.extend_from_slice(&["--restart", "always", "--restart-delay", "50ms", "--"]);
        args.extend_from_slice(cmd);
        s.cmd(&args)
    };
    run(&["/probe", "signal-wait"]).expect_ok("run -d --image");
    let bundle = s.c.rt.root.join(".image-bundles").join(&id);
    assert!(bundle.join("config.json").exists(), "the bundle stays");
    // A second container cannot take the id (nor its bundle).
    let twice = run(&["/probe", "signal-wait"]);
    assert_ne!(twice.code, 0, "{twice:#?}");
    assert!(
        twice.last_err_line().contains("already exists"),
        "{twice:#?}"
    );
    assert!(
        bundle.join("config.json").exists(),
        "the first bundle is intact"
    );

    s.cmd(&["stop", &id]).expect_ok("stop");
    let v = s.inspect();
    assert_eq!(status(&v)["lastExit"]["exitCode"], 10, "SIGUSR1: {v:#}");
    let logs = s.cmd(&["logs", &id]);
    assert!(logs.stdout.contains("\"signal\":\"SIGUSR1\""), "{logs:#?}");
    s.cmd(&["delete", &id]).expect_ok("delete");
    assert!(!bundle.exists(), "the bundle goes with the container");
    s.assert_all_gone(&id);
}
