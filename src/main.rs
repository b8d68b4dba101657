//! The `rt` binary: parse the command line, run one command, and turn any
//! error into the single final line that callers (people, containerd, conmon)
//! read as the root cause.

use std::process::ExitCode;

fn main() -> ExitCode {
    // Before anything else: no rt process may ever be dumpable (CVE-2019-5736).
    rt::security::exe::harden();
    let cli = rt::cli::parse();
    let log = rt::log::Logger::from_cli(&cli.global);
    rt::log::install(&log);
    match rt::cli::dispatch(cli) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            log.error(&err.to_string());
            ExitCode::FAILURE
        }
    }
}
