//! Values that cgroup v1 and v2 express differently, converted the way runc
//! 1.1 does so that a config behaves the same under rt and runc.

/// cpu.shares (2..262144) to cpu.weight (1..10000), runc's linear mapping.
/// 0 means "not set".
pub fn shares_to_weight(shares: u64) -> u64 {
    match shares {
        0 => 0,
        1..=2 => 1,
        s if s >= 262144 => 10000,
        s => 1 + ((s - 2) * 9999) / 262142,
    }
}

/// blkio.weight (10..1000) to io.weight (1..10000). 0 means "not set".
pub fn blkio_weight_to_io_weight(weight: u64) -> u64 {
    if weight == 0 {
        return 0;
    }
    1 + (weight.saturating_sub(10)) * 9999 / 990
}

/// The spec's `memory.swap` is memory+swap (v1's memsw); v2's
/// memory.swap.max is swap alone. Returns the memory.swap.max value: None
/// for "leave alone", Some(-1) for "max".
pub fn swap_to_v2(swap: Option<i64>, limit: Option<i64>) -> Result<Option<i64>, &'static str> {
    let swap = swap.unwrap_or(0);
    let limit = limit.unwrap_or(0);
    // As in v1, an unlimited memory with no explicit swap means both are
    // unlimited.
    if limit == -1 && swap == 0 {
        return Ok(Some(-1));
    }
    match swap {
        0 => Ok(None),
        -1 => Ok(Some(-1)),
        s if s < 0 => Err("must be -1 (unlimited) or a positive number of bytes"),
        _ if limit <= 0 => Err("a swap limit needs a memory limit"),
        s if s < limit => Err("memory+swap must be at least the memory limit"),
        s => Ok(Some(s - limit)),
    }
}

/// v2 writes "max" for unlimited.
pub fn v2_limit(v: i64) -> String {
    if v < 0 {
        "max".to_string()
    } else {
        v.to_string()
    }
}

/// "2MB" -> "2MB" after checking the form the kernel uses in hugetlb file
/// names; "2048kB" -> "2MB" (the sysfs spelling) so both are accepted.
pub fn hugepage_size(spec: &str) -> Option<String> {
    let digits: String = spec.chars().take_while(|c| c.is_ascii_digit()).collect();
    let n: u64 = digits.parse().ok()?;
    let unit = &spec[digits.len()..];
    // The number is the user's: a big one must be refused, not wrap.
    let kb = match unit {
        "KB" | "kB" => Some(n),
        "MB" => n.checked_mul(1024),
        "GB" => n.checked_mul(1024 * 1024),
        _ => None,
    }?;
    Some(if kb >= 1024 * 1024 && kb % (1024 * 1024) == 0 {
        format!("{}GB", kb / (1024 * 1024))
    } else if kb >= 1024 && kb % 1024 == 0 {
        format!("{}MB", kb / 1024)
    } else {
        format!("{kb}KB")
    })
}

/// Page sizes this host offers, in hugetlb file-name spelling.
pub fn host_hugepage_sizes() -> Vec<String> {
    let Ok(rd) = std::fs::read_dir("/sys/kernel/mm/hugepages") else {
        return Vec::new();
    };
    let mut out: Vec<String> = rd
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            hugepage_size(name.strip_prefix("hugepages-")?)
        })
        .collect();
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_map_like_runc() {
        assert_eq!(shares_to_weight(0), 0);
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(512), 20);
        assert_eq!(shares_to_weight(262144), 10000);
        assert_eq!(shares_to_weight(1_000_000), 10000);
    }

    #[test]
    fn blkio_weight_maps_like_runc() {
        assert_eq!(blkio_weight_to_io_weight(0), 0);
        assert_eq!(blkio_weight_to_io_weight(10), 1);
        assert_eq!(blkio_weight_to_io_weight(500), 4950);
        assert_eq!(blkio_weight_to_io_weight(1000), 10000);
    }

    #[test]
    fn swap_semantics() {
        let m = 100 << 20;
        assert_eq!(swap_to_v2(None, None), Ok(None));
        assert_eq!(swap_to_v2(None, Some(-1)), Ok(Some(-1)));
        assert_eq!(swap_to_v2(Some(-1), Some(m)), Ok(Some(-1)));
        assert_eq!(swap_to_v2(Some(m), Some(m)), Ok(Some(0)));
        assert_eq!(swap_to_v2(Some(2 * m), Some(m)), Ok(Some(m)));
        assert!(swap_to_v2(Some(m / 2), Some(m)).is_err());
        assert!(swap_to_v2(Some(m), None).is_err());
        assert!(swap_to_v2(Some(-5), Some(m)).is_err());
        assert_eq!(v2_limit(-1), "max");
        assert_eq!(v2_limit(4096), "4096");
    }

    #[test]
    fn hugepage_names() {
        assert_eq!(hugepage_size("2MB").as_deref(), Some("2MB"));
        assert_eq!(hugepage_size("2048kB").as_deref(), Some("2MB"));
        assert_eq!(hugepage_size("1048576kB").as_deref(), Some("1GB"));
        assert_eq!(hugepage_size("64KB").as_deref(), Some("64KB"));
        assert_eq!(hugepage_size("2XB"), None);
        assert_eq!(hugepage_size("MB"), None);
    }

    /// Found by fuzz/config: 2^44 GB is 2^64 kB, which overflowed (a panic
    /// in debug builds, a wrong page size in release).
    #[test]
    fn hugepage_size_overflow_is_refused() {
        assert_eq!(hugepage_size("1024GB").as_deref(), Some("1024GB"));
        assert_eq!(
            hugepage_size("17592186044415GB").as_deref(),
            Some("17592186044415GB")
        );
        assert_eq!(hugepage_size("17592186044416GB"), None);
        assert_eq!(hugepage_size("18014398509481984MB"), None);
    }
}
