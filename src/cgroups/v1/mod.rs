//! cgroup v1 controllers: one file each, every one writing the knobs of its
//! own hierarchy directory. The manager decides which hierarchy a
//! controller lives in; these only know their files.

pub mod blkio;
pub mod cpu;
pub mod cpuacct;
pub mod cpuset;
pub mod devices;
pub mod freezer;
pub mod hugetlb;
pub mod memory;
pub mod net;
pub mod pids;
pub mod rdma;
