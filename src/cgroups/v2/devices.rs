//! v2 device filter: linux.resources.devices compiled to an eBPF program
//! (BPF_PROG_TYPE_CGROUP_DEVICE) attached to the container's cgroup.
//!
//! Semantics match the v1 files as rt writes them: rules are read in
//! order and the last rule matching a request decides; a request no rule
//! matches is allowed (a fresh v1 cgroup allows everything too). An allow
//! rule matches when it grants every requested access; a deny rule when it
//! refuses any of them.

use std::fs::File;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};

use super::bpf::{self, Insn};
use crate::cgroups::{Error, Result};

// Opcodes (linux/bpf_common.h, linux/bpf.h).
const LDX_W: u8 = 0x61; // BPF_LDX | BPF_MEM | BPF_W
const AND32_K: u8 = 0x54; // BPF_ALU | BPF_AND | BPF_K
const RSH32_K: u8 = 0x74; // BPF_ALU | BPF_RSH | BPF_K
const MOV32_X: u8 = 0xbc; // BPF_ALU | BPF_MOV | BPF_X
const MOV64_K: u8 = 0xb7; // BPF_ALU64 | BPF_MOV | BPF_K
const JEQ_K: u8 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
const JNE_K: u8 = 0x55; // BPF_JMP | BPF_JNE | BPF_K
const EXIT: u8 = 0x95;

// struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }
// access_type = (BPF_DEVCG_ACC_* << 16) | BPF_DEVCG_DEV_*
const DEV_BLOCK: i32 = 1;
const DEV_CHAR: i32 = 2;
const ACC_MKNOD: i32 = 1;
const ACC_READ: i32 = 2;
const ACC_WRITE: i32 = 4;

fn ins(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        dst,
        src,
        off,
        imm,
    }
}

fn access_bits(access: &str) -> i32 {
    access.chars().fold(0, |acc, c| {
        acc | match c {
            'r' => ACC_READ,
            'w' => ACC_WRITE,
            'm' => ACC_MKNOD,
            _ => 0,
        }
    })
}

/// One rule's checks; every "no match" jump goes to the end of the block,
/// which the caller fills in once the block's length is known.
fn rule_block(d: &LinuxDeviceCgroup) -> Vec<Insn> {
    let mut b = Vec::new();
    // r2 = device type, r3 = requested access, r4 = major, r5 = minor
    match d.typ().unwrap_or(LinuxDeviceType::A) {
        LinuxDeviceType::B => b.push(ins(JNE_K, 2, 0, 0, DEV_BLOCK)),
        LinuxDeviceType::C | LinuxDeviceType::U => b.push(ins(JNE_K, 2, 0, 0, DEV_CHAR)),
        _ => {}
    }
    let acc = access_bits(d.access().as_deref().unwrap_or("rwm"));
    if acc != ACC_MKNOD | ACC_READ | ACC_WRITE {
        b.push(ins(MOV32_X, 1, 3, 0, 0));
        if d.allow() {
            // Match only if nothing outside the rule's access is requested.
            b.push(ins(AND32_K, 1, 0, 0, !acc & 7));
            b.push(ins(JNE_K, 1, 0, 0, 0));
        } else {
            b.push(ins(AND32_K, 1, 0, 0, acc));
            b.push(ins(JEQ_K, 1, 0, 0, 0));
        }
    }
    if let Some(m) = d.major().filter(|m| *m >= 0) {
        b.push(ins(JNE_K, 4, 0, 0, m as i32));
    }
    if let Some(m) = d.minor().filter(|m| *m >= 0) {
        b.push(ins(JNE_K, 5, 0, 0, m as i32));
    }
    b.push(ins(MOV64_K, 0, 0, 0, i32::from(d.allow())));
    b.push(ins(EXIT, 0, 0, 0, 0));
    // Point every conditional jump past the block (to the next rule).
    let n = b.len();
    for (i, insn) in b.iter_mut().enumerate() {
        if insn.code == JNE_K || insn.code == JEQ_K {
            insn.off = (n - i - 1) as i16;
        }
    }
    b
}

/// The whole program. Rules are emitted last-first so the first block that
/// matches is the last rule in the spec's order.
pub fn program(rules: &[LinuxDeviceCgroup]) -> Vec<Insn> {
    let mut p = vec![
        ins(LDX_W, 2, 1, 0, 0),
        ins(MOV32_X, 3, 2, 0, 0),
        ins(AND32_K, 2, 0, 0, 0xffff),
        ins(RSH32_K, 3, 0, 0, 16),
        ins(LDX_W, 4, 1, 4, 0),
        ins(LDX_W, 5, 1, 8, 0),
    ];
    for d in rules.iter().rev() {
        if d.typ() == Some(LinuxDeviceType::P) {
            continue; // fifos never reach the device hook
        }
        let block = rule_block(d);
        let unconditional = block.len() == 2;
        p.extend(block);
        if unconditional {
            // Nothing after a match-all rule is reachable, and the verifier
            // refuses unreachable instructions.
            return p;
        }
    }
    p.push(ins(MOV64_K, 0, 0, 0, 1));
    p.push(ins(EXIT, 0, 0, 0, 0));
    p
}

/// Attach a new filter for `rules` to the cgroup at `dir`, then detach the
/// filters that were there before (an update). While both are attached the
/// kernel requires both to allow, so there is no window of wider access.
pub fn apply(dir: &Path, rules: &[LinuxDeviceCgroup]) -> Result<()> {
    if crate::cgroups::util::is_dry() {
        return Ok(());
    }
    let cg = File::options()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC)
        .open(dir)
        .map_err(|source| Error::Io {
            path: dir.to_path_buf(),
            source,
        })?;
    let old = bpf::query(&cg)?;
    let prog = bpf::load_device_prog(&program(rules))?;
    bpf::attach(&cg, &prog)?;
    for id in old {
        let fd = bpf::prog_fd(id)?;
        bpf::detach(&cg, &fd)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tiny interpreter for the subset we emit, to check the semantics
    /// without root or a kernel.
    fn run(p: &[Insn], typ: i32, acc: i32, major: i32, minor: i32) -> i64 {
        let ctx = [(acc << 16) | typ, major, minor];
        let mut r = [0i64; 11];
        let mut pc = 0usize;
        loop {
            let i = p[pc];
            let (d, s) = (i.dst as usize, i.src as usize);
            pc += 1;
            match i.code {
                LDX_W => r[d] = i64::from(ctx[i.off as usize / 4]),
                MOV32_X => r[d] = r[s] & 0xffff_ffff,
                AND32_K => r[d] &= i64::from(i.imm) & 0xffff_ffff,
                RSH32_K => r[d] = (r[d] & 0xffff_ffff) >> i.imm,
                MOV64_K => r[d] = i64::from(i.imm),
                JNE_K if r[d] != i64::from(i.imm) => pc += i.off as usize,
                JEQ_K if r[d] == i64::from(i.imm) => pc += i.off as usize,
                JNE_K | JEQ_K => {}
                EXIT => return r[0],
                c => panic!("unexpected opcode {c:#x}"),
            }
        }
    }

    #[test]
    fn last_matching_rule_decides() {
        let rules: Vec<LinuxDeviceCgroup> = serde_json::from_str(
            r#"[{"allow":false,"access":"rwm"},
                {"allow":true,"type":"c","major":1,"minor":3,"access":"rwm"},
                {"allow":true,"type":"c","major":1,"minor":5,"access":"r"},
                {"allow":true,"type":"c","major":136,"access":"rwm"},
                {"allow":false,"type":"c","major":1,"minor":3,"access":"w"}]"#,
        )
        .unwrap();
        let p = program(&rules);
        let (r, w, m) = (ACC_READ, ACC_WRITE, ACC_MKNOD);
        assert_eq!(run(&p, DEV_CHAR, r, 1, 3), 1, "null readable");
        assert_eq!(
            run(&p, DEV_CHAR, r | w, 1, 3),
            0,
            "null write denied by last rule"
        );
        assert_eq!(run(&p, DEV_CHAR, r, 1, 5), 1, "zero readable");
        assert_eq!(run(&p, DEV_CHAR, r | w, 1, 5), 0, "zero not writable");
        assert_eq!(run(&p, DEV_CHAR, r | w, 136, 7), 1, "any pty");
        assert_eq!(run(&p, DEV_BLOCK, r, 1, 3), 0, "block 1:3 denied");
        assert_eq!(run(&p, DEV_CHAR, m, 10, 200), 0, "tun denied");
        // Without a deny-all rule everything else stays allowed.
        let p = program(&rules[3..]);
        assert_eq!(run(&p, DEV_BLOCK, r | w, 8, 0), 1);
        assert_eq!(run(&p, DEV_CHAR, w, 1, 3), 0);
        assert_eq!(run(&p, DEV_CHAR, r, 1, 3), 1);
    }

    #[test]
    fn encoding() {
        let i = ins(LDX_W, 2, 1, 4, 0).encode();
        assert_eq!(i, [0x61, 0x12, 4, 0, 0, 0, 0, 0]);
        let j = ins(JNE_K, 4, 0, -1, 136).encode();
        assert_eq!(j, [0x55, 0x04, 0xff, 0xff, 136, 0, 0, 0]);
    }
}
