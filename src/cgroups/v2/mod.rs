//! cgroup v2 (unified) controllers, one file each. pids and rdma use the
//! same files as v1 and are shared from there.

pub mod bpf;
pub mod cpu;
pub mod cpuset;
pub mod devices;
pub mod freezer;
pub mod hugetlb;
pub mod io;
pub mod memory;
pub mod unified;
