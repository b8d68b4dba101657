"""Everything around the measurements: host facts, the busybox bundle,
the per-runtime workers, binary sizes and the final clean-up."""
import copy
import json
import os
import platform
import shutil
import signal
import struct
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
WORKER = os.path.join(HERE, "bench_worker.py")
UNIFIED = "/sys/fs/cgroup/unified"
MiB = 1024 * 1024
# linux.resources of the "limits" scenario.
LIMITS = {"memory": {"limit": 64 * MiB},
          "cpu": {"quota": 50000, "period": 100000},
          "pids": {"limit": 64}}


class BenchError(Exception):
    pass


def cgroup_mounts():
    """(mount point, fstype) of every cgroup hierarchy the host sees."""
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, right = line.split(" - ", 1)
            fstype = right.split()[0]
            if fstype in ("cgroup", "cgroup2"):
                found.append((left.split()[4], fstype))
    return found


def cgroup_mode():
    types = dict(cgroup_mounts())
    if types.get("/sys/fs/cgroup") == "cgroup2":
        return "v2"
    return "hybrid" if types.get(UNIFIED) == "cgroup2" else "v1"


def is_static_elf(path):
    """True when the ELF file has no PT_INTERP (needs no loader)."""
    with open(path, "rb") as f:
        head = f.read(64)
        if head[:4] != b"\x7fELF" or head[4] != 2:
            return False
        phoff, = struct.unpack_from("<Q", head, 32)
        phentsize, phnum = struct.unpack_from("<HH", head, 54)
        f.seek(phoff)
        table = f.read(phentsize * phnum)
    return all(struct.unpack_from("<I", table, i * phentsize)[0] != 3
               for i in range(phnum))


def first_line(argv):
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10)
        return (out.stdout or out.stderr).strip().splitlines()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return "unknown"


def host_facts():
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"kernel": platform.release(), "cpu": cpu, "cpus": os.cpu_count(),
            "load_start": os.getloadavg()[0],
            "cgroups": cgroup_mode(),
            "date": time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime())}


class Bundles:
    """A shared read-only busybox rootfs and one config.json per container.

    Each container gets its own bundle dir because its config names its own
    cgroup (/<parent>/<id>), which lets the clean-up find every cgroup the
    runtimes made under one parent.
    """

    def __init__(self, tmp, cg_parent, spec_binary):
        self.tmp = tmp
        self.cg_parent = cg_parent
        self.rootfs = os.path.join(tmp, "rootfs")
        self._build_rootfs()
        self.base = self._base_spec(spec_binary)

    def _build_rootfs(self):
        busybox = shutil.which("busybox") or "/bin/busybox"
        if not os.path.exists(busybox) or not is_static_elf(busybox):
            raise BenchError(f"{busybox}: not a static busybox "
                             "(run benches/setup.sh: it installs busybox-static)")
        bindir = os.path.join(self.rootfs, "bin")
        os.makedirs(bindir)
        shutil.copy2(busybox, os.path.join(bindir, "busybox"))
        for name in ("true", "sh", "sleep"):
            os.symlink("busybox", os.path.join(bindir, name))
        # Mount points exist up front so concurrent containers never race
        # to create them in the shared rootfs.
        for d in ("proc", "sys", "dev", "tmp", "etc"):
            os.makedirs(os.path.join(self.rootfs, d))

    def _base_spec(self, spec_binary):
        gen = os.path.join(self.tmp, "spec")
        os.makedirs(gen)
        r = subprocess.run([spec_binary, "spec"], cwd=gen, capture_output=True,
                           text=True)
        if r.returncode != 0:
            raise BenchError(f"{spec_binary} spec: {r.stderr.strip()}")
        with open(os.path.join(gen, "config.json")) as f:
            spec = json.load(f)
        shutil.rmtree(gen)
        spec["process"]["terminal"] = False
        spec["process"]["args"] = ["/bin/true"]
        spec["root"] = {"path": self.rootfs, "readonly": True}
        spec["hostname"] = "rt-bench"
        return spec

    def make(self, cid, kind, mem_limit=None):
        """kind: plain (/bin/true), limits (with LIMITS), sleep, mem."""
        spec = copy.deepcopy(self.base)
        spec["linux"]["cgroupsPath"] = f"/{self.cg_parent}/{cid}"
        if kind == "limits":
            spec["linux"]["resources"] = copy.deepcopy(LIMITS)
        elif kind == "sleep":
            spec["process"]["args"] = ["/bin/sleep", "1000"]
        elif kind == "mem":
            spec["linux"]["resources"] = {"memory": {"limit": mem_limit}}
        path = os.path.join(self.tmp, "bundles", cid)
        os.makedirs(path)
        with open(os.path.join(path, "config.json"), "w") as f:
            json.dump(spec, f)
        return path

    def drop(self, path):
        shutil.rmtree(path, ignore_errors=True)


class Worker:
    """Client side of bench_worker.py for one runtime."""

    def __init__(self, name, binary, tmp, private_ns, timeout):
        self.name = name
        self.root = os.path.join(tmp, "root-" + name)
        argv = [sys.executable, WORKER, binary, self.root,
                os.path.join(tmp, "io-" + name), str(timeout)]
        if private_ns:
            # Once for the worker's whole life; never per command.
            argv = ["unshare", "--mount", "--propagation", "private", "sh",
                    "-c", f'umount {UNIFIED} && exec "$@"', "sh", *argv]
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True,
                                     start_new_session=True)
        self.info = self._read()
        if private_ns and self.info.get("unified_mounted"):
            raise BenchError(f"{name}: {UNIFIED} still mounted in its namespace")

    def _read(self):
        line = self.proc.stdout.readline()
        if not line:
            raise BenchError(f"{self.name} worker died (exit {self.proc.poll()})")
        return json.loads(line)

    def req(self, op, **kw):
        self.proc.stdin.write(json.dumps({"op": op, **kw}) + "\n")
        self.proc.stdin.flush()
        return self._read()

    def close(self, interrupted):
        """Delete what is left in its --root, then stop; returns ids found."""
        found = []
        if self.proc.poll() is None:
            try:
                if interrupted:
                    self.proc.send_signal(signal.SIGTERM)
                else:
                    found = self.req("cleanup").get("found", [])
                    self.proc.stdin.write(json.dumps({"op": "quit"}) + "\n")
                    self.proc.stdin.flush()
                self.proc.wait(timeout=120)
            except (OSError, ValueError, BenchError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        return found


def remove_cgroups(parent):
    """rmdir <hierarchy>/<parent> everywhere, killing stragglers first.

    Returns the cgroup dirs that could not be removed.
    """
    left = []
    for mnt, _ in cgroup_mounts():
        top = os.path.join(mnt, parent)
        if not os.path.isdir(top):
            continue
        dirs = [d for d, _, _ in os.walk(top)]
        for d in sorted(dirs, key=len, reverse=True):
            if _rmdir_cgroup(d):
                left.append(d)
    return left


def _rmdir_cgroup(d):
    for attempt in range(50):
        try:
            os.rmdir(d)
            return False
        except FileNotFoundError:
            return False
        except OSError:
            try:
                with open(os.path.join(d, "cgroup.procs")) as f:
                    for pid in f.read().split():
                        os.kill(int(pid), signal.SIGKILL)
            except (OSError, ValueError):
                pass
            time.sleep(0.02 * (attempt + 1))
    return True


def binary_sizes(path, tmp):
    """Size as installed, stripped, and of the shared libraries ldd lists."""
    res = {"path": path, "bytes": os.path.getsize(path), "stripped": None,
           "libs": [], "libs_bytes": 0}
    out = os.path.join(tmp, "stripped.bin")
    if shutil.which("strip"):
        r = subprocess.run(["strip", "-o", out, path], capture_output=True)
        if r.returncode == 0:
            res["stripped"] = os.path.getsize(out)
            os.unlink(out)
    r = subprocess.run(["ldd", path], capture_output=True, text=True)
    libs = set()
    for line in r.stdout.splitlines():
        # "libc.so.6 => /lib/.../libc.so.6 (0x..)" or "/lib64/ld-linux... (0x..)"
        parts = line.split() or [""]
        cand = parts[2] if "=>" in parts and len(parts) > 2 else parts[0]
        if cand.startswith("/") and os.path.exists(cand):
            libs.add(os.path.realpath(cand))
    res["libs"] = sorted(libs)
    res["libs_bytes"] = sum(os.path.getsize(x) for x in libs)
    return res
