//! Which controller directory each part of `linux.resources` goes to. The
//! plan is made (and every missing controller reported) before anything is
//! written, so a config the host cannot honour leaves no partial limits.

use std::path::PathBuf;

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxResources};

use super::{v1, v2, Error, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ctrl {
    V1(PathBuf),
    V2(PathBuf),
}

#[derive(Debug)]
pub enum Step {
    Cpuset(Ctrl),
    Devices(Ctrl, Vec<LinuxDeviceCgroup>),
    Memory(Ctrl),
    Cpu(Ctrl),
    Pids(Ctrl),
    Blkio(Ctrl),
    Hugetlb(Ctrl),
    NetCls(PathBuf),
    NetPrio(PathBuf),
    Rdma(Ctrl),
    Unified(PathBuf),
}

/// v2 controllers whose files unified keys may name; enabled on demand.
pub const V2_NAMES: &[&str] = &[
    "cpu", "cpuset", "memory", "io", "pids", "hugetlb", "rdma", "misc",
];

impl Step {
    /// The v2 controller that must be enabled in the parents for this step.
    pub fn v2_controller(&self) -> Option<&'static str> {
        let (name, c) = match self {
            Step::Cpuset(c) => ("cpuset", c),
            Step::Memory(c) => ("memory", c),
            Step::Cpu(c) => ("cpu", c),
            Step::Pids(c) => ("pids", c),
            Step::Blkio(c) => ("io", c),
            Step::Hugetlb(c) => ("hugetlb", c),
            Step::Rdma(c) => ("rdma", c),
            _ => return None,
        };
        matches!(c, Ctrl::V2(_)).then_some(name)
    }

    pub fn run(&self, r: &LinuxResources) -> Result<()> {
        let cpu = r.cpu().clone().unwrap_or_default();
        match self {
            Step::Cpuset(Ctrl::V1(d)) => v1::cpuset::apply(d, &cpu),
            Step::Cpuset(Ctrl::V2(d)) => v2::cpuset::apply(d, &cpu),
            Step::Devices(Ctrl::V1(d), rules) => v1::devices::apply(d, rules),
            Step::Devices(Ctrl::V2(d), rules) => v2::devices::apply(d, rules),
            Step::Memory(c) => {
                let m = (*r.memory()).unwrap_or_default();
                match c {
                    Ctrl::V1(d) => v1::memory::apply(d, &m),
                    Ctrl::V2(d) => v2::memory::apply(d, &m),
                }
            }
            Step::Cpu(Ctrl::V1(d)) => v1::cpu::apply(d, &cpu),
            Step::Cpu(Ctrl::V2(d)) => v2::cpu::apply(d, &cpu),
            Step::Pids(Ctrl::V1(d) | Ctrl::V2(d)) => {
                v1::pids::apply(d, &r.pids().unwrap_or_default())
            }
            Step::Blkio(c) => {
                let b = r.block_io().clone().unwrap_or_default();
                match c {
                    Ctrl::V1(d) => v1::blkio::apply(d, &b),
                    Ctrl::V2(d) => v2::io::apply(d, &b),
                }
            }
            Step::Hugetlb(c) => {
                let h = r.hugepage_limits().clone().unwrap_or_default();
                match c {
                    Ctrl::V1(d) => v1::hugetlb::apply(d, &h),
                    Ctrl::V2(d) => v2::hugetlb::apply(d, &h),
                }
            }
            Step::NetCls(d) => v1::net::apply_classid(d, &r.network().clone().unwrap_or_default()),
            Step::NetPrio(d) => {
                v1::net::apply_priorities(d, &r.network().clone().unwrap_or_default())
            }
            Step::Rdma(Ctrl::V1(d) | Ctrl::V2(d)) => {
                v1::rdma::apply(d, &r.rdma().clone().unwrap_or_default())
            }
            Step::Unified(d) => v2::unified::apply(d, &r.unified().clone().unwrap_or_default()),
        }
    }
}

fn need(ctrl: Option<Ctrl>, controller: &str, field: &str) -> Result<Ctrl> {
    ctrl.ok_or_else(|| Error::NoController {
        controller: controller.to_string(),
        field: field.to_string(),
        detail: "it is not mounted on this host".into(),
    })
}

/// `ctrl(v1_name, v2_name)` says where a controller lives; `devices` is the
/// full rule list to install, or None to leave device rules alone.
pub fn plan(
    r: &LinuxResources,
    devices: Option<&Vec<LinuxDeviceCgroup>>,
    ctrl: &dyn Fn(&str, &str) -> Option<Ctrl>,
) -> Result<Vec<Step>> {
    let mut steps = Vec::new();
    if let Some(c) = r.cpu() {
        if c.cpus().as_deref().is_some_and(|s| !s.is_empty())
            || c.mems().as_deref().is_some_and(|s| !s.is_empty())
        {
            steps.push(Step::Cpuset(need(
                ctrl("cpuset", "cpuset"),
                "cpuset",
                "cpu.cpus/mems",
            )?));
        }
    }
    if let Some(rules) = devices {
        // Devices are part of every cgroup2 cgroup (a BPF hook), hence "".
        steps.push(Step::Devices(
            need(ctrl("devices", ""), "devices", "devices")?,
            rules.clone(),
        ));
    }
    if r.memory().is_some() {
        steps.push(Step::Memory(need(
            ctrl("memory", "memory"),
            "memory",
            "memory",
        )?));
    }
    if let Some(c) = r.cpu() {
        let any = c.shares().is_some()
            || c.quota().is_some()
            || c.period().is_some()
            || c.burst().is_some()
            || c.realtime_runtime().is_some()
            || c.realtime_period().is_some()
            || c.idle().is_some();
        if any {
            steps.push(Step::Cpu(need(ctrl("cpu", "cpu"), "cpu", "cpu")?));
        }
    }
    if r.pids().is_some() {
        steps.push(Step::Pids(need(ctrl("pids", "pids"), "pids", "pids")?));
    }
    if r.block_io().is_some() {
        steps.push(Step::Blkio(need(ctrl("blkio", "io"), "blkio", "blockIO")?));
    }
    if r.hugepage_limits().as_ref().is_some_and(|h| !h.is_empty()) {
        steps.push(Step::Hugetlb(need(
            ctrl("hugetlb", "hugetlb"),
            "hugetlb",
            "hugepageLimits",
        )?));
    }
    if let Some(n) = r.network() {
        // net_cls/net_prio are v1-only: there is no v2 name to fall back to.
        if n.class_id().is_some() {
            match need(ctrl("net_cls", "net_cls"), "net_cls", "network.classID")? {
                Ctrl::V1(d) | Ctrl::V2(d) => steps.push(Step::NetCls(d)),
            }
        }
        if n.priorities().as_ref().is_some_and(|p| !p.is_empty()) {
            match need(
                ctrl("net_prio", "net_prio"),
                "net_prio",
                "network.priorities",
            )? {
                Ctrl::V1(d) | Ctrl::V2(d) => steps.push(Step::NetPrio(d)),
            }
        }
    }
    if r.rdma().as_ref().is_some_and(|m| !m.is_empty()) {
        steps.push(Step::Rdma(need(ctrl("rdma", "rdma"), "rdma", "rdma")?));
    }
    if r.unified().as_ref().is_some_and(|m| !m.is_empty()) {
        // ("", "") asks for the cgroup2 directory itself.
        match ctrl("", "") {
            Some(Ctrl::V2(d)) => steps.push(Step::Unified(d)),
            _ => {
                return Err(Error::NotSupported(
                    "linux.resources.unified: this host has no cgroup2 hierarchy".into(),
                ))
            }
        }
    }
    Ok(steps)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn hybrid(v1: &str, v2: &str) -> Option<Ctrl> {
        match (v1, v2) {
            ("cpu" | "memory" | "pids" | "devices", _) => Some(Ctrl::V1(Path::new("/v1").join(v1))),
            (_, "hugetlb" | "") => Some(Ctrl::V2(PathBuf::from("/v2"))),
            _ => None,
        }
    }

    #[test]
    fn hybrid_routing_and_missing_controllers() {
        let r: LinuxResources = serde_json::from_str(
            r#"{"memory":{"limit":1},"cpu":{"shares":2},"hugepageLimits":[{"pageSize":"2MB","limit":0}],"unified":{"hugetlb.2MB.max":"0"}}"#,
        )
        .unwrap();
        let steps = plan(&r, None, &hybrid).unwrap();
        assert_eq!(steps.len(), 4);
        assert!(matches!(&steps[0], Step::Memory(Ctrl::V1(p)) if p == Path::new("/v1/memory")));
        assert_eq!(steps[2].v2_controller(), Some("hugetlb"));
        assert_eq!(steps[0].v2_controller(), None);
        let r: LinuxResources = serde_json::from_str(r#"{"network":{"classID":7}}"#).unwrap();
        let e = plan(&r, None, &hybrid).unwrap_err().to_string();
        assert!(e.contains("net_cls"), "{e}");
        let r: LinuxResources = serde_json::from_str(r#"{"blockIO":{"weight":100}}"#).unwrap();
        assert!(plan(&r, None, &hybrid)
            .unwrap_err()
            .to_string()
            .contains("blkio"));
    }
}
