//! Checks on `linux.resources` that need no kernel: done before any file is
//! written so that bad input leaves nothing half-applied.

use oci_spec::runtime::{LinuxDeviceType, LinuxResources};

use super::convert;
use super::{Error, Result};

fn bad(field: &str, reason: impl Into<String>) -> Error {
    Error::Invalid {
        field: field.to_string(),
        reason: reason.into(),
    }
}

/// -1 (unlimited), 0 (unset) or a positive count.
fn limit(field: &str, v: Option<i64>) -> Result<()> {
    match v {
        Some(v) if v < -1 => Err(bad(
            field,
            format!("{v} is negative (use -1 for unlimited)"),
        )),
        _ => Ok(()),
    }
}

pub fn resources(r: &LinuxResources) -> Result<()> {
    if let Some(m) = r.memory() {
        limit("memory.limit", m.limit())?;
        limit("memory.reservation", m.reservation())?;
        limit("memory.swap", m.swap())?;
        limit("memory.kernel", m.kernel())?;
        limit("memory.kernelTCP", m.kernel_tcp())?;
        if let Some(s) = m.swappiness() {
            if s > 100 {
                return Err(bad("memory.swappiness", format!("{s} is above 100")));
            }
        }
        convert::swap_to_v2(m.swap(), m.limit()).map_err(|e| bad("memory.swap", e))?;
    }
    if let Some(c) = r.cpu() {
        if let Some(s) = c.shares() {
            if s > 262144 {
                return Err(bad("cpu.shares", format!("{s} is above 262144")));
            }
        }
        if let Some(q) = c.quota() {
            if q < -1 || (0..1000).contains(&q) && q != 0 {
                return Err(bad(
                    "cpu.quota",
                    format!("{q} must be -1 or at least 1000 (µs)"),
                ));
            }
        }
        if let Some(p) = c.period() {
            if p != 0 && !(1000..=1_000_000).contains(&p) {
                return Err(bad("cpu.period", format!("{p} must be 1000..1000000 (µs)")));
            }
        }
        if let (Some(b), Some(q)) = (c.burst(), c.quota()) {
            if q > 0 && b > q as u64 {
                return Err(bad("cpu.burst", format!("{b} exceeds the quota {q}")));
            }
        }
        limit("cpu.realtimeRuntime", c.realtime_runtime())?;
        if let Some(i) = c.idle() {
            if i != 0 && i != 1 {
                return Err(bad("cpu.idle", format!("{i} must be 0 or 1")));
            }
        }
        for (f, v) in [("cpu.cpus", c.cpus()), ("cpu.mems", c.mems())] {
            if let Some(v) = v {
                if !crate::cgroups::util::valid_cpu_list(v) {
                    return Err(bad(f, format!("{v:?} is not a list like 0-3,5")));
                }
            }
        }
    }
    if let Some(p) = r.pids() {
        limit("pids.limit", Some(p.limit()))?;
    }
    if let Some(b) = r.block_io() {
        for (f, w) in [
            ("blockIO.weight", b.weight()),
            ("blockIO.leafWeight", b.leaf_weight()),
        ] {
            weight(f, w)?;
        }
        for d in b.weight_device().iter().flatten() {
            device_numbers("blockIO.weightDevice", d.major(), d.minor())?;
            weight("blockIO.weightDevice.weight", d.weight())?;
            weight("blockIO.weightDevice.leafWeight", d.leaf_weight())?;
        }
        for list in [
            b.throttle_read_bps_device(),
            b.throttle_write_bps_device(),
            b.throttle_read_iops_device(),
            b.throttle_write_iops_device(),
        ] {
            for d in list.iter().flatten() {
                device_numbers("blockIO.throttle", d.major(), d.minor())?;
            }
        }
    }
    for h in r.hugepage_limits().iter().flatten() {
        if convert::hugepage_size(h.page_size()).is_none() {
            return Err(bad(
                "hugepageLimits.pageSize",
                format!("{:?} is not like 2MB", h.page_size()),
            ));
        }
        if h.limit() < 0 {
            return Err(bad(
                "hugepageLimits.limit",
                format!("{} is negative", h.limit()),
            ));
        }
    }
    for d in r.devices().iter().flatten() {
        if let Some(a) = d.access() {
            if a.is_empty() || !a.chars().all(|c| "rwm".contains(c)) {
                return Err(bad(
                    "devices.access",
                    format!("{a:?} must be made of r, w, m"),
                ));
            }
        }
        for (f, n) in [("devices.major", d.major()), ("devices.minor", d.minor())] {
            if let Some(n) = n {
                if !(-1..=i64::from(i32::MAX)).contains(&n) {
                    return Err(bad(f, format!("{n} is out of range")));
                }
            }
        }
        if d.typ() == Some(LinuxDeviceType::P) && d.allow() {
            // FIFOs are not device nodes: the device controller never sees
            // them, so a rule for them would be silently meaningless.
            return Err(bad(
                "devices.type",
                "p (fifo) rules are not supported by the device controller",
            ));
        }
    }
    for (k, _) in r.unified().iter().flatten() {
        if k.is_empty() || k.contains('/') || k.starts_with('.') || !k.contains('.') {
            return Err(bad(
                "unified",
                format!("{k:?} is not a cgroup v2 file name"),
            ));
        }
        if k.starts_with("cgroup.")
            && !matches!(k.as_str(), "cgroup.max.depth" | "cgroup.max.descendants")
        {
            return Err(bad(
                "unified",
                format!("{k:?} is a core cgroup file rt manages itself"),
            ));
        }
    }
    Ok(())
}

fn weight(field: &str, w: Option<u16>) -> Result<()> {
    match w {
        Some(w) if w != 0 && !(10..=1000).contains(&w) => {
            Err(bad(field, format!("{w} must be 10..1000")))
        }
        _ => Ok(()),
    }
}

fn device_numbers(field: &str, major: i64, minor: i64) -> Result<()> {
    if major < 0 || minor < 0 || major > i64::from(u32::MAX) || minor > i64::from(u32::MAX) {
        return Err(bad(
            field,
            format!("{major}:{minor} is not a device number"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(j: &str) -> LinuxResources {
        serde_json::from_str(j).unwrap()
    }

    #[test]
    fn accepts_a_normal_config() {
        let r = parse(
            r#"{"memory":{"limit":1048576,"swap":2097152,"swappiness":10},
            "cpu":{"shares":512,"quota":20000,"period":100000,"cpus":"0-1"},
            "pids":{"limit":10},"blockIO":{"weight":500},
            "devices":[{"allow":false,"access":"rwm"},{"allow":true,"type":"c","major":1,"minor":3,"access":"rw"}],
            "hugepageLimits":[{"pageSize":"2MB","limit":0}],
            "unified":{"memory.high":"max"}}"#,
        );
        resources(&r).unwrap();
    }

    #[test]
    fn rejects_bad_values() {
        for j in [
            r#"{"memory":{"limit":-5}}"#,
            r#"{"memory":{"limit":100,"swap":50}}"#,
            r#"{"memory":{"swappiness":101}}"#,
            r#"{"cpu":{"quota":5}}"#,
            r#"{"cpu":{"period":10}}"#,
            r#"{"cpu":{"shares":99999999}}"#,
            r#"{"cpu":{"cpus":"1-0"}}"#,
            r#"{"cpu":{"idle":3}}"#,
            r#"{"pids":{"limit":-2}}"#,
            r#"{"blockIO":{"weight":5}}"#,
            r#"{"devices":[{"allow":true,"access":"rwx"}]}"#,
            r#"{"hugepageLimits":[{"pageSize":"2QB","limit":1}]}"#,
            r#"{"unified":{"../x":"1"}}"#,
            r#"{"unified":{"cgroup.procs":"1"}}"#,
        ] {
            let err = resources(&parse(j)).unwrap_err().to_string();
            assert!(err.contains("invalid linux.resources."), "{j}: {err}");
        }
        // An invalid device type never gets past parsing.
        assert!(serde_json::from_str::<LinuxResources>(
            r#"{"devices":[{"allow":true,"type":"x"}]}"#
        )
        .is_err());
    }
}
