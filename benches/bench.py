#!/usr/bin/env python3
"""rt vs runc vs crun on one busybox bundle, interleaved. See README.md.

Run as root:  benches/bench.py [--runtimes rt,runc,crun] [--rounds 30]
              [--rt target/x86_64-unknown-linux-gnu/release/rt] [--quick] [--json out.json]
Exit status: 0 when every runtime command succeeded and nothing was left
behind, 1 otherwise, 130 when interrupted (after cleaning up).
"""
import argparse
import json
import os
import secrets
import shutil
import signal
import subprocess
import statistics
import sys
import tempfile
import time
from collections import defaultdict

sys.dont_write_bytecode = True  # keep benches/ free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_env as env  # noqa: E402
import bench_report as rep  # noqa: E402

REPO = os.path.dirname(env.HERE)
KiB = 1024
PHASES = ("latency", "memory", "throughput", "minmem", "size")
GNU_TIME = "/usr/bin/time"


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runtimes", default="rt,runc,crun",
                   help="comma list; the first is compared with the others")
    p.add_argument("--rounds", type=int, help="timed rounds (default 30, quick 3)")
    p.add_argument("--rt", help="rt binary (default: what `cargo static` "
                   "builds, built if missing)")
    p.add_argument("--rt-base", help="a second rt binary, runtime name rt-base: "
                   "an A/B of two builds (what a change cost or bought)")
    p.add_argument("--quick", action="store_true", help="few rounds: smoke test")
    p.add_argument("--json", help="also write raw results to this file")
    p.add_argument("--tput-n", type=int, help="containers per throughput "
                   "sample (default 24, quick 6)")
    p.add_argument("--mem-rounds", type=int, help="untimed rounds under GNU "
                   "time for peak RSS (default 3, quick 1)")
    p.add_argument("--timeout", type=float, help="seconds for any one "
                   "runtime command (default 20, quick 10)")
    p.add_argument("--max-failures", type=int, default=5, help="drop a "
                   "runtime after this many failed commands (default 5)")
    p.add_argument("--phases", default=",".join(PHASES),
                   help=f"comma list of phases to run (default: {','.join(PHASES)})")
    p.add_argument("--tmpdir", help="parent of the scratch dir (default $TMPDIR)")
    p.add_argument("--settle", type=float, default=0, help="ms of idle, "
                   "untimed, before every latency command (default 0); see "
                   "benches/README.md on cgroup writes, warm and cold")
    p.add_argument("--rss-guard", metavar="RUNTIME", help="fail when the first "
                   "runtime's median peak RSS of a command (create, start, "
                   "state, exec, delete) is above RUNTIME's: catches a stale "
                   "code layout (benches/layout), which costs rt ~2 MiB")
    a = p.parse_args()
    a.names = [n.strip() for n in a.runtimes.split(",") if n.strip()]
    if not a.names or len(set(a.names)) != len(a.names):
        p.error("--runtimes: give distinct runtime names")
    for n in a.names:
        if n not in ("rt", "rt-base", "runc", "crun"):
            p.error(f"--runtimes: unknown runtime {n!r} (rt, rt-base, runc, crun)")
        if n == "rt-base" and not a.rt_base:
            p.error("--runtimes rt-base needs --rt-base PATH")
    a.phases = [x.strip() for x in a.phases.split(",") if x.strip()]
    if a.rss_guard and (a.rss_guard not in a.names[1:] or "memory" not in a.phases):
        p.error("--rss-guard: name a compared runtime, with the memory phase")
    for x in a.phases:
        if x not in PHASES:
            p.error(f"--phases: unknown phase {x!r} ({', '.join(PHASES)})")
    a.rounds = a.rounds if a.rounds is not None else (3 if a.quick else 30)
    a.tput_n = a.tput_n or (6 if a.quick else 24)
    a.tput_reps = 1 if a.quick else 3
    a.timeout = a.timeout or (10.0 if a.quick else 20.0)
    if a.mem_rounds is None:
        a.mem_rounds = 1 if a.quick else 3
    a.minmem_step = (128 if a.quick else 16) * KiB
    return a


def resolve_binary(name, args):
    if name == "rt-base":
        path = os.path.abspath(args.rt_base)
        if not os.path.exists(path):
            raise env.BenchError(f"rt-base binary {path}: no such file")
        return path
    if name != "rt":
        path = shutil.which(name)
        if not path:
            raise env.BenchError(f"{name}: not found (run benches/setup.sh)")
        return path
    path = os.path.abspath(args.rt or os.path.join(REPO, STATIC_RT))
    if not os.path.exists(path):
        if args.rt:
            raise env.BenchError(f"rt binary {path}: no such file")
        log(f"building {path} (cargo static)")
        r = subprocess.run(["cargo", "static"], cwd=REPO)
        if r.returncode != 0 or not os.path.exists(path):
            raise env.BenchError("cargo static failed")
    return path


# What `cargo static` (.cargo/config.toml) builds: the release binary.
STATIC_RT = "target/x86_64-unknown-linux-gnu/release/rt"


def log(msg):
    print(msg, file=sys.stderr, flush=True)


class Bench:
    def __init__(self, args, bundles, workers, notes):
        self.args = args
        self.notes = notes
        self.names = args.names
        self.b = bundles
        self.w = workers
        self.seq = 0
        self.session = bundles.cg_parent
        self.recording = True
        self.mem = False  # memory rounds: under GNU time, RSS only
        self.lat = defaultdict(lambda: defaultdict(list))
        self.rss = defaultdict(lambda: defaultdict(list))
        self.cpu = defaultdict(lambda: defaultdict(list))
        self.tput = defaultdict(lambda: defaultdict(list))
        self.minmem = {}
        self.errors = []
        self.sleepers = {}
        self.sleeper_bundles = []
        self.dropped = set()
        self.passed = 0

    def new_id(self, name):
        self.seq += 1
        return f"{self.session}-{name}-{self.seq}"

    def check(self, name, what, r):
        if r.get("ok"):
            self.passed += 1
            return True
        self.errors.append({"runtime": name, "what": what, "err": r.get("err")})
        failed = sum(e["runtime"] == name for e in self.errors)
        if failed <= 3:
            log(f"FAIL {name} {what}: {r.get('err')}")
        if failed >= self.args.max_failures and name not in self.dropped:
            # A broken runtime must not turn a smoke test into a long wait.
            self.dropped.add(name)
            self.notes.append(f"{name} dropped after {failed} failed commands")
            log(f"{name}: {failed} failures, skipping it from now on")
        return False

    def record(self, name, key, r, rss_key=None):
        if not self.recording:
            return
        if self.mem:
            if rss_key and r.get("maxrss") is not None:
                self.rss[name][rss_key].append(r["maxrss"])
            return
        self.lat[name][key].append(r["ns"])
        if rss_key and r.get("cpu_ns") is not None:
            self.cpu[name][rss_key].append(r["cpu_ns"])

    def order(self, i=0):
        """Runtimes still measured, rotated by i so drift hits all alike."""
        k = i % len(self.names)
        return [n for n in self.names[k:] + self.names[:k]
                if n not in self.dropped]

    # --- scenarios -----------------------------------------------------
    def sc_run(self, name, kind, pre):
        cid = self.new_id(name)
        bundle = self.b.make(cid, kind)
        r = self.w[name].req("run", id=cid, bundle=bundle, mem=self.mem)
        self.b.drop(bundle)
        if not self.check(name, pre + "run", r["run"]):
            return
        total = dict(r["run"])
        if "delete" in r:
            if not self.check(name, pre + "delete after run", r["delete"]):
                return
            total["ns"] += r["delete"]["ns"]
            total["cpu_ns"] = ((total.get("cpu_ns") or 0)
                               + (r["delete"].get("cpu_ns") or 0))
        self.record(name, pre + "run", total, None if pre else "run")

    def sc_lifecycle(self, name, kind, pre):
        cid = self.new_id(name)
        bundle = self.b.make(cid, kind)
        r = self.w[name].req("lifecycle", id=cid, bundle=bundle, mem=self.mem)
        self.b.drop(bundle)
        steps = ("create", "start", "start_exit", "delete")
        ok = all(s in r and self.check(name, pre + s, r[s]) for s in steps)
        for s in steps:
            if s in r and r[s].get("ok"):
                rss_key = None if pre or s == "start_exit" else s
                self.record(name, pre + s, r[s], rss_key)
        if ok:
            total = r["create"]["ns"] + r["start_exit"]["ns"] + r["delete"]["ns"]
            self.record(name, pre + "lifecycle", {"ns": total})
        if not pre and r.get("init_hwm"):
            # VmHWM is per mm, so exec does not carry anything over into it.
            if self.recording:
                self.rss[name]["init_hwm"].append(r["init_hwm"])

    def sc_exec(self, name):
        r = self.w[name].req("cmd", args=["exec", self.sleepers[name], "/bin/true"],
                             mem=self.mem)
        if self.check(name, "exec", r):
            self.record(name, "exec", r, "exec")

    def sc_state(self, name):
        sid = self.sleepers[name]
        r = self.w[name].req("cmd", args=["state", sid], out=True, mem=self.mem)
        if r["ok"]:
            try:
                st = json.loads(r["out"])
                if st.get("id") != sid or st.get("status") != "running":
                    r["ok"], r["err"] = False, f"state {sid}: unexpected {st}"
            except ValueError:
                r["ok"], r["err"] = False, f"state {sid}: not JSON: {r['out'][:200]}"
        if self.check(name, "state", r):
            self.record(name, "state", r, "state")

    # --- phases --------------------------------------------------------
    def start_sleepers(self):
        for name in self.order():
            cid = self.new_id(name)
            bundle = self.b.make(cid, "sleep")
            r = self.w[name].req("sleeper_start", id=cid, bundle=bundle)
            # runc exec chdirs into the bundle: keep it while the container lives.
            self.sleeper_bundles.append(bundle)
            if all(s in r and self.check(name, "sleeper " + s, r[s])
                   for s in ("create", "start")):
                self.sleepers[name] = cid

    def stop_sleepers(self):
        for name, cid in self.sleepers.items():
            self.check(name, "delete --force of the running container",
                       self.w[name].req("cmd", args=["delete", "--force", cid]))
        self.sleepers = {}
        for bundle in self.sleeper_bundles:
            self.b.drop(bundle)

    def settle(self):
        """--settle: let the previous command's cgroup writes go cold."""
        if self.args.settle:
            time.sleep(self.args.settle / 1000)

    def round(self, i):
        for kind, pre in (("plain", ""), ("limits", "lim.")):
            for name in self.order(i):
                self.settle()
                self.sc_run(name, kind, pre)
            for name in self.order(i):
                self.settle()
                self.sc_lifecycle(name, kind, pre)
        for name in self.order(i):
            if name in self.sleepers:
                self.settle()
                self.sc_exec(name)
        for name in self.order(i):
            if name in self.sleepers:
                self.settle()
                self.sc_state(name)

    def latency(self):
        """Timed rounds, then untimed rounds under GNU time for peak RSS."""
        phases = self.args.phases
        self.start_sleepers()
        self.recording = False
        self.round(0)  # warm-up: page cache, first cgroup writes
        self.recording = True
        for i in range(self.args.rounds if "latency" in phases else 0):
            log(f"round {i + 1}/{self.args.rounds}")
            self.round(i)
        mem_rounds = self.args.mem_rounds if "memory" in phases else 0
        if mem_rounds and not os.access(GNU_TIME, os.X_OK):
            self.notes.append(f"peak RSS skipped: no {GNU_TIME} (benches/setup.sh)")
            mem_rounds = 0
        self.mem = True
        for i in range(mem_rounds):
            log(f"memory round {i + 1}/{mem_rounds} (under {GNU_TIME})")
            self.round(i)
        self.mem = False
        self.stop_sleepers()

    def throughput(self):
        n = self.args.tput_n
        for conc in (2, 4):
            for rep_i in range(self.args.tput_reps):
                log(f"throughput: concurrency {conc}, sample {rep_i + 1}")
                for name in self.order(rep_i):
                    items = []
                    for _ in range(n):
                        cid = self.new_id(name)
                        items.append((cid, self.b.make(cid, "plain")))
                    r = self.w[name].req("throughput", items=items, conc=conc)
                    for _, path in items:
                        self.b.drop(path)
                    if not r["ok"]:
                        r["err"] = f"{r['n']}/{n} done; " + "; ".join(r["errs"])
                    if self.check(name, f"throughput c={conc}", r):
                        self.tput[name][conc].append(n / (r["ns"] / 1e9))

    def min_memory(self):
        lo, hi, step = 64 * KiB, 16 * 1024 * KiB, self.args.minmem_step
        for name in self.order():
            log(f"minimum memory limit: {name}")
            attempts, last_err = 0, ""

            def runs(limit):
                nonlocal attempts, last_err
                attempts += 1
                cid = self.new_id(name)
                bundle = self.b.make(cid, "mem", mem_limit=limit)
                r = self.w[name].req("run", id=cid, bundle=bundle)
                self.b.drop(bundle)
                last_err = r["run"].get("err", "")
                return r["run"]["ok"] and r.get("delete", {"ok": True})["ok"]

            a, b = lo, hi
            if not runs(b):
                self.minmem[name] = {"kib": None, "attempts": attempts,
                                     "note": f"fails even at {hi // KiB} KiB"}
                self.check(name, "run with 16 MiB memory limit",
                           {"ok": False, "err": last_err})
                continue
            if runs(a):
                self.minmem[name] = {"kib": a // KiB, "attempts": attempts,
                                     "note": "lower bound"}
                continue
            while b - a > step:
                mid = (a + b) // 2 // 4096 * 4096
                a, b = (a, mid) if runs(mid) else (mid, b)
            # Near the edge a run may pass once and fail the next time:
            # take the smallest limit that passes three times in a row.
            while not all(runs(b) for _ in range(3)) and b < hi:
                b += step
            self.minmem[name] = {"kib": b // KiB, "attempts": attempts,
                                 "note": ""}


def print_report(args, bench, facts, versions, sizes, notes):
    names = args.names
    print(f"rt-bench  {facts['date']}  kernel {facts['kernel']}  cgroups "
          f"{facts['cgroups']}  {facts['cpus']} cpus  {facts['cpu']}")
    for n in names:
        print(f"  {n}: {versions[n]}")
    load = (facts["load_start"], facts.get("load_end", 0.0))
    print(f"  load average (1 min) at start {load[0]:.1f}, at end {load[1]:.1f}")
    if max(load) > facts["cpus"] / 2:
        notes.append("the machine was busy with other work: wall times are "
                     "noisy, CPU times and ratios are steadier; rerun when idle")
    print(f"  rounds: {args.rounds} (+1 warm-up), order rotated every round; "
          "busybox-static rootfs; config from `runc spec`")
    for note in notes:
        print("  note: " + note)
    tables = [
        rep.metric_table("latency, ms: median (min-max); ratio of medians "
                         "(< 1 = first runtime faster)", names, bench.lat,
                         rep.LATENCY_ROWS, 1e6, lambda v: f"{v:.1f}"),
        rep.metric_table("peak RSS, KiB (ru_maxrss of the runtime's process "
                         "tree = GNU time %M; VmHWM for a waiting init): median",
                         names, bench.rss, rep.RSS_ROWS, 1,
                         lambda v: f"{v:.0f}", spread=False),
        rep.metric_table("CPU time (user+sys of the runtime's tree), ms: median",
                         names, bench.cpu, rep.CPU_ROWS, 1e6,
                         lambda v: f"{v:.1f}", spread=False),
        rep.throughput_table(names, bench.tput),
        rep.minmem_table(names, bench.minmem),
        rep.size_table(names, sizes),
    ]
    for t in tables:
        if t:
            print(t)


GUARDED_RSS = ("create", "start", "state", "exec", "delete")


def rss_guard(first, other, rss):
    """Errors for each command where `first` peaks above `other`.

    The README claims rt's commands are smaller than crun's; this keeps the
    claim tested. The usual way to lose it is a stale hot-function list:
    new code on the hot path scattered over .text, faulted in 64 KiB at a
    time (benches/README.md, "Code layout").
    """
    errs = []
    for key in GUARDED_RSS:
        a, b = rss[first].get(key), rss[other].get(key)
        if not a or not b:
            errs.append({"runtime": first, "what": f"rss {key}",
                         "err": f"no peak RSS measured for {first} or {other}"})
            continue
        ma, mb = statistics.median(a), statistics.median(b)
        if ma > mb:
            errs.append({"runtime": first, "what": f"rss {key}",
                         "err": f"peak RSS {ma:.0f} KiB > {other}'s {mb:.0f} KiB "
                         "(code layout stale? rerun benches/layout/collect.sh)"})
    return errs


def main():
    args = parse_args()
    if os.geteuid() != 0:
        sys.exit("bench: must run as root (containers, cgroups)")
    interrupted = False

    def on_term(_sig, _frame):
        raise KeyboardInterrupt()
    signal.signal(signal.SIGTERM, on_term)

    tmp = tempfile.mkdtemp(prefix="rt-bench-", dir=args.tmpdir)
    session = "rtb" + secrets.token_hex(3)
    workers, leftovers, bench = {}, [], None
    facts, versions, sizes, notes = env.host_facts(), {}, {}, []
    try:
        binaries = {n: resolve_binary(n, args) for n in args.names}
        spec_bin = shutil.which("runc") or binaries[args.names[0]]
        bundles = env.Bundles(tmp, session, spec_bin)
        for n in args.names:
            versions[n] = f"{binaries[n]}: {env.first_line([binaries[n], '--version'])}"
            private = n == "crun" and facts["cgroups"] == "hybrid"
            workers[n] = env.Worker(n, binaries[n], tmp, private, args.timeout)
            if private:
                notes.append(
                    f"every crun command ran in one private mount namespace "
                    f"({workers[n].info['mntns']}) with {env.UNIFIED} unmounted "
                    "(crun 1.8 refuses this hybrid host otherwise); it was "
                    "entered once, so its cost is in no sample")
        bench = Bench(args, bundles, workers, notes)
        if args.settle:
            notes.append(f"--settle: {args.settle:g} ms idle before every "
                         "latency command (each starts with cgroup writes cold)")
        if {"latency", "memory"} & set(args.phases):
            bench.latency()
        if "throughput" in args.phases:
            bench.throughput()
        if "minmem" in args.phases:
            bench.min_memory()
        if "size" in args.phases:
            sizes = {n: env.binary_sizes(binaries[n], tmp) for n in args.names}
        facts["load_end"] = os.getloadavg()[0]
    except KeyboardInterrupt:
        interrupted = True
        log("interrupted: cleaning up")
    except env.BenchError as e:
        log(f"bench: {e}")
        if bench is None:
            bench = Bench(args, None, workers, notes)
        bench.errors.append({"runtime": "-", "what": "setup", "err": str(e)})
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for n, w in workers.items():
            found = w.close(interrupted)
            leftovers += [f"{n}: container {c} left in --root" for c in found]
        leftovers += [f"cgroup {d} not removable"
                      for d in env.remove_cgroups(session)]
        shutil.rmtree(tmp, ignore_errors=True)
        if os.path.exists(tmp):
            leftovers.append(f"{tmp} not removable")
    if interrupted:
        sys.exit(130)
    for item in leftovers:
        bench.errors.append({"runtime": "-", "what": "cleanup", "err": item})
    if args.rss_guard and bench.b is not None:
        bench.errors += rss_guard(args.names[0], args.rss_guard, bench.rss)
    if bench.b is not None:
        print_report(args, bench, facts, versions, sizes, notes)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"facts": facts, "versions": versions, "args": vars(args),
                       "notes": notes, "latency_ns": bench.lat,
                       "rss_kib": bench.rss, "cpu_ns": bench.cpu,
                       "throughput_per_s": bench.tput, "min_memory": bench.minmem,
                       "sizes": sizes, "errors": bench.errors,
                       "workers": {n: w.info for n, w in workers.items()}},
                      f, indent=1)
    print(f"\ncleanup: {'nothing left behind' if not leftovers else leftovers}")
    if bench.errors:
        print(f"{len(bench.errors)} runtime command(s) failed:")
        for e in bench.errors[:20]:
            print(f"  {e['runtime']} {e['what']}: {e['err']}")
    # The closing line CI reads: checked runtime operations.
    print(f"bench: {bench.passed} passed, {len(bench.errors)} failed")
    sys.exit(1 if bench.errors else 0)


if __name__ == "__main__":
    main()
