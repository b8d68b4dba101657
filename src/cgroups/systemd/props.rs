//! `linux.resources` as systemd unit properties. What systemd has a
//! property for goes to it (it owns those files and rewrites them on every
//! reload); the rest stays in a leftover `LinuxResources` that the manager
//! writes to the scope's files itself, as runc does.

use oci_spec::runtime::{LinuxBlockIo, LinuxDeviceCgroup, LinuxDeviceType, LinuxResources};

use super::Error;
use crate::cgroups::convert::{blkio_weight_to_io_weight, shares_to_weight, swap_to_v2};

/// A property value, in the D-Bus types systemd declares for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Bool(bool),
    Str(String),
    U64(u64),
    /// `ay`: AllowedCPUs, AllowedMemoryNodes.
    Bytes(Vec<u8>),
    /// `au`: PIDs.
    Pids(Vec<u32>),
    /// `a(st)`: IODeviceWeight, IO*BandwidthMax, IO*IOPSMax.
    PathU64(Vec<(String, u64)>),
    /// `a(ss)`: DeviceAllow.
    PathStr(Vec<(String, String)>),
}

pub type Property = (&'static str, Value);

/// systemd's "infinity" for the u64 limits.
const INFINITY: u64 = u64::MAX;

#[derive(Debug, Default)]
pub struct Split {
    pub props: Vec<Property>,
    /// What only the files can take.
    pub rest: LinuxResources,
}

fn limit(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(INFINITY)
}

/// Split `r` for a pure cgroup v2 host (`v2`) or a v1/hybrid one, where
/// systemd drives the v1 memory, cpu, blkio, pids and devices controllers
/// with its older property names. `devices` is the full rule list to
/// install, or None to leave device rules alone (an update without any).
pub fn split(
    r: &LinuxResources,
    devices: Option<&[LinuxDeviceCgroup]>,
    v2: bool,
) -> Result<Split, Error> {
    let mut s = Split {
        rest: r.clone(),
        ..Split::default()
    };
    s.rest.set_devices(None);
    if let Some(rules) = devices {
        let (policy, allow) = device_props(rules)?;
        s.props.push(("DevicePolicy", Value::Str(policy.into())));
        s.props.push(("DeviceAllow", Value::PathStr(allow)));
    }
    memory(r, v2, &mut s);
    cpu(r, v2, &mut s);
    if let Some(p) = r.pids() {
        let v = if p.limit() > 0 {
            p.limit() as u64
        } else {
            INFINITY
        };
        s.props.push(("TasksMax", Value::U64(v)));
        s.rest.set_pids(None);
    }
    if let Some(b) = r.block_io() {
        block_io(b, v2, &mut s);
    }
    if v2 {
        unified(r, &mut s);
    }
    Ok(s)
}

fn memory(r: &LinuxResources, v2: bool, s: &mut Split) {
    let Some(m) = r.memory() else { return };
    // A limit checked against current usage needs the files (the check
    // reads memory.current right before writing).
    if m.check_before_update() == Some(true) {
        return;
    }
    let mut rest = *m;
    if v2 {
        // swap_to_v2 refusals are the v2 file code's to report: leave the
        // section to it when the swap value cannot be converted.
        let Ok(swap) = swap_to_v2(m.swap(), m.limit()) else {
            return;
        };
        if let Some(l) = m.limit().filter(|v| *v != 0) {
            s.props.push(("MemoryMax", Value::U64(limit(l))));
        }
        if let Some(sw) = swap {
            s.props.push(("MemorySwapMax", Value::U64(limit(sw))));
        }
        if let Some(res) = m.reservation().filter(|v| *v != 0) {
            s.props.push(("MemoryLow", Value::U64(limit(res))));
        }
        rest.set_swap(None);
        rest.set_reservation(None);
    } else {
        // v1: only the hard limit has a systemd property; the soft limit
        // and memory+swap stay with the files. memsw is checked against
        // the limit and must be written in order with it (the kernel keeps
        // memsw >= limit at every step), so with a swap value the files
        // get the limit too, as runc writes every file after the
        // properties.
        if let Some(l) = m.limit().filter(|v| *v != 0) {
            s.props.push(("MemoryLimit", Value::U64(limit(l))));
        }
        if m.swap().is_some_and(|v| v != 0) {
            s.rest.set_memory(Some(rest));
            return;
        }
    }
    rest.set_limit(None);
    s.rest.set_memory(Some(rest));
}

fn cpu(r: &LinuxResources, v2: bool, s: &mut Split) {
    let Some(c) = r.cpu() else { return };
    let mut rest = c.clone();
    if let Some(sh) = c.shares().filter(|v| *v != 0) {
        if v2 {
            s.props
                .push(("CPUWeight", Value::U64(shares_to_weight(sh))));
        } else {
            s.props.push(("CPUShares", Value::U64(sh)));
        }
        rest.set_shares(None);
    }
    let quota = c.quota().filter(|q| *q != 0);
    let period = c.period().filter(|p| *p != 0);
    if let Some(p) = period {
        s.props.push(("CPUQuotaPeriodUSec", Value::U64(p)));
    }
    if let Some(q) = quota {
        let p = period.unwrap_or(100_000);
        let per_sec = match u64::try_from(q) {
            // systemd stores quota per second of CPU and writes back
            // max(per_sec * period / 1s, 1ms): round up, and let the files
            // take the exact value when that does not reproduce it.
            Ok(q) => (q * 1_000_000).div_ceil(p),
            Err(_) => INFINITY,
        };
        s.props.push(("CPUQuotaPerSecUSec", Value::U64(per_sec)));
        let exact = per_sec == INFINITY || reproduces(per_sec, p, q as u64);
        if exact {
            rest.set_quota(None);
            rest.set_period(None);
        }
    } else if period.is_some() {
        rest.set_period(None);
    }
    if v2 {
        if let Some(cpus) = c.cpus().as_deref().filter(|v| !v.is_empty()) {
            if let Some(b) = list_to_bits(cpus) {
                s.props.push(("AllowedCPUs", Value::Bytes(b)));
                rest.set_cpus(None);
            }
        }
        if let Some(mems) = c.mems().as_deref().filter(|v| !v.is_empty()) {
            if let Some(b) = list_to_bits(mems) {
                s.props.push(("AllowedMemoryNodes", Value::Bytes(b)));
                rest.set_mems(None);
            }
        }
    }
    s.rest.set_cpu(Some(rest));
}

/// systemd names block devices by path; /dev/block/MAJ:MIN is udev's link
/// to every block device node.
fn block_path(major: i64, minor: i64) -> String {
    format!("/dev/block/{major}:{minor}")
}

fn block_io(b: &LinuxBlockIo, v2: bool, s: &mut Split) {
    let leaf = b.leaf_weight().is_some()
        || b.weight_device()
            .iter()
            .flatten()
            .any(|d| d.leaf_weight().is_some());
    if leaf {
        return; // the file code reports what leaf weights need
    }
    let mut rest = b.clone();
    if !v2 {
        if let Some(w) = b.weight().filter(|w| *w != 0) {
            s.props.push(("BlockIOWeight", Value::U64(u64::from(w))));
            rest.set_weight(None);
        }
        s.rest.set_block_io(Some(rest));
        return;
    }
    if let Some(w) = b.weight().filter(|w| *w != 0) {
        let w = blkio_weight_to_io_weight(u64::from(w));
        s.props.push(("IOWeight", Value::U64(w)));
        rest.set_weight(None);
    }
    let weights: Vec<(String, u64)> = b
        .weight_device()
        .iter()
        .flatten()
        .filter_map(|d| {
            let w = blkio_weight_to_io_weight(u64::from(d.weight()?));
            Some((block_path(d.major(), d.minor()), w))
        })
        .collect();
    if !weights.is_empty() {
        s.props.push(("IODeviceWeight", Value::PathU64(weights)));
        rest.set_weight_device(None);
    }
    let throttles = [
        ("IOReadBandwidthMax", b.throttle_read_bps_device()),
        ("IOWriteBandwidthMax", b.throttle_write_bps_device()),
        ("IOReadIOPSMax", b.throttle_read_iops_device()),
        ("IOWriteIOPSMax", b.throttle_write_iops_device()),
    ];
    for (name, list) in throttles {
        let Some(list) = list else { continue };
        let v = list
            .iter()
            .map(|d| (block_path(d.major(), d.minor()), d.rate()))
            .collect();
        s.props.push((name, Value::PathU64(v)));
    }
    rest.set_throttle_read_bps_device(None);
    rest.set_throttle_write_bps_device(None);
    rest.set_throttle_read_iops_device(None);
    rest.set_throttle_write_iops_device(None);
    s.rest.set_block_io(Some(rest));
}

/// Raw cgroup v2 keys that systemd has a property for; the others (and any
/// value these do not parse) go to the files, where the kernel judges them.
fn unified(r: &LinuxResources, s: &mut Split) {
    let Some(map) = r.unified() else { return };
    let mut rest = map.clone();
    let num = |v: &str| match v.trim() {
        "max" => Some(INFINITY),
        n => n.parse::<u64>().ok(),
    };
    for (k, v) in map {
        let prop: Option<Vec<Property>> = match k.as_str() {
            "memory.max" => num(v).map(|n| vec![("MemoryMax", Value::U64(n))]),
            "memory.high" => num(v).map(|n| vec![("MemoryHigh", Value::U64(n))]),
            "memory.low" => num(v).map(|n| vec![("MemoryLow", Value::U64(n))]),
            "memory.min" => num(v).map(|n| vec![("MemoryMin", Value::U64(n))]),
            "memory.swap.max" => num(v).map(|n| vec![("MemorySwapMax", Value::U64(n))]),
            "pids.max" => num(v).map(|n| vec![("TasksMax", Value::U64(n))]),
            "cpu.weight" => v
                .trim()
                .parse::<u64>()
                .ok()
                .map(|n| vec![("CPUWeight", Value::U64(n))]),
            "cpu.max" => cpu_max(v),
            "cpuset.cpus" => list_to_bits(v).map(|b| vec![("AllowedCPUs", Value::Bytes(b))]),
            "cpuset.mems" => list_to_bits(v).map(|b| vec![("AllowedMemoryNodes", Value::Bytes(b))]),
            "io.weight" => {
                let w = v.trim().strip_prefix("default ").unwrap_or(v.trim());
                w.parse::<u64>()
                    .ok()
                    .map(|n| vec![("IOWeight", Value::U64(n))])
            }
            _ => None,
        };
        if let Some(p) = prop {
            s.props.extend(p);
            rest.remove(k);
        }
    }
    s.rest.set_unified((!rest.is_empty()).then_some(rest));
}

/// Does systemd's cpu.max for `per_sec` and `period` come out as `quota`?
fn reproduces(per_sec: u64, period: u64, quota: u64) -> bool {
    (per_sec * period / 1_000_000).max(1000) == quota
}

/// "max 100000" or "50000 100000" (the period may be left out).
fn cpu_max(v: &str) -> Option<Vec<Property>> {
    let mut it = v.split_whitespace();
    let q = it.next()?;
    let p: u64 = match it.next() {
        Some(p) => p.parse().ok()?,
        None => 100_000,
    };
    if p == 0 || it.next().is_some() {
        return None;
    }
    let per_sec = match q {
        "max" => INFINITY,
        q => {
            let q: u64 = q.parse().ok()?;
            let per_sec = (q * 1_000_000).div_ceil(p);
            if !reproduces(per_sec, p, q) {
                return None; // not representable: the file takes it
            }
            per_sec
        }
    };
    Some(vec![
        ("CPUQuotaPeriodUSec", Value::U64(p)),
        ("CPUQuotaPerSecUSec", Value::U64(per_sec)),
    ])
}

/// A cpuset list ("0-3,7") as systemd's bitmask: byte i holds CPUs
/// 8i..8i+7, lowest bit first. None for a malformed list.
pub fn list_to_bits(list: &str) -> Option<Vec<u8>> {
    let mut bits: Vec<u8> = Vec::new();
    for part in list.trim().split(',') {
        let (a, b) = match part.split_once('-') {
            Some((a, b)) => (a.parse::<usize>().ok()?, b.parse::<usize>().ok()?),
            None => {
                let n = part.parse::<usize>().ok()?;
                (n, n)
            }
        };
        if b < a || b >= 1 << 16 {
            return None;
        }
        for i in a..=b {
            if bits.len() <= i / 8 {
                bits.resize(i / 8 + 1, 0);
            }
            bits[i / 8] |= 1 << (i % 8);
        }
    }
    (!bits.is_empty()).then_some(bits)
}

/// DevicePolicy and the DeviceAllow entries (path, access).
pub type DeviceProps = (&'static str, Vec<(String, String)>);

/// The rule list (deny-all first, as `devices::effective` makes it) as
/// systemd's DevicePolicy and DeviceAllow. systemd can only say "these and
/// nothing else" (strict) or "anything" (auto), so a deny rule is only
/// expressible as a reset to deny-all or while nothing is allowed yet.
pub fn device_props(rules: &[LinuxDeviceCgroup]) -> Result<DeviceProps, Error> {
    let mut all = false;
    let mut allow: Vec<(String, String)> = Vec::new();
    for r in rules {
        let typ = r.typ().unwrap_or(LinuxDeviceType::A);
        let access = r.access().clone().unwrap_or_else(|| "rwm".into());
        let full = typ == LinuxDeviceType::A
            && r.major().is_none_or(|m| m < 0)
            && r.minor().is_none_or(|m| m < 0);
        let everything = full && ["r", "w", "m"].iter().all(|c| access.contains(c));
        if !r.allow() {
            if everything {
                all = false;
                allow.clear();
                continue;
            }
            if !all && allow.is_empty() {
                continue; // denying what is already denied
            }
            return Err(Error::Devices(format!(
                "the deny rule {} after allow rules: systemd's DeviceAllow can only list what \
                 is allowed",
                describe(r)
            )));
        }
        if everything {
            all = true;
            allow.clear();
            continue;
        }
        if all {
            continue;
        }
        for path in device_paths(r)? {
            allow.push((path, access.clone()));
        }
    }
    if all {
        Ok(("auto", Vec::new()))
    } else {
        Ok(("strict", allow))
    }
}

fn describe(r: &LinuxDeviceCgroup) -> String {
    let n = |v: Option<i64>| v.filter(|m| *m >= 0).map_or("*".into(), |m| m.to_string());
    format!(
        "\"{} {}:{} {}\"",
        r.typ().unwrap_or(LinuxDeviceType::A).as_str(),
        n(r.major()),
        n(r.minor()),
        r.access().as_deref().unwrap_or("rwm")
    )
}

/// DeviceAllow paths for one allow rule: /dev/char/M:m for one device,
/// char-<driver> for every minor of a major (systemd matches drivers by
/// their /proc/devices name), char-* for every device of the type.
fn device_paths(r: &LinuxDeviceCgroup) -> Result<Vec<String>, Error> {
    let kinds: &[(&str, &str)] = match r.typ().unwrap_or(LinuxDeviceType::A) {
        LinuxDeviceType::A => &[("char", "Character"), ("block", "Block")],
        LinuxDeviceType::B => &[("block", "Block")],
        // Fifos never reach the device controller.
        LinuxDeviceType::P => &[],
        _ => &[("char", "Character")],
    };
    let major = r.major().filter(|m| *m >= 0);
    let minor = r.minor().filter(|m| *m >= 0);
    let mut out = Vec::new();
    for (kind, section) in kinds {
        let p = match (major, minor) {
            (Some(a), Some(b)) => format!("/dev/{kind}/{a}:{b}"),
            (Some(a), None) => match driver_name(section, a) {
                Some(name) => format!("{kind}-{name}"),
                None => {
                    return Err(Error::Devices(format!(
                        "{}: systemd names every minor of a major by its driver, and major \
                         {a} has no {section} entry in /proc/devices",
                        describe(r)
                    )))
                }
            },
            (None, None) => format!("{kind}-*"),
            (None, Some(_)) => {
                return Err(Error::Devices(format!(
                    "{}: systemd cannot allow one minor of every major",
                    describe(r)
                )))
            }
        };
        out.push(p);
    }
    Ok(out)
}

/// The driver of a major number in /proc/devices ("Character devices:" or
/// "Block devices:" section).
fn driver_name(section: &str, major: i64) -> Option<String> {
    let text = std::fs::read_to_string("/proc/devices").ok()?;
    driver_in(&text, section, major)
}

fn driver_in(text: &str, section: &str, major: i64) -> Option<String> {
    let mut inside = false;
    for line in text.lines() {
        if line.ends_with("devices:") {
            inside = line.starts_with(section);
            continue;
        }
        if !inside {
            continue;
        }
        let mut it = line.split_whitespace();
        if it.next()?.parse::<i64>().ok()? == major {
            return it.next().map(str::to_string);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(j: &str) -> LinuxResources {
        serde_json::from_str(j).unwrap()
    }

    fn prop<'a>(s: &'a Split, name: &str) -> Option<&'a Value> {
        s.props
            .iter()
            .rev()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v)
    }

    #[test]
    fn v2_properties_and_leftovers() {
        let r = res(
            r#"{"memory":{"limit":67108864,"reservation":33554432,"swap":134217728},
            "cpu":{"shares":1024,"quota":50000,"period":100000,"cpus":"0-1","mems":"0","idle":1},
            "pids":{"limit":20},
            "blockIO":{"weight":500,"throttleReadBpsDevice":[{"major":8,"minor":0,"rate":1048576}]},
            "hugepageLimits":[{"pageSize":"2MB","limit":0}],
            "unified":{"memory.high":"50331648","io.max":"8:0 rbps=1"}}"#,
        );
        let s = split(&r, None, true).unwrap();
        assert_eq!(prop(&s, "MemoryMax"), Some(&Value::U64(67108864)));
        assert_eq!(prop(&s, "MemoryLow"), Some(&Value::U64(33554432)));
        assert_eq!(prop(&s, "MemorySwapMax"), Some(&Value::U64(67108864)));
        assert_eq!(prop(&s, "MemoryHigh"), Some(&Value::U64(50331648)));
        assert_eq!(prop(&s, "CPUWeight"), Some(&Value::U64(39)));
        assert_eq!(prop(&s, "CPUQuotaPerSecUSec"), Some(&Value::U64(500000)));
        assert_eq!(prop(&s, "CPUQuotaPeriodUSec"), Some(&Value::U64(100000)));
        assert_eq!(prop(&s, "AllowedCPUs"), Some(&Value::Bytes(vec![3])));
        assert_eq!(prop(&s, "AllowedMemoryNodes"), Some(&Value::Bytes(vec![1])));
        assert_eq!(prop(&s, "TasksMax"), Some(&Value::U64(20)));
        assert_eq!(prop(&s, "IOWeight"), Some(&Value::U64(4950)));
        assert_eq!(
            prop(&s, "IOReadBandwidthMax"),
            Some(&Value::PathU64(vec![("/dev/block/8:0".into(), 1048576)]))
        );
        // Left for the files: cpu.idle, hugetlb, the io.max key.
        let rest = &s.rest;
        assert_eq!(rest.cpu().as_ref().unwrap().idle(), Some(1));
        assert_eq!(rest.cpu().as_ref().unwrap().quota(), None);
        assert_eq!(rest.cpu().as_ref().unwrap().cpus(), &None);
        assert!(rest.hugepage_limits().is_some());
        assert_eq!(rest.unified().as_ref().unwrap().len(), 1);
        assert!(rest.pids().is_none());
        assert_eq!(rest.memory().unwrap().limit(), None);
        let b = rest.block_io().as_ref().unwrap();
        assert!(b.weight().is_none() && b.throttle_read_bps_device().is_none());
    }

    #[test]
    fn unlimited_and_inexact_values() {
        let r = res(r#"{"memory":{"limit":-1},"cpu":{"quota":-1},"pids":{"limit":-1}}"#);
        let s = split(&r, None, true).unwrap();
        assert_eq!(prop(&s, "MemoryMax"), Some(&Value::U64(INFINITY)));
        assert_eq!(prop(&s, "MemorySwapMax"), Some(&Value::U64(INFINITY)));
        assert_eq!(prop(&s, "CPUQuotaPerSecUSec"), Some(&Value::U64(INFINITY)));
        assert_eq!(prop(&s, "TasksMax"), Some(&Value::U64(INFINITY)));
        // Quotas systemd writes back as they are: nothing left for the files.
        let r = res(r#"{"cpu":{"quota":33333,"period":100000}}"#);
        let s = split(&r, None, true).unwrap();
        assert_eq!(prop(&s, "CPUQuotaPerSecUSec"), Some(&Value::U64(333330)));
        assert_eq!(s.rest.cpu().as_ref().unwrap().quota(), None);
        // systemd writes at least 1ms: the files get the exact quota after.
        let r = res(r#"{"cpu":{"quota":500,"period":100000}}"#);
        let s = split(&r, None, true).unwrap();
        assert_eq!(s.rest.cpu().as_ref().unwrap().quota(), Some(500));
        let r = res(r#"{"memory":{"limit":1048576}}"#);
        let s = split(&r, None, false).unwrap();
        assert_eq!(prop(&s, "MemoryLimit"), Some(&Value::U64(1048576)));
    }

    /// containerd sends memory+swap with every v1 limit (swap == limit: no
    /// swap); the files need the limit beside it.
    #[test]
    fn v1_swap_keeps_its_limit() {
        let r = res(r#"{"memory":{"limit":67108864,"swap":67108864,"reservation":1024}}"#);
        let s = split(&r, None, false).unwrap();
        assert_eq!(prop(&s, "MemoryLimit"), Some(&Value::U64(67108864)));
        let m = s.rest.memory().unwrap();
        assert_eq!((m.limit(), m.swap()), (Some(67108864), Some(67108864)));
        crate::cgroups::validate::resources(&s.rest).unwrap();
        let r = res(r#"{"memory":{"limit":67108864,"reservation":1024}}"#);
        let s = split(&r, None, false).unwrap();
        assert_eq!(s.rest.memory().unwrap().limit(), None);
        assert_eq!(s.rest.memory().unwrap().reservation(), Some(1024));
    }

    #[test]
    fn cpu_bitmasks() {
        assert_eq!(list_to_bits("0"), Some(vec![1]));
        assert_eq!(list_to_bits("0-1"), Some(vec![3]));
        assert_eq!(list_to_bits("0-9"), Some(vec![0xff, 0x03]));
        assert_eq!(list_to_bits("8,17"), Some(vec![0, 1, 2]));
        assert_eq!(list_to_bits("3-1"), None);
        assert_eq!(list_to_bits("x"), None);
    }

    #[test]
    fn device_rules() {
        let rules: Vec<LinuxDeviceCgroup> = crate::cgroups::devices::effective(None);
        let (policy, allow) = device_props(&rules).unwrap();
        assert_eq!(policy, "strict");
        assert!(allow.contains(&("/dev/char/1:3".into(), "rwm".into())));
        assert!(allow.contains(&("char-*".into(), "m".into())));
        assert!(allow.contains(&("block-*".into(), "m".into())));
        // Privileged: allow everything.
        let all: Vec<LinuxDeviceCgroup> =
            serde_json::from_str(r#"[{"allow":true,"access":"rwm"}]"#).unwrap();
        let rules = crate::cgroups::devices::effective(Some(&all));
        assert_eq!(device_props(&rules).unwrap(), ("auto", vec![]));
        // A deny after allows cannot be said to systemd.
        let deny: Vec<LinuxDeviceCgroup> = serde_json::from_str(
            r#"[{"allow":true,"type":"c","major":1,"minor":3,"access":"rwm"},
                {"allow":false,"type":"c","major":1,"minor":3,"access":"w"}]"#,
        )
        .unwrap();
        let e = device_props(&crate::cgroups::devices::effective(Some(&deny))).unwrap_err();
        assert!(e.to_string().contains("deny rule"), "{e}");
        let text = "Character devices:\n  1 mem\n136 pts\n\nBlock devices:\n  8 sd\n";
        assert_eq!(driver_in(text, "Character", 136).as_deref(), Some("pts"));
        assert_eq!(driver_in(text, "Block", 8).as_deref(), Some("sd"));
        assert_eq!(driver_in(text, "Block", 136), None);
    }
}
