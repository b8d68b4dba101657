//! process.* fields of config.json, each checked from inside with the probe.

mod common;

use common::Case;

#[test]
fn args_exit_code() {
    let mut c = Case::new("args-exit");
    c.bundle.probe(&["exit", "3"]);
    let out = c.run();
    assert_eq!(out.code, 3, "{out:#?}");
    c.assert_nothing_left();
}
