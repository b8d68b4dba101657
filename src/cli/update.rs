//! `rt update [--resources FILE|-] [flags] ID`: change a live container's
//! limits. Every flag is applied (none is parsed and dropped): flags are
//! merged over the --resources JSON, then the whole set goes through the
//! cgroup manager's validation and is written.

use std::io::Read;

use clap::Args as ClapArgs;
use oci_spec::runtime::LinuxResources;
use serde_json::{json, Map, Value};

use super::GlobalArgs;
use crate::container::Container;
use crate::state::Status;
use crate::{Error, Result};

#[derive(Debug, ClapArgs)]
pub struct Args {
    /// A linux.resources JSON file, or - for stdin.
    #[arg(short, long)]
    pub resources: Option<String>,
    /// CPU shares (relative weight).
    #[arg(long)]
    pub cpu_shares: Option<u64>,
    /// CFS period in µs.
    #[arg(long)]
    pub cpu_period: Option<u64>,
    /// CFS quota in µs (-1: none).
    #[arg(long, allow_hyphen_values = true)]
    pub cpu_quota: Option<i64>,
    /// Realtime period in µs.
    #[arg(long)]
    pub cpu_rt_period: Option<u64>,
    /// Realtime runtime in µs.
    #[arg(long, allow_hyphen_values = true)]
    pub cpu_rt_runtime: Option<i64>,
    /// CPUs allowed (0-3, 0,1).
    #[arg(long)]
    pub cpuset_cpus: Option<String>,
    /// Memory nodes allowed.
    #[arg(long)]
    pub cpuset_mems: Option<String>,
    /// Memory limit (bytes, or with k/m/g/t suffix; -1: unlimited).
    #[arg(long, allow_hyphen_values = true)]
    pub memory: Option<String>,
    /// Memory soft limit.
    #[arg(long, allow_hyphen_values = true)]
    pub memory_reservation: Option<String>,
    /// Memory plus swap limit (-1: unlimited swap).
    #[arg(long, allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Maximum number of pids (-1: unlimited).
    #[arg(long, allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Block IO weight (10..1000).
    #[arg(long)]
    pub blkio_weight: Option<u16>,
    /// Container id.
    pub id: String,
}

/// "512m", "1G", "1048576", "-1": bytes (binary multiples, like runc).
pub fn parse_bytes(s: &str) -> Result<i64> {
    let bad = || {
        Error::Usage(format!(
            "invalid size {s:?}: use bytes or a k, m, g, t suffix"
        ))
    };
    let t = s.trim().to_ascii_lowercase();
    if t == "-1" {
        return Ok(-1);
    }
    let t = t
        .strip_suffix("ib")
        .or_else(|| t.strip_suffix('b'))
        .unwrap_or(&t);
    let (num, mult) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 1i64 << 10),
        Some('m') => (&t[..t.len() - 1], 1 << 20),
        Some('g') => (&t[..t.len() - 1], 1 << 30),
        Some('t') => (&t[..t.len() - 1], 1 << 40),
        _ => (t, 1),
    };
    let n: i64 = num.parse().map_err(|_| bad())?;
    if n < 0 {
        return Err(bad());
    }
    n.checked_mul(mult).ok_or_else(bad)
}

fn read_resources(src: &str) -> Result<Value> {
    let mut text = String::new();
    if src == "-" {
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| Error::io("read resources from stdin", e))?;
    } else {
        text = std::fs::read_to_string(src).map_err(|e| Error::io(format!("read {src}"), e))?;
    }
    let v: Value = serde_json::from_str(&text)
        .map_err(|e| Error::Usage(format!("parse resources {src}: {e}")))?;
    if !v.is_object() {
        return Err(Error::Usage(format!("resources {src}: not a JSON object")));
    }
    Ok(v)
}

fn set(obj: &mut Map<String, Value>, section: &str, key: &str, v: Value) {
    let s = obj.entry(section).or_insert_with(|| json!({}));
    if let Some(s) = s.as_object_mut() {
        s.insert(key.to_string(), v);
    }
}

/// The resources an invocation asks for: the file's, then every flag.
pub fn resources(a: &Args) -> Result<LinuxResources> {
    let mut v = match &a.resources {
        Some(src) => read_resources(src)?,
        None => json!({}),
    };
    let obj = v
        .as_object_mut()
        .ok_or_else(|| Error::Usage("resources".into()))?;
    let cpu: [(&str, Option<Value>); 7] = [
        ("shares", a.cpu_shares.map(Value::from)),
        ("period", a.cpu_period.map(Value::from)),
        ("quota", a.cpu_quota.map(Value::from)),
        ("realtimePeriod", a.cpu_rt_period.map(Value::from)),
        ("realtimeRuntime", a.cpu_rt_runtime.map(Value::from)),
        ("cpus", a.cpuset_cpus.clone().map(Value::from)),
        ("mems", a.cpuset_mems.clone().map(Value::from)),
    ];
    for (k, val) in cpu {
        if let Some(val) = val {
            set(obj, "cpu", k, val);
        }
    }
    for (k, val) in [
        ("limit", &a.memory),
        ("reservation", &a.memory_reservation),
        ("swap", &a.memory_swap),
    ] {
        if let Some(s) = val {
            set(obj, "memory", k, parse_bytes(s)?.into());
        }
    }
    if let Some(p) = a.pids_limit {
        set(obj, "pids", "limit", p.into());
    }
    if let Some(w) = a.blkio_weight {
        set(obj, "blockIO", "weight", w.into());
    }
    serde_json::from_value(v).map_err(|e| Error::Usage(format!("invalid resources: {e}")))
}

pub fn run(g: &GlobalArgs, a: Args) -> Result<u8> {
    let r = resources(&a)?;
    let c = Container::load(&g.root, &a.id)?;
    c.require(
        "update",
        &[Status::Created, Status::Running, Status::Paused],
        "created, running or paused",
    )?;
    c.cgroup()?.update(&r)?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct T {
        #[command(flatten)]
        a: Args,
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_bytes("1048576").unwrap(), 1 << 20);
        assert_eq!(parse_bytes("512m").unwrap(), 512 << 20);
        assert_eq!(parse_bytes("2G").unwrap(), 2 << 30);
        assert_eq!(parse_bytes("4kb").unwrap(), 4096);
        assert_eq!(parse_bytes("-1").unwrap(), -1);
        assert!(parse_bytes("-2").is_err());
        assert!(parse_bytes("12x").is_err());
        assert!(parse_bytes("99999999999t").is_err());
    }

    #[test]
    fn every_flag_lands_in_resources() {
        let t = T::parse_from([
            "x",
            "--cpu-shares",
            "512",
            "--cpu-period",
            "100000",
            "--cpu-quota",
            "-1",
            "--cpu-rt-period",
            "1000000",
            "--cpu-rt-runtime",
            "0",
            "--cpuset-cpus",
            "0",
            "--cpuset-mems",
            "0",
            "--memory",
            "64m",
            "--memory-reservation",
            "32m",
            "--memory-swap",
            "-1",
            "--pids-limit",
            "10",
            "--blkio-weight",
            "300",
            "id",
        ]);
        let r = resources(&t.a).unwrap();
        let c = r.cpu().clone().unwrap();
        assert_eq!(c.shares(), Some(512));
        assert_eq!(c.period(), Some(100000));
        assert_eq!(c.quota(), Some(-1));
        assert_eq!(c.realtime_period(), Some(1000000));
        assert_eq!(c.realtime_runtime(), Some(0));
        assert_eq!(c.cpus().as_deref(), Some("0"));
        assert_eq!(c.mems().as_deref(), Some("0"));
        let m = (*r.memory()).unwrap();
        assert_eq!(m.limit(), Some(64 << 20));
        assert_eq!(m.reservation(), Some(32 << 20));
        assert_eq!(m.swap(), Some(-1));
        assert_eq!(r.pids().unwrap().limit(), 10);
        assert_eq!(r.block_io().clone().unwrap().weight(), Some(300));
    }
}
