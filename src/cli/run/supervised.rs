//! `rt run -d` with `--restart`, `--health-*`, `--stop-timeout` or
//! `--log-*` (and every `rt run -d --image`): the container gets a
//! supervisor (src/supervise/). A plain `rt run -d BUNDLE` stays runc's.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args as ClapArgs;

use super::Args;
use crate::cli::GlobalArgs;
use crate::log::Logger;
use crate::supervise::policy::Policy;
use crate::supervise::record::{self, Config, CreateConfig, HealthConfig, LogConfig};
use crate::supervise::units::{millis, parse_duration, parse_size};
use crate::supervise::{health, run_detached};
use crate::{Error, Result};

#[derive(Debug, Default, ClapArgs)]
pub struct Flags {
    /// With -d: no, on-failure[:N], always or unless-stopped.
    #[arg(long, value_parser = clap::value_parser!(Policy))]
    pub restart: Option<Policy>,
    /// First delay before a restart (doubled per quick failure) [100ms].
    #[arg(long, value_parser = parse_duration)]
    pub restart_delay: Option<Duration>,
    /// Longest delay between restarts [1m].
    #[arg(long, value_parser = parse_duration)]
    pub restart_max_delay: Option<Duration>,
    /// Time between the stop signal and SIGKILL [10s].
    #[arg(long, value_parser = parse_duration)]
    pub stop_timeout: Option<Duration>,
    /// Health probe run in the container: a shell command, or a JSON argv.
    #[arg(long)]
    pub health_cmd: Option<String>,
    /// Time between probes [30s].
    #[arg(long, value_parser = parse_duration)]
    pub health_interval: Option<Duration>,
    /// A probe running longer is killed and counts as failed [30s].
    #[arg(long, value_parser = parse_duration)]
    pub health_timeout: Option<Duration>,
    /// Failures in a row that make the container unhealthy [3].
    #[arg(long)]
    pub health_retries: Option<u32>,
    /// Failures in this time after a start do not count [0s].
    #[arg(long, value_parser = parse_duration)]
    pub health_start_period: Option<Duration>,
    /// CRI log of stdout and stderr [<root>/.supervise/ID/container.log].
    #[arg(long)]
    pub log_path: Option<PathBuf>,
    /// Rotate the log at this size; 0: never [10m].
    #[arg(long, value_parser = parse_size)]
    pub log_max_size: Option<u64>,
    /// Log files kept, the live one included [5].
    #[arg(long)]
    pub log_max_files: Option<u32>,
}

impl Flags {
    /// Was anything asked of a supervisor?
    pub fn given(&self) -> bool {
        self.restart.is_some()
            || self.restart_delay.is_some()
            || self.restart_max_delay.is_some()
            || self.stop_timeout.is_some()
            || self.health_cmd.is_some()
            || self.health_interval.is_some()
            || self.health_timeout.is_some()
            || self.health_retries.is_some()
            || self.health_start_period.is_some()
            || self.log_path.is_some()
            || self.log_max_size.is_some()
            || self.log_max_files.is_some()
    }

    fn config(
        &self,
        root: &Path,
        id: &str,
        bundle: PathBuf,
        owned: bool,
        create: CreateConfig,
    ) -> Result<Config> {
        let usage = |m: String| Error::Usage(m);
        let positive = |name: &str, d: Option<Duration>, default: Duration| -> Result<u64> {
            let d = d.unwrap_or(default);
            if d.is_zero() {
                return Err(usage(format!("--{name} must be more than 0")));
            }
            Ok(millis(d).max(1))
        };
        let delay = positive(
            "restart-delay",
            self.restart_delay,
            Duration::from_millis(100),
        )?;
        let max_delay = positive(
            "restart-max-delay",
            self.restart_max_delay,
            Duration::from_secs(60),
        )?;
        if max_delay < delay {
            return Err(usage(
                "--restart-max-delay is shorter than --restart-delay".into(),
            ));
        }
        let health = match &self.health_cmd {
            Some(cmd) => Some(HealthConfig {
                cmd: health::parse_cmd(cmd).map_err(usage)?,
                interval_ms: positive("health-interval", self.health_interval, Duration::from_secs(30))?,
                timeout_ms: positive("health-timeout", self.health_timeout, Duration::from_secs(30))?,
                retries: match self.health_retries {
                    Some(0) => return Err(usage("--health-retries must be at least 1".into())),
                    r => r.unwrap_or(3),
                },
                start_period_ms: millis(self.health_start_period.unwrap_or_default()),
            }),
            None if self.health_interval.is_some()
                || self.health_timeout.is_some()
                || self.health_retries.is_some()
                || self.health_start_period.is_some() =>
            {
                return Err(usage("--health-interval, --health-timeout, --health-retries and --health-start-period need --health-cmd".into()))
            }
            None => None,
        };
        let max_files = self.log_max_files.unwrap_or(5);
        if max_files == 0 {
            return Err(usage("--log-max-files must be at least 1".into()));
        }
        let log_path = match &self.log_path {
            Some(p) => absolute(p)?,
            None => record::dir_of(root, id).join(record::DEFAULT_LOG),
        };
        if let Some(parent) = log_path.parent().filter(|_| self.log_path.is_some()) {
            if !parent.is_dir() {
                return Err(usage(format!(
                    "--log-path {}: {} is not a directory",
                    log_path.display(),
                    parent.display()
                )));
            }
        }
        Ok(Config {
            bundle,
            owned_bundle: owned,
            restart: self.restart.unwrap_or(Policy::No),
            restart_delay_ms: delay,
            restart_max_delay_ms: max_delay,
            stop_timeout_ms: millis(self.stop_timeout.unwrap_or(Duration::from_secs(10))),
            health,
            log: LogConfig {
                path: log_path,
                max_size: self.log_max_size.unwrap_or(10 << 20),
                max_files,
            },
            create,
        })
    }
}

/// The supervisor runs in /, so every path it keeps must be absolute.
fn absolute(p: &Path) -> Result<PathBuf> {
    std::path::absolute(p).map_err(|e| Error::io(format!("resolve {}", p.display()), e))
}

/// --log, --log-format and --debug, for the supervisor to use too.
pub fn global_args(g: &GlobalArgs) -> Vec<OsString> {
    let mut v = Vec::new();
    if let Some(l) = &g.log {
        v.push("--log".into());
        // The supervisor runs in /.
        v.push(
            std::path::absolute(l)
                .unwrap_or_else(|_| l.clone())
                .into_os_string(),
        );
        v.push("--log-format".into());
        v.push(g.log_format.clone().into());
    }
    if g.debug {
        v.push("--debug".into());
    }
    v
}

/// A container id must be free before an image is unpacked for it: the
/// bundle is named after it.
pub fn ensure_free(root: &Path, id: &str) -> Result<()> {
    if root.join(id).exists() || record::dir_of(root, id).exists() {
        return Err(crate::state::Error::Exists(id.to_string()).into());
    }
    Ok(())
}

/// Write the record and launch the supervisor; returns once the container
/// runs (or with the root cause why it could not start).
pub fn run(g: &GlobalArgs, a: &Args, id: &str, bundle: &Path, owned: bool) -> Result<u8> {
    let f = &a.flags;
    if a.no_subreaper {
        return Err(Error::Usage(
            "a supervisor is always a subreaper (it reaps the container's orphans): no --no-subreaper"
                .into(),
        ));
    }
    if f.console_socket.is_some() {
        return Err(Error::Usage("a supervised container has no terminal: its output goes to its log (no --console-socket)".into()));
    }
    if f.preserve_fds > 0 || crate::cli::listen_fds() > 0 {
        return Err(Error::Usage("a supervised container cannot keep descriptors across restarts (no --preserve-fds or LISTEN_FDS)".into()));
    }
    if super::wants_terminal(bundle) {
        return Err(Error::Usage("process.terminal is true: a supervised container's output goes to its log; set it to false".into()));
    }
    crate::state::validate_id(id)?;
    let create = CreateConfig {
        pid_file: f.pid_file.as_deref().map(absolute).transpose()?,
        no_pivot: f.no_pivot,
        no_new_keyring: f.no_new_keyring,
        rootless: g.rootless(),
        systemd_cgroup: g.systemd_cgroup,
    };
    let root = absolute(&g.root)?;
    let config = a
        .supervise
        .config(&root, id, absolute(bundle)?, owned, create)?;
    run_detached(&root, id, config, &global_args(g), &Logger::from_cli(g))?;
    Ok(0)
}
