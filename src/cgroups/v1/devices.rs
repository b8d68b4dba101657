//! v1 `devices`: linux.resources.devices as writes to devices.allow and
//! devices.deny, in order, so later rules override earlier ones.

use std::path::Path;

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};

use crate::cgroups::util::write;
use crate::cgroups::Result;

/// The kernel's line for one rule; None for rules it cannot express
/// (fifo rules are rejected earlier by validation).
pub fn rule_lines(d: &LinuxDeviceCgroup) -> Vec<String> {
    let num = |n: Option<i64>| match n {
        Some(n) if n >= 0 => n.to_string(),
        _ => "*".to_string(),
    };
    let access = d.access().clone().unwrap_or_else(|| "rwm".to_string());
    let (maj, min) = (num(d.major()), num(d.minor()));
    match d.typ().unwrap_or(LinuxDeviceType::A) {
        LinuxDeviceType::A if maj == "*" && min == "*" && access == "rwm" => vec!["a".into()],
        // "a" in the kernel always means every device with every access:
        // a narrower "all types" rule is spelled once per type.
        LinuxDeviceType::A => vec![
            format!("c {maj}:{min} {access}"),
            format!("b {maj}:{min} {access}"),
        ],
        LinuxDeviceType::B => vec![format!("b {maj}:{min} {access}")],
        LinuxDeviceType::C | LinuxDeviceType::U => vec![format!("c {maj}:{min} {access}")],
        LinuxDeviceType::P => vec![],
    }
}

pub fn apply(dir: &Path, rules: &[LinuxDeviceCgroup]) -> Result<()> {
    for d in rules {
        let file = if d.allow() {
            "devices.allow"
        } else {
            "devices.deny"
        };
        for line in rule_lines(d) {
            write(dir, file, line)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_lines() {
        let r: Vec<LinuxDeviceCgroup> = serde_json::from_str(
            r#"[{"allow":false,"access":"rwm"},
                {"allow":true,"type":"c","major":1,"minor":3,"access":"rw"},
                {"allow":true,"type":"c","major":136,"access":"rwm"},
                {"allow":true,"type":"a","major":5,"minor":1,"access":"r"}]"#,
        )
        .unwrap();
        assert_eq!(rule_lines(&r[0]), vec!["a"]);
        assert_eq!(rule_lines(&r[1]), vec!["c 1:3 rw"]);
        assert_eq!(rule_lines(&r[2]), vec!["c 136:* rwm"]);
        assert_eq!(rule_lines(&r[3]), vec!["c 5:1 r", "b 5:1 r"]);
    }
}
