//! A minimal x86-64 ELF executable whose program interpreter (PT_INTERP)
//! is a path of our choosing: the kernel runs the interpreter, not the
//! program's own code, which is how an image can make the runtime's
//! execve land on /proc/self/exe without a `#!` line.

const EHDR: usize = 64;
const PHDR: usize = 56;

fn push16(b: &mut Vec<u8>, v: u16) {
    b.extend_from_slice(&v.to_le_bytes());
}
fn push32(b: &mut Vec<u8>, v: u32) {
    b.extend_from_slice(&v.to_le_bytes());
}
fn push64(b: &mut Vec<u8>, v: u64) {
    b.extend_from_slice(&v.to_le_bytes());
}

#[allow(clippy::too_many_arguments)]
fn phdr(b: &mut Vec<u8>, kind: u32, flags: u32, off: u64, vaddr: u64, size: u64, align: u64) {
    push32(b, kind);
    push32(b, flags);
    push64(b, off);
    push64(b, vaddr);
    push64(b, vaddr);
    push64(b, size);
    push64(b, size);
    push64(b, align);
}

/// ET_EXEC at 0x400000: PT_INTERP naming `interp`, one PT_LOAD with code
/// that would exit(0) if it ever ran.
pub fn with_interpreter(interp: &str) -> Vec<u8> {
    const BASE: u64 = 0x40_0000;
    let mut path = interp.as_bytes().to_vec();
    path.push(0);
    let interp_off = (EHDR + 2 * PHDR) as u64;
    let code_off = interp_off + path.len() as u64;
    // mov edi, 0; mov eax, 231 (exit_group); syscall
    let code = [0xbf, 0, 0, 0, 0, 0xb8, 0xe7, 0, 0, 0, 0x0f, 0x05];
    let total = code_off + code.len() as u64;
    let mut b = Vec::with_capacity(total as usize);
    b.extend_from_slice(&[0x7f, b'E', b'L', b'F', 2, 1, 1, 0]);
    b.extend_from_slice(&[0; 8]);
    push16(&mut b, 2); // ET_EXEC
    push16(&mut b, 62); // EM_X86_64
    push32(&mut b, 1);
    push64(&mut b, BASE + code_off);
    push64(&mut b, EHDR as u64);
    push64(&mut b, 0);
    push32(&mut b, 0);
    push16(&mut b, EHDR as u16);
    push16(&mut b, PHDR as u16);
    push16(&mut b, 2);
    push16(&mut b, 64);
    push16(&mut b, 0);
    push16(&mut b, 0);
    phdr(
        &mut b,
        3,
        4,
        interp_off,
        BASE + interp_off,
        path.len() as u64,
        1,
    );
    phdr(&mut b, 1, 5, 0, BASE, total, 0x1000);
    b.extend_from_slice(&path);
    b.extend_from_slice(&code);
    b
}
