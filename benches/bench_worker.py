#!/usr/bin/env python3
"""Measurement worker: one long-lived process per runtime.

Why a separate process: crun 1.8 needs a private mount namespace without
/sys/fs/cgroup/unified on a hybrid host. Entering that namespace once, for a
process that then runs every crun command, keeps the cost of `unshare` out of
crun's samples. Every runtime gets the same kind of worker so that the
measuring code (posix_spawn + pidfd + wait4) is identical for all of them.

The worker is a child subreaper, like a container shim: container inits
orphaned when `create` exits are re-parented to it, so it reaps them itself and
times start-to-exit exactly instead of polling `state`.

Protocol: one JSON object per line on stdin, one JSON answer per line on
stdout. Peak memory comes from wait4's rusage (ru_maxrss: the largest process
among the waited-for tree, the same number GNU time prints as %M).
"""
import ctypes
import json
import os
import select
import signal
import sys
import threading
import time

PR_SET_CHILD_SUBREAPER = 36
GNU_TIME = "/usr/bin/time"
ERR_TAIL = 800


class Abort(Exception):
    """SIGTERM from the orchestrator (Ctrl-C there): stop and clean up."""


def _on_term(_sig, _frame):
    raise Abort()


def wait_exit(pid, pidfd, timeout_s):
    """Block until pid exits, reap it when it is our child.

    Returns (exit code or None, rusage or None); raises TimeoutError.
    """
    poller = select.poll()
    poller.register(pidfd, select.POLLIN)
    if not poller.poll(int(timeout_s * 1000)):
        raise TimeoutError()
    try:
        _, status, ru = os.wait4(pid, 0)
    except ChildProcessError:
        return None, None
    return os.waitstatus_to_exitcode(status), ru


def vm_hwm_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


class Runner:
    def __init__(self, binary, root, tmp, timeout):
        self.binary = binary
        self.timeout = timeout  # seconds, for any one command
        self.root = root
        self.tmp = tmp
        self.env = dict(os.environ)
        self.lock = threading.Lock()
        self.inflight = set()
        self.stop = False
        os.makedirs(root, exist_ok=True)
        os.makedirs(tmp, exist_ok=True)

    def cmd(self, args, timeout=None, want_out=False, mem=False):
        """Run `<runtime> --root R <args>`; time it from spawn to reap.

        mem: run it under GNU time for its peak RSS. wait4's own ru_maxrss
        would be useless here: exec keeps the old mm's high-water mark, and a
        posix_spawn child starts out sharing this Python process's memory.
        GNU time forks from a small process (its floor is about 0.45 MiB).
        """
        tag = os.path.join(self.tmp, f"t{threading.get_ident()}")
        wr = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
        actions = [
            (os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
            (os.POSIX_SPAWN_OPEN, 1, tag + ".out", wr, 0o600),
            (os.POSIX_SPAWN_OPEN, 2, tag + ".err", wr, 0o600),
        ]
        argv = [self.binary, "--root", self.root, *args]
        if mem:
            argv = [GNU_TIME, "-f", "%M", "-o", tag + ".rss", *argv]
        timed_out = False
        timeout = timeout or self.timeout
        t0 = time.perf_counter_ns()
        pid = os.posix_spawn(argv[0], argv, self.env, file_actions=actions,
                             setsigdef=(signal.SIGTERM, signal.SIGINT))
        with self.lock:
            self.inflight.add(pid)
        pidfd = os.pidfd_open(pid)
        try:
            code, ru = wait_exit(pid, pidfd, timeout)
            t1 = time.perf_counter_ns()
        except TimeoutError:
            timed_out = True
            os.kill(pid, signal.SIGKILL)
            _, status, ru = os.wait4(pid, 0)
            code, t1 = os.waitstatus_to_exitcode(status), time.perf_counter_ns()
        finally:
            os.close(pidfd)
            with self.lock:
                self.inflight.discard(pid)
        res = {"ok": code == 0 and not timed_out, "rc": code, "ns": t1 - t0,
               "cpu_ns": int((ru.ru_utime + ru.ru_stime) * 1e9) if ru else None}
        if mem:
            # With a non-zero exit GNU time writes a note line before %M.
            last = (_read(tag + ".rss").strip().splitlines() or [""])[-1]
            res["maxrss"] = int(last) if last.isdigit() else None
        if want_out:
            res["out"] = _read(tag + ".out")
        if not res["ok"]:
            text = _read(tag + ".err") + _read(tag + ".out")
            msg = " | ".join(x.strip() for x in text.splitlines() if x.strip())
            if timed_out:
                msg = f"timed out after {timeout}s; {msg}"
            res["err"] = f"{' '.join(args)}: exit {code}: {msg[-ERR_TAIL:]}"
        return res

    def force_delete(self, cid):
        self.cmd(["kill", cid, "KILL"], timeout=10)
        return self.cmd(["delete", "--force", cid], timeout=20)

    def exists(self, cid):
        return self.cmd(["state", cid], timeout=10)["ok"]

    def run(self, cid, bundle, mem=False):
        """`run` to exit; `delete` too (timed) if `run` left the container."""
        res = {"run": self.cmd(["run", "--bundle", bundle, cid], mem=mem)}
        if not res["run"]["ok"]:
            self.force_delete(cid)
        elif self.exists(cid):
            res["delete"] = self.cmd(["delete", cid], mem=mem)
        return res

    def create(self, cid, bundle, res, mem=False):
        """create with --pid-file; returns (pid, pidfd) or None on failure."""
        pidfile = os.path.join(self.tmp, cid + ".pid")
        res["create"] = r = self.cmd(
            ["create", "--bundle", bundle, "--pid-file", pidfile, cid], mem=mem)
        if not r["ok"]:
            self.force_delete(cid)
            return None
        try:
            pid = int(_read(pidfile).strip())
            os.unlink(pidfile)
            pidfd = os.pidfd_open(pid)
        except (ValueError, OSError) as e:
            r["ok"], r["err"] = False, f"create {cid}: bad pid file: {e}"
            self.force_delete(cid)
            return None
        return pid, pidfd

    def lifecycle(self, cid, bundle, mem=False):
        """create, start, wait for the container init to exit, delete."""
        res = {}
        got = self.create(cid, bundle, res, mem)
        if got is None:
            return res
        pid, pidfd = got
        try:
            res["init_hwm"] = vm_hwm_kib(pid)
            t0 = time.perf_counter_ns()
            res["start"] = r = self.cmd(["start", cid], mem=mem)
            if not r["ok"]:
                self.force_delete(cid)
                return res
            try:
                code, _ = wait_exit(pid, pidfd, self.timeout)
            except TimeoutError:
                res["start_exit"] = {"ok": False, "err": f"{cid} did not exit"}
                self.force_delete(cid)
                return res
            se = {"ok": code in (0, None), "ns": time.perf_counter_ns() - t0,
                  "rc": code}
            if not se["ok"]:
                se["err"] = f"container {cid} exited with {code}"
            res["start_exit"] = se
        finally:
            os.close(pidfd)
        res["delete"] = r = self.cmd(["delete", cid], mem=mem)
        if not r["ok"]:
            self.force_delete(cid)
        return res

    def sleeper_start(self, cid, bundle):
        res = {}
        got = self.create(cid, bundle, res)
        if got is None:
            return res
        os.close(got[1])
        res["start"] = r = self.cmd(["start", cid])
        if not r["ok"]:
            self.force_delete(cid)
        res["pid"] = got[0]
        return res

    def throughput(self, items, conc):
        """Lifecycles of all items with `conc` threads; wall time in ns."""
        queue = list(reversed(items))
        results = []

        def loop():
            while not self.stop:
                with self.lock:
                    if not queue:
                        return
                    cid, bundle = queue.pop()
                res = self.lifecycle(cid, bundle)
                with self.lock:
                    results.append(res)

        threads = [threading.Thread(target=loop) for _ in range(conc)]
        t0 = time.perf_counter_ns()
        for t in threads:
            t.start()
        try:
            for t in threads:
                t.join()
        finally:
            self.stop = True
            for t in threads:
                t.join()
            self.stop = False
        wall = time.perf_counter_ns() - t0
        errs = [r.get(k, {}).get("err") for r in results
                for k in ("create", "start", "start_exit", "delete")]
        errs = [e for e in errs if e]
        ok = not errs and len(results) == len(items)
        return {"ok": ok, "ns": wall, "n": len(results), "errs": errs[:3]}

    def sweep(self):
        """Reap orphans adopted as subreaper (never while commands run)."""
        while True:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return

    def cleanup(self):
        """Kill and delete every container still in our --root."""
        deadline = time.monotonic() + 15
        while self.inflight and time.monotonic() < deadline:
            time.sleep(0.05)
        for pid in list(self.inflight):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.1)
        ids = set()
        if os.path.isdir(self.root):
            ids = {d for d in os.listdir(self.root)
                   if os.path.isdir(os.path.join(self.root, d))}
        listed = self.cmd(["list", "-q"], timeout=10, want_out=True)
        if listed["ok"]:
            ids |= {x.strip() for x in listed["out"].splitlines() if x.strip()}
        for cid in sorted(ids):
            self.force_delete(cid)
        time.sleep(0.1)
        self.sweep()
        return {"ok": True, "found": sorted(ids)}


def _read(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def dispatch(runner, req):
    op = req["op"]
    mem = req.get("mem", False)
    if op == "cmd":
        return runner.cmd(req["args"], want_out=req.get("out", False), mem=mem)
    if op == "run":
        return runner.run(req["id"], req["bundle"], mem)
    if op == "lifecycle":
        return runner.lifecycle(req["id"], req["bundle"], mem=mem)
    if op == "sleeper_start":
        return runner.sleeper_start(req["id"], req["bundle"])
    if op == "throughput":
        return runner.throughput(req["items"], req["conc"])
    if op == "cleanup":
        return runner.cleanup()
    raise ValueError(f"unknown op {op}")


def main():
    binary, root, tmp, timeout = sys.argv[1:5]
    signal.signal(signal.SIGTERM, _on_term)
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        sys.exit(f"worker: prctl(PR_SET_CHILD_SUBREAPER): errno {ctypes.get_errno()}")
    # The protocol pipes move to private fds so no child can inherit them.
    proto_in = os.fdopen(os.dup(0), "r")
    proto_out = os.fdopen(os.dup(1), "w")
    null = os.open("/dev/null", os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    runner = Runner(binary, root, tmp, float(timeout))
    unified = os.path.ismount("/sys/fs/cgroup/unified")
    info = {"ready": True, "pid": os.getpid(),
            "mntns": os.readlink("/proc/self/ns/mnt"), "unified_mounted": unified}
    proto_out.write(json.dumps(info) + "\n")
    proto_out.flush()
    quit_seen = False
    try:
        for line in proto_in:
            req = json.loads(line)
            if req["op"] == "quit":
                quit_seen = True
                break
            try:
                resp = dispatch(runner, req)
            except (OSError, ValueError) as e:
                resp = {"ok": False, "err": f"worker: {req['op']}: {e}"}
            runner.sweep()
            proto_out.write(json.dumps(resp) + "\n")
            proto_out.flush()
        if not quit_seen:
            raise BrokenPipeError()  # the orchestrator is gone
    except (Abort, BrokenPipeError):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        runner.stop = True
        runner.cleanup()


if __name__ == "__main__":
    main()
