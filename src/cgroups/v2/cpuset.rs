//! v2 `cpuset`: the files are named as in v1 (cpuset.cpus, cpuset.mems) and
//! take the same values, so v1's writer serves. Unlike v1, an empty value
//! means "inherit", so nothing is copied down from the parent.

pub use crate::cgroups::v1::cpuset::apply;
