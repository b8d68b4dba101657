#!/usr/bin/env python3
"""What the CVE-2019-5736 protection costs: `rt run` of /bin/true, timed.

Run as root:  benches/exe_cost.py [--rt PATH] [--rt-base PATH] [--rounds N]

Variants, interleaved (the order rotates every round), each measured as
the CPU time (user+sys, wait4 rusage of the runtime and the children it
waited for: the container's init included) and the wall time of one
`rt run`:

  stub       a default container: rt execs the program through its sealed
             exec stub (security/exe/stub.rs)
  fast path  the same rt binary seen through a read-only bind mount of
             itself: it runs sealed already, so there is no stub
  sealed     a container with CAP_SYS_PTRACE and no user namespace: rt
             re-executes itself from a read-only overlay before creating it
  base ...   the same two bundles under --rt-base (an older build), if given

The script runs in a private mount namespace of its own (it re-executes
itself under `unshare -m`), so the read-only bind mount never shows on the
host; everything it makes lives under one temporary directory and is
removed at the end.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
STATIC_RT = os.path.join(REPO, "target/x86_64-unknown-linux-gnu/release/rt")


def bundle(dir, ptrace):
    root = os.path.join(dir, "rootfs")
    os.makedirs(os.path.join(root, "bin"), exist_ok=True)
    shutil.copy("/bin/busybox", os.path.join(root, "bin/busybox"))
    os.symlink("busybox", os.path.join(root, "bin/true"))
    subprocess.run(["/usr/sbin/runc", "spec"], cwd=dir, check=True)
    with open(os.path.join(dir, "config.json")) as f:
        spec = json.load(f)
    spec["process"]["terminal"] = False
    spec["process"]["args"] = ["/bin/true"]
    if ptrace:
        for s in ("bounding", "effective", "permitted"):
            spec["process"]["capabilities"][s].append("CAP_SYS_PTRACE")
    with open(os.path.join(dir, "config.json"), "w") as f:
        json.dump(spec, f)
    return dir


def one(rt, root, bundle_dir, cid):
    t0 = time.perf_counter()
    pid = os.posix_spawn(rt, [rt, "--root", root, "run", "--bundle", bundle_dir, cid], os.environ,
                         file_actions=[(os.POSIX_SPAWN_OPEN, 1, "/dev/null", os.O_WRONLY, 0)])
    _, status, ru = os.wait4(pid, 0)
    wall = (time.perf_counter() - t0) * 1e3
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"exe_cost: {rt} run {cid} failed ({status})")
    return (ru.ru_utime + ru.ru_stime) * 1e3, wall


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rt", default=STATIC_RT)
    p.add_argument("--rt-base", help="an older rt build to compare with")
    p.add_argument("--rounds", type=int, default=40)
    a = p.parse_args()
    if os.environ.get("_RT_EXE_COST_NS") != "1":
        env = dict(os.environ, _RT_EXE_COST_NS="1")
        os.execvpe("unshare", ["unshare", "-m", "--propagation", "private",
                               sys.executable] + sys.argv, env)
    tmp = tempfile.mkdtemp(prefix="rt-exe-cost.")
    try:
        rt = os.path.join(tmp, "bin", "rt")
        os.makedirs(os.path.dirname(rt))
        shutil.copy(os.path.abspath(a.rt), rt)
        ro = os.path.join(tmp, "ro-rt")
        open(ro, "w").close()
        subprocess.run(["mount", "--bind", rt, ro], check=True)
        subprocess.run(["mount", "-o", "remount,bind,ro", ro], check=True)
        plain = bundle(os.path.join(tmp, "plain"), False)
        priv = bundle(os.path.join(tmp, "priv"), True)
        variants = [("stub", rt, plain), ("fast path", ro, plain), ("sealed", rt, priv)]
        if a.rt_base:
            variants += [("base, default", a.rt_base, plain), ("base, CAP_SYS_PTRACE", a.rt_base, priv)]
        root = os.path.join(tmp, "root")
        samples = {name: ([], []) for name, _, _ in variants}
        n = 0
        for r in range(a.rounds + 1):
            k = r % len(variants)
            for name, binary, b in variants[k:] + variants[:k]:
                n += 1
                cpu, wall = one(binary, root, b, f"c{n}")
                if r > 0:  # round 0 warms the page cache
                    samples[name][0].append(cpu)
                    samples[name][1].append(wall)
        print(f"rt run /bin/true, {a.rounds} rounds, medians (ms)")
        print(f"{'variant':24s} {'CPU':>6s} {'wall':>6s}  CPU vs fast path")
        base = statistics.median(samples["fast path"][0])
        for name, _, _ in variants:
            cpu, wall = (statistics.median(x) for x in samples[name])
            print(f"{name:24s} {cpu:6.2f} {wall:6.2f}  {cpu - base:+.2f}")
    finally:
        subprocess.run(["umount", "-l", os.path.join(tmp, "ro-rt")], stderr=subprocess.DEVNULL)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
