#!/usr/bin/env python3
"""Record which functions of an rt binary a command runs, in first-run order.

Usage: trace.py OUT BINARY ARGS...

Runs BINARY ARGS under ptrace with an int3 on the entry of every function
in BINARY's symbol table (so BINARY must be unstripped), follows every
fork and clone (the container's init runs rt code too), and appends the
name of each function the first time any process runs it to OUT. Exits
with the command's exit status. A process
that execs something else (the container's program, a hook) is let go.

Used by benches/layout/collect.sh to produce the link order that packs
the code rt really runs into few pages (see build.rs).
"""
import ctypes
import os
import signal
import subprocess
import sys

PTRACE_TRACEME, PTRACE_CONT, PTRACE_GETREGS, PTRACE_SETREGS = 0, 7, 12, 13
PTRACE_DETACH, PTRACE_SETOPTIONS = 17, 0x4200
O_TRACEFORK, O_TRACEVFORK, O_TRACECLONE, O_TRACEEXEC = 0x2, 0x4, 0x8, 0x10
EVENT_EXEC = 4
WALL = 0x40000000
RIP = 16  # index of rip in struct user_regs_struct (27 unsigned longs)

libc = ctypes.CDLL(None, use_errno=True)
libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
libc.ptrace.restype = ctypes.c_long


def ptrace(req, pid, addr=None, data=None):
    if libc.ptrace(req, pid, addr, data) == -1:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def functions(binary):
    """Entry address -> names, from nm (static-pie: addresses are offsets)."""
    out = subprocess.run(["nm", "--defined-only", binary], capture_output=True,
                         text=True, check=True).stdout
    table = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] in "tTwW":
            table.setdefault(int(parts[0], 16), []).append(parts[2])
    return table


def load_base(pid, binary):
    real = os.path.realpath(binary)
    with open(f"/proc/{pid}/maps") as f:
        for line in f:
            fields = line.split()
            if len(fields) >= 6 and fields[5] == real and int(fields[2], 16) == 0:
                return int(fields[0].split("-")[0], 16)
    raise SystemExit(f"trace: {binary} is not mapped in {pid}")


def main():
    out, binary, args = sys.argv[1], sys.argv[2], sys.argv[2:]
    table = functions(binary)
    pid = os.fork()
    if pid == 0:
        ptrace(PTRACE_TRACEME, 0)
        os.execv(binary, args)
    _, status = os.waitpid(pid, WALL)
    base = load_base(pid, binary)
    original = {}
    with open(f"/proc/{pid}/mem", "r+b", buffering=0) as mem:
        for off in table:
            mem.seek(base + off)
            original[base + off] = mem.read(1)
        for addr in original:
            mem.seek(addr)
            mem.write(b"\xcc")
    opts = O_TRACEFORK | O_TRACEVFORK | O_TRACECLONE | O_TRACEEXEC
    ptrace(PTRACE_SETOPTIONS, pid, None, opts)
    ptrace(PTRACE_CONT, pid)
    regs = (ctypes.c_ulong * 27)()
    seen = set()
    live = {pid}
    code = 1
    with open(out, "a") as log:
        while live:
            try:
                who, status = os.waitpid(-1, WALL)
            except ChildProcessError:
                break
            if os.WIFEXITED(status) or os.WIFSIGNALED(status):
                live.discard(who)
                if who == pid:
                    code = os.waitstatus_to_exitcode(status)
                continue
            live.add(who)
            sig = os.WSTOPSIG(status)
            event = status >> 16
            if event == EVENT_EXEC:
                live.discard(who)
                ptrace(PTRACE_DETACH, who)
                continue
            deliver = 0
            if sig == signal.SIGTRAP and event == 0:
                ptrace(PTRACE_GETREGS, who, None, ctypes.addressof(regs))
                addr = regs[RIP] - 1
                if addr in original:
                    with open(f"/proc/{who}/mem", "r+b", buffering=0) as mem:
                        mem.seek(addr)
                        mem.write(original[addr])
                    regs[RIP] = addr
                    ptrace(PTRACE_SETREGS, who, None, ctypes.addressof(regs))
                    if addr not in seen:
                        seen.add(addr)
                        for name in table[addr - base]:
                            log.write(name + "\n")
                else:
                    deliver = sig
            elif sig not in (signal.SIGTRAP, signal.SIGSTOP):
                deliver = sig
            try:
                ptrace(PTRACE_CONT, who, None, deliver)
            except ProcessLookupError:
                live.discard(who)


    return code


if __name__ == "__main__":
    sys.exit(main())
