"""Statistics and the text tables of bench.py."""
import statistics

# (key, label) of the latency rows, in print order.
LATENCY_ROWS = [
    ("run", "run /bin/true to exit (+delete)"),
    ("create", "  create"),
    ("start", "  start (command)"),
    ("start_exit", "  start -> container exited"),
    ("delete", "  delete"),
    ("lifecycle", "  create+start->exit+delete"),
    ("lim.run", "limits: run to exit (+delete)"),
    ("lim.create", "  limits: create"),
    ("lim.start", "  limits: start (command)"),
    ("lim.start_exit", "  limits: start -> exited"),
    ("lim.delete", "  limits: delete"),
    ("lim.lifecycle", "  limits: create+start->exit+delete"),
    ("exec", "exec /bin/true (running ctr)"),
    ("state", "state (running ctr)"),
]
RSS_ROWS = [
    ("run", "run (whole tree, incl. /bin/true)"),
    ("create", "create (command)"),
    ("init_hwm", "container init before start (VmHWM)"),
    ("start", "start (command)"),
    ("delete", "delete (command)"),
    ("exec", "exec /bin/true"),
    ("state", "state"),
]
CPU_ROWS = [("run", "run"), ("create", "create"), ("start", "start"),
            ("delete", "delete"), ("exec", "exec"), ("state", "state")]


def med(xs):
    return statistics.median(xs) if xs else None


def summary(xs):
    if not xs:
        return None
    return {"median": med(xs), "min": min(xs), "max": max(xs), "n": len(xs)}


def ratio(a, b):
    return a / b if a and b else None


def fmt_ratio(r):
    return "-" if r is None else f"{r:.2f}"


def _table(title, header, rows):
    if not rows:
        return ""
    widths = [max(len(str(r[i])) for r in [header] + rows)
              for i in range(len(header))]
    lines = ["", title]
    for n, r in enumerate([header] + rows):
        cells = [str(c).ljust(w) if i == 0 else str(c).rjust(w)
                 for i, (c, w) in enumerate(zip(r, widths))]
        lines.append("  ".join(cells).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _pairs(names):
    """The first runtime against each other one (rt/runc, rt/crun)."""
    return [(names[0], b) for b in names[1:]]


def metric_table(title, names, data, rows, scale, unit_fmt, spread=True):
    pairs = _pairs(names)
    header = ["metric"] + names + [f"{a}/{b}" for a, b in pairs]
    out = []
    for key, label in rows:
        if not any(data.get(n, {}).get(key) for n in names):
            continue
        cells = [label]
        meds = {}
        for n in names:
            s = summary(data.get(n, {}).get(key, []))
            if s is None:
                cells.append("-")
                continue
            meds[n] = s["median"]
            cell = unit_fmt(s["median"] / scale)
            if spread:
                cell += f" ({unit_fmt(s['min'] / scale)}-{unit_fmt(s['max'] / scale)})"
            cells.append(cell)
        cells += [fmt_ratio(ratio(meds.get(a), meds.get(b))) for a, b in pairs]
        out.append(cells)
    return _table(title, header, out)


def throughput_table(names, tput):
    pairs = _pairs(names)
    header = ["concurrency"] + names + [f"{a}/{b}" for a, b in pairs]
    rows = []
    for conc in sorted({c for n in names for c in tput.get(n, {})}):
        cells, meds = [f"{conc}"], {}
        for n in names:
            s = summary(tput.get(n, {}).get(conc, []))
            if s is None:
                cells.append("-")
                continue
            meds[n] = s["median"]
            cells.append(f"{s['median']:.1f} ({s['min']:.1f}-{s['max']:.1f})")
        cells += [fmt_ratio(ratio(meds.get(a), meds.get(b))) for a, b in pairs]
        rows.append(cells)
    return _table("throughput: containers/s, create+start+exit+delete "
                  "(median (min-max); ratio > 1 = first runtime faster)",
                  header, rows)


def _mib(b):
    return "-" if b is None else f"{b / 1048576:.2f}"


def size_table(names, sizes):
    header = ["runtime", "binary MiB", "stripped MiB", "shared libs",
              "libs MiB", "stripped+libs MiB"]
    rows = []
    for n in names:
        s = sizes.get(n)
        if not s:
            continue
        base = s["stripped"] if s["stripped"] is not None else s["bytes"]
        rows.append([n, _mib(s["bytes"]), _mib(s["stripped"]), len(s["libs"]),
                     _mib(s["libs_bytes"]), _mib(base + s["libs_bytes"])])
    return _table("binary size (libs: files ldd resolves, as installed)",
                  header, rows)


def minmem_table(names, minmem):
    header = ["runtime", "smallest memory.limit that runs /bin/true",
              "attempts"]
    rows = []
    for n in names:
        m = minmem.get(n)
        if not m:
            continue
        if m["kib"] is None:
            val = m["note"]
        else:
            val = ("<= " if m["note"] == "lower bound" else "") + f"{m['kib']} KiB"
        rows.append([n, val, m["attempts"]])
    return _table("minimum memory limit (binary search)", header, rows)
