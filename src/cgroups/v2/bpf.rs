//! The few bpf(2) operations the v2 device filter needs, through libc.
//!
//! cgroup v2 has no devices.allow/deny files: device access is decided by
//! a BPF_PROG_TYPE_CGROUP_DEVICE program attached to the cgroup. cgroups-rs
//! (0.5) has no support for it and no BPF crate is allowed here, so the
//! program is assembled by hand (see devices.rs) and loaded with the raw
//! syscall. The structs below are the prefixes of `union bpf_attr` each
//! command reads; the kernel requires the rest of the union to be zero,
//! which the zeroed padding provides.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use crate::cgroups::{Error, Result};

pub const PROG_TYPE_CGROUP_DEVICE: u32 = 15;
pub const CGROUP_DEVICE: u32 = 6;
pub const F_ALLOW_MULTI: u32 = 1 << 1;

const PROG_LOAD: libc::c_int = 5;
const PROG_ATTACH: libc::c_int = 8;
const PROG_DETACH: libc::c_int = 9;
const PROG_GET_FD_BY_ID: libc::c_int = 13;
const PROG_QUERY: libc::c_int = 16;

/// One eBPF instruction as the kernel lays it out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    pub code: u8,
    pub dst: u8,
    pub src: u8,
    pub off: i16,
    pub imm: i32,
}

impl Insn {
    pub fn encode(&self) -> [u8; 8] {
        let mut b = [0u8; 8];
        b[0] = self.code;
        b[1] = (self.src << 4) | (self.dst & 0xf);
        b[2..4].copy_from_slice(&self.off.to_le_bytes());
        b[4..8].copy_from_slice(&self.imm.to_le_bytes());
        b
    }
}

#[repr(C)]
#[derive(Default)]
struct ProgLoad {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
    _pad: [u64; 8],
}

#[repr(C)]
#[derive(Default)]
struct Attach {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
    replace_bpf_fd: u32,
    _pad: [u32; 11],
}

#[repr(C)]
#[derive(Default)]
struct Query {
    target_fd: u32,
    attach_type: u32,
    query_flags: u32,
    attach_flags: u32,
    prog_ids: u64,
    prog_cnt: u32,
    _pad: [u32; 11],
}

#[repr(C)]
#[derive(Default)]
struct GetFdById {
    prog_id: u32,
    next_id: u32,
    open_flags: u32,
    _pad: [u32; 13],
}

fn bpf<T>(cmd: libc::c_int, attr: &mut T, what: &str) -> Result<libc::c_long> {
    // SAFETY: `attr` is a live, properly sized and zero-padded bpf_attr
    // prefix; the kernel reads at most size_of::<T>() bytes of it.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *mut T as *mut libc::c_void,
            std::mem::size_of::<T>() as libc::c_uint,
        )
    };
    if rc < 0 {
        return Err(Error::Bpf {
            what: what.to_string(),
            source: std::io::Error::last_os_error(),
        });
    }
    Ok(rc)
}

/// Load a cgroup device program; the kernel verifier's log is included in
/// the error if it refuses the program.
pub fn load_device_prog(insns: &[Insn]) -> Result<OwnedFd> {
    let code: Vec<u8> = insns.iter().flat_map(|i| i.encode()).collect();
    let license = b"Apache-2.0\0";
    let mut log = vec![0u8; 64 * 1024];
    let mut attr = ProgLoad {
        prog_type: PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: insns.len() as u32,
        insns: code.as_ptr() as u64,
        license: license.as_ptr() as u64,
        log_level: 1,
        log_size: log.len() as u32,
        log_buf: log.as_mut_ptr() as u64,
        ..Default::default()
    };
    attr.prog_name[..9].copy_from_slice(b"rt_device");
    match bpf(PROG_LOAD, &mut attr, "load device filter") {
        // SAFETY: PROG_LOAD returns a new descriptor we now own.
        Ok(fd) => Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) }),
        Err(Error::Bpf { what, source }) => {
            let end = log.iter().position(|b| *b == 0).unwrap_or(0);
            let verifier = String::from_utf8_lossy(&log[..end]).trim().to_string();
            let what = if verifier.is_empty() {
                what
            } else {
                format!("{what} (verifier: {verifier})")
            };
            Err(Error::Bpf { what, source })
        }
        Err(e) => Err(e),
    }
}

pub fn attach(cgroup: &impl AsRawFd, prog: &impl AsRawFd) -> Result<()> {
    let mut attr = Attach {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type: CGROUP_DEVICE,
        attach_flags: F_ALLOW_MULTI,
        ..Default::default()
    };
    bpf(PROG_ATTACH, &mut attr, "attach device filter").map(|_| ())
}

pub fn detach(cgroup: &impl AsRawFd, prog: &impl AsRawFd) -> Result<()> {
    let mut attr = Attach {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type: CGROUP_DEVICE,
        ..Default::default()
    };
    bpf(PROG_DETACH, &mut attr, "detach device filter").map(|_| ())
}

/// Ids of the device programs attached directly to the cgroup.
pub fn query(cgroup: &impl AsRawFd) -> Result<Vec<u32>> {
    let mut ids = vec![0u32; 64];
    let mut attr = Query {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_type: CGROUP_DEVICE,
        prog_ids: ids.as_mut_ptr() as u64,
        prog_cnt: ids.len() as u32,
        ..Default::default()
    };
    bpf(PROG_QUERY, &mut attr, "query device filters")?;
    ids.truncate(attr.prog_cnt as usize);
    Ok(ids)
}

pub fn prog_fd(id: u32) -> Result<OwnedFd> {
    let mut attr = GetFdById {
        prog_id: id,
        ..Default::default()
    };
    let fd = bpf(PROG_GET_FD_BY_ID, &mut attr, "open device filter")?;
    // SAFETY: GET_FD_BY_ID returns a new descriptor we now own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}
