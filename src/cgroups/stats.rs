//! The statistics `rt events --stats` prints, shaped exactly like runc's
//! `types.Stats` JSON (field names, omitted zeros) so tools that parse
//! runc's output read ours.

use std::collections::BTreeMap;

use serde::Serialize;

fn zero(v: &u64) -> bool {
    *v == 0
}

#[derive(Debug, Default, Clone, Serialize)]
pub struct Stats {
    pub cpu: Cpu,
    pub memory: Memory,
    pub pids: Pids,
    pub blkio: Blkio,
    pub hugetlb: BTreeMap<String, Hugetlb>,
}

#[derive(Debug, Default, Clone, Serialize)]
pub struct Cpu {
    pub usage: CpuUsage,
    pub throttling: Throttling,
}

#[derive(Debug, Default, Clone, Serialize)]
pub struct CpuUsage {
    #[serde(skip_serializing_if = "zero")]
    pub total: u64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub percpu: Vec<u64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub percpu_kernel: Vec<u64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub percpu_user: Vec<u64>,
    pub kernel: u64,
    pub user: u64,
}

#[derive(Debug, Default, Clone, Serialize)]
pub struct Throttling {
    #[serde(skip_serializing_if = "zero")]
    pub periods: u64,
    #[serde(skip_serializing_if = "zero")]
    pub throttled_periods: u64,
    #[serde(skip_serializing_if = "zero")]
    pub throttled_time: u64,
}

#[derive(Debug, Default, Clone, Serialize)]
pub struct Memory {
    #[serde(skip_serializing_if = "zero")]
    pub cache: u64,
    pub usage: MemoryEntry,
    pub swap: MemoryEntry,
    pub kernel: MemoryEntry,
    #[serde(rename = "kernelTCP")]
    pub kernel_tcp: MemoryEntry,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub raw: BTreeMap<String, u64>,
}

#[derive(Debug, Default, Clone, Serialize)]
pub struct MemoryEntry {
    pub limit: u64,
    #[serde(skip_serializing_if = "zero")]
    pub usage: u64,
    #[serde(skip_serializing_if = "zero")]
    pub max: u64,
    pub failcnt: u64,
}

#[derive(Debug, Default, Clone, Serialize)]
pub struct Pids {
    #[serde(skip_serializing_if = "zero")]
    pub current: u64,
    #[serde(skip_serializing_if = "zero")]
    pub limit: u64,
}

#[derive(Debug, Default, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Blkio {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub io_service_bytes_recursive: Vec<BlkioEntry>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub io_serviced_recursive: Vec<BlkioEntry>,
}

#[derive(Debug, Default, Clone, Serialize, PartialEq, Eq)]
pub struct BlkioEntry {
    #[serde(skip_serializing_if = "zero")]
    pub major: u64,
    #[serde(skip_serializing_if = "zero")]
    pub minor: u64,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub op: String,
    #[serde(skip_serializing_if = "zero")]
    pub value: u64,
}

#[derive(Debug, Default, Clone, Serialize)]
pub struct Hugetlb {
    #[serde(skip_serializing_if = "zero")]
    pub usage: u64,
    #[serde(skip_serializing_if = "zero")]
    pub max: u64,
    pub failcnt: u64,
}

/// v1 blkio files: "8:0 Read 4096" lines (and a "Total" line to skip).
pub fn parse_blkio_v1(text: &str) -> Vec<BlkioEntry> {
    text.lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let (maj, min) = it.next()?.split_once(':')?;
            let op = it.next()?.to_string();
            let value = it.next()?.parse().ok()?;
            Some(BlkioEntry {
                major: maj.parse().ok()?,
                minor: min.parse().ok()?,
                op,
                value,
            })
        })
        .collect()
}

/// v2 io.stat turned into runc's v1-shaped entries.
pub fn blkio_from_io_stat(text: &str) -> Blkio {
    let mut b = Blkio::default();
    for (major, minor, kv) in super::util::nested_keyed(text) {
        let e = |op: &str, key: &str| BlkioEntry {
            major,
            minor,
            op: op.to_string(),
            value: kv.get(key).copied().unwrap_or(0),
        };
        b.io_service_bytes_recursive.push(e("Read", "rbytes"));
        b.io_service_bytes_recursive.push(e("Write", "wbytes"));
        b.io_serviced_recursive.push(e("Read", "rios"));
        b.io_serviced_recursive.push(e("Write", "wios"));
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blkio_formats() {
        let v1 = parse_blkio_v1("8:0 Read 4096\n8:0 Write 512\nTotal 4608\n");
        assert_eq!(v1.len(), 2);
        assert_eq!(v1[1].op, "Write");
        assert_eq!(v1[1].value, 512);
        let v2 = blkio_from_io_stat("8:16 rbytes=100 wbytes=200 rios=1 wios=2 dbytes=0 dios=0\n");
        assert_eq!(v2.io_service_bytes_recursive[1].value, 200);
        assert_eq!(v2.io_serviced_recursive[0].value, 1);
        assert_eq!(v2.io_serviced_recursive[0].minor, 16);
    }

    #[test]
    fn json_shape_matches_runc() {
        let mut s = Stats::default();
        s.memory.usage.usage = 5;
        s.pids.current = 1;
        let j = serde_json::to_value(&s).unwrap();
        assert_eq!(j["memory"]["usage"]["usage"], 5);
        assert_eq!(j["memory"]["usage"]["failcnt"], 0);
        assert!(j["memory"]["kernelTCP"].is_object());
        assert_eq!(j["pids"]["current"], 1);
        assert!(j["pids"].get("limit").is_none());
        assert!(j["cpu"]["usage"].get("total").is_none());
        assert_eq!(j["cpu"]["usage"]["kernel"], 0);
    }
}
