//! Giving back memory that setting up needed and the event loop does not:
//! what a supervisor costs is what it holds while it waits.
//!
//! Startup (command line parsing, reading the record, launching workers)
//! faults in far more of the rt binary than the loop ever runs, and the
//! kernel maps file pages 64 KiB around each fault. The binary's
//! read-only segments are clean file pages, identical to the file: dropping
//! them from our page tables (MADV_DONTNEED) only means the few the loop
//! needs fault back in from the page cache. Writable and relocated
//! segments (RELRO, data) are never touched here: those hold our state.

/// Drop the read-only part of the binary from our resident set and return
/// free heap pages to the kernel.
pub fn shed() {
    // SAFETY: malloc_trim only releases free memory.
    unsafe { libc::malloc_trim(0) };
    // SAFETY: getauxval reads the auxiliary vector of this process.
    let (phdr, phnum) = unsafe {
        (
            libc::getauxval(libc::AT_PHDR) as usize,
            libc::getauxval(libc::AT_PHNUM) as usize,
        )
    };
    if phdr == 0 || phnum == 0 {
        return;
    }
    // SAFETY: AT_PHDR/AT_PHNUM describe our own program headers, mapped
    // for the life of the process.
    let phdrs = unsafe { std::slice::from_raw_parts(phdr as *const libc::Elf64_Phdr, phnum) };
    let Some(me) = phdrs.iter().find(|p| p.p_type == libc::PT_PHDR) else {
        return;
    };
    let base = phdr.wrapping_sub(me.p_vaddr as usize);
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(4096) as usize;
    for p in phdrs
        .iter()
        .filter(|p| p.p_type == libc::PT_LOAD && p.p_flags & libc::PF_W == 0)
    {
        // Whole pages only: a page shared with a writable segment stays.
        let start = (base + p.p_vaddr as usize).div_ceil(page) * page;
        let end = (base + (p.p_vaddr + p.p_memsz) as usize) / page * page;
        if end > start {
            // SAFETY: a read-only, never-written file mapping of our own
            // binary: its pages are refilled from the file on access.
            unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED) };
        }
    }
}
