//! The exec stub: a 250-byte static x86-64 program that rt's container
//! processes exec instead of the container's program, and that then
//! execs the program. It lives in a sealed memfd, so when the program
//! makes the kernel run /proc/self/exe (a `#!/proc/self/exe` script, a
//! symlink to it, an ELF whose interpreter it is), what runs is this stub,
//! not the host's rt binary, and it can be neither written nor reopened
//! as anything else.
//!
//! Contract: argv[0] is the path to exec, argv[1..] the program's own
//! argv, envp passes through. With fewer than two arguments, or if the
//! exec fails, it writes one line to stderr and exits 127 (a program that
//! re-enters the stub ends there instead of looping).
//!
//! Why machine code: the stub must be tiny (a memfd is filled per
//! container) and must not be a second Rust binary built by build.rs.
//! The code is position independent (ET_DYN, RIP-relative only), so the
//! kernel can place it anywhere, also when it is loaded as an ELF
//! interpreter.

use std::fs::File;
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

const EHDR: usize = 64;
const PHDR: usize = 56;
const CODE_OFF: usize = EHDR + 2 * PHDR;
const MESSAGE: &[u8] = b"rt exec stub: cannot run the program\n";

/// _start, annotated; offsets are from the first byte of the code.
fn code() -> Vec<u8> {
    let mut c: Vec<u8> = Vec::with_capacity(80);
    c.extend_from_slice(&[0x48, 0x8b, 0x0c, 0x24]); //  0: mov rcx, [rsp]        ; argc
    c.extend_from_slice(&[0x48, 0x83, 0xf9, 0x02]); //  4: cmp rcx, 2
    c.extend_from_slice(&[0x7c, 0x16]); //              8: jl fail (32)
    c.extend_from_slice(&[0x48, 0x8b, 0x7c, 0x24, 0x08]); // 10: mov rdi, [rsp+8] ; argv[0]
    c.extend_from_slice(&[0x48, 0x8d, 0x74, 0x24, 0x10]); // 15: lea rsi, [rsp+16] ; &argv[1]
    c.extend_from_slice(&[0x48, 0x8d, 0x54, 0xcc, 0x10]); // 20: lea rdx, [rsp+rcx*8+16] ; envp
    c.extend_from_slice(&[0xb8, 0x3b, 0, 0, 0]); //     25: mov eax, 59 (execve)
    c.extend_from_slice(&[0x0f, 0x05]); //              30: syscall
    debug_assert_eq!(c.len(), 32);
    c.extend_from_slice(&[0xbf, 0x02, 0, 0, 0]); //     32: fail: mov edi, 2
    c.extend_from_slice(&[0x48, 0x8d, 0x35]); //        37: lea rsi, [rip+msg]
    c.extend_from_slice(&24u32.to_le_bytes()); //           (msg is 24 bytes past 44)
    c.extend_from_slice(&[0xba]); //                    44: mov edx, len
    c.extend_from_slice(&(MESSAGE.len() as u32).to_le_bytes());
    c.extend_from_slice(&[0xb8, 0x01, 0, 0, 0]); //     49: mov eax, 1 (write)
    c.extend_from_slice(&[0x0f, 0x05]); //              54: syscall
    c.extend_from_slice(&[0xbf, 0x7f, 0, 0, 0]); //     56: mov edi, 127
    c.extend_from_slice(&[0xb8, 0xe7, 0, 0, 0]); //     61: mov eax, 231 (exit_group)
    c.extend_from_slice(&[0x0f, 0x05]); //              66: syscall
    debug_assert_eq!(c.len(), 68);
    c.extend_from_slice(MESSAGE);
    c
}

/// The whole ELF file: header, PT_LOAD (R+X, the file itself) and
/// PT_GNU_STACK (a non-executable stack), then the code.
pub fn image() -> Vec<u8> {
    let code = code();
    let total = (CODE_OFF + code.len()) as u64;
    let mut b: Vec<u8> = Vec::with_capacity(total as usize);
    let u16le = |b: &mut Vec<u8>, v: u16| b.extend_from_slice(&v.to_le_bytes());
    let u32le = |b: &mut Vec<u8>, v: u32| b.extend_from_slice(&v.to_le_bytes());
    let u64le = |b: &mut Vec<u8>, v: u64| b.extend_from_slice(&v.to_le_bytes());
    b.extend_from_slice(&[0x7f, b'E', b'L', b'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    u16le(&mut b, 3); // ET_DYN
    u16le(&mut b, 62); // EM_X86_64
    u32le(&mut b, 1);
    u64le(&mut b, CODE_OFF as u64); // entry
    u64le(&mut b, EHDR as u64); // phoff
    u64le(&mut b, 0); // shoff
    u32le(&mut b, 0); // flags
    u16le(&mut b, EHDR as u16);
    u16le(&mut b, PHDR as u16);
    u16le(&mut b, 2); // phnum
    u16le(&mut b, 0); // shentsize
    u16le(&mut b, 0); // shnum
    u16le(&mut b, 0); // shstrndx
                      // PT_LOAD, R+X, offset 0 at vaddr 0.
    u32le(&mut b, 1);
    u32le(&mut b, 5);
    for v in [0, 0, 0, total, total, 0x1000] {
        u64le(&mut b, v);
    }
    // PT_GNU_STACK, R+W.
    u32le(&mut b, 0x6474_e551);
    u32le(&mut b, 6);
    for v in [0u64, 0, 0, 0, 0, 16] {
        u64le(&mut b, v);
    }
    debug_assert_eq!(b.len(), CODE_OFF);
    b.extend_from_slice(&code);
    b
}

const F_SEAL_EXEC: libc::c_int = 0x20;
const MFD_EXEC: libc::c_uint = 0x10;

/// A sealed, executable memfd holding the stub (close-on-exec: execveat
/// of an ELF does not need the descriptor to survive).
pub fn memfd() -> std::io::Result<OwnedFd> {
    let name = c"rt-exec-stub";
    let flags = libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING;
    // SAFETY: memfd_create with a valid name; the descriptor is owned below.
    let mut fd = unsafe { libc::memfd_create(name.as_ptr(), flags | MFD_EXEC) };
    if fd < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINVAL) {
        // Kernels before 6.3 know no MFD_EXEC: their memfds are executable.
        // SAFETY: as above.
        fd = unsafe { libc::memfd_create(name.as_ptr(), flags) };
    }
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: a new descriptor nobody else owns.
    let mut file = File::from(unsafe { OwnedFd::from_raw_fd(fd) });
    file.write_all(&image())?;
    // F_SEAL_EXEC (6.3+) keeps the mode from changing; older kernels refuse
    // it, and the other seals are what matters.
    // SAFETY: fcntl on our own descriptor.
    unsafe { libc::fcntl(file.as_raw_fd(), libc::F_ADD_SEALS, F_SEAL_EXEC) };
    let seals = libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE | libc::F_SEAL_SEAL;
    // SAFETY: as above.
    if unsafe { libc::fcntl(file.as_raw_fd(), libc::F_ADD_SEALS, seals) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(file.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_is_a_small_elf_with_its_message() {
        let b = image();
        assert_eq!(&b[..4], b"\x7fELF");
        assert!(b.len() < 300, "{} bytes", b.len());
        let msg_at = CODE_OFF + 68;
        assert_eq!(&b[msg_at..], MESSAGE);
        // The RIP-relative displacement lands on the message.
        let disp = u32::from_le_bytes(b[CODE_OFF + 40..CODE_OFF + 44].try_into().unwrap());
        assert_eq!(CODE_OFF + 44 + disp as usize, msg_at);
    }
}
