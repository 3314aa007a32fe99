#!/usr/bin/env python3
"""Tables (Markdown) from bench/run.sh's raw results: medians per scenario, IMDS latency
and kind of apply (and the best wall time: on a shared machine the median carries the
other tenants' load).

    report.py RESULTS.jsonl                 the figures of one binary
    report.py BEFORE.jsonl AFTER.jsonl      each figure as "before -> after"

Then, for the last binary and each IMDS latency and kind of apply, CPU time against the
shape: a least-squares fit CPU = a + b x ENIs + c x addresses (addresses: the
instance's IPv4 and IPv6 addresses, all ENIs), with each scenario's deviation from it.
"""
import json
import statistics
import sys

KINDS = {"first": "first apply", "again": "no change"}
# column title, result key, scale, format
COLUMNS = [
    ("wall ms", "wall_us", 1e-3, "%.1f"),
    ("best wall ms", "best_wall_us", 1e-3, "%.1f"),
    ("CPU ms", "cpu_us", 1e-3, "%.1f"),
    ("peak RSS MiB", "rss_kb", 1 / 1024, "%.1f"),
    ("IMDS requests", "requests", 1, "%d"),
    ("rounds", "rounds", 1, "%d"),
    ("TCP conns", "connections", 1, "%d"),
    ("netlink msgs", "netlink", 1, "%d"),
    ("kernel changes", "changes", 1, "%d"),
    ("files written", "files", 1, "%d"),
]


def load(path):
    rows = []
    with open(path) as f:
        for line in f:
            if line.strip():
                r = json.loads(line)
                if "user_us" in r:
                    r["cpu_us"] = r["user_us"] + r["sys_us"]
                rows.append(r)
    return rows


def medians(rows):
    """{(scenario, latency, kind): {key: median}} plus the scenario order, and the
    binary's own figures."""
    groups, order, own = {}, [], {}
    for r in rows:
        if r["kind"] == "size":
            own["size"] = r["bytes"]
            continue
        if r["kind"] == "help":
            own.setdefault("help", []).append(r)
            continue
        key = (r["scenario"], r["latency_ms"], r["kind"])
        if key not in groups:
            groups[key] = []
            order.append(key)
        groups[key].append(r)
    out = {}
    for key, rs in groups.items():
        m = {k: statistics.median(r[k] for r in rs) for _, k, _, _ in COLUMNS if k in rs[0]}
        m["best_wall_us"] = min(r["wall_us"] for r in rs)
        m.update(enis=rs[0]["enis"], v4=rs[0]["v4"], v6=rs[0]["v6"], runs=len(rs),
                 failed=sum(1 for r in rs if r.get("status", 0) != 0))
        out[key] = m
    if "help" in own:
        h = own["help"]
        own["help"] = {k: statistics.median(r[k] for r in h) for k in ("wall_us", "cpu_us", "rss_kb")}
        own["help"]["best_wall_us"] = min(r["wall_us"] for r in h)
    return out, order, own


def addresses(m):
    """The instance's IPv4 + IPv6 addresses: ENIs x per-ENI counts ("2/1": one figure
    per ENI)."""
    def total(v):
        if isinstance(v, str) and "/" in v:
            return sum(int(x) for x in v.split("/"))
        return int(v) * m["enis"]
    return total(m["v4"]) + total(m["v6"])


def solve(a, b):
    """x with a x = b (Gaussian elimination with partial pivoting; a is small)."""
    n = len(b)
    m = [row[:] + [b[i]] for i, row in enumerate(a)]
    for c in range(n):
        p = max(range(c, n), key=lambda r: abs(m[r][c]))
        if abs(m[p][c]) < 1e-12:
            return None
        m[c], m[p] = m[p], m[c]
        for r in range(n):
            if r != c:
                f = m[r][c] / m[c][c]
                m[r] = [x - f * y for x, y in zip(m[r], m[c])]
    return [m[i][n] / m[i][i] for i in range(n)]


def linearity(figures, order):
    """Lines of the fit CPU = a + b ENIs + c addresses, per latency and kind (at least
    four scenarios needed)."""
    lines = []
    for lat in sorted({k[1] for k in order}):
        for kind in KINDS:
            keys = [k for k in order if k[1] == lat and k[2] == kind and "cpu_us" in figures[k]]
            if len(keys) < 4:
                continue
            xs = [(1.0, figures[k]["enis"], addresses(figures[k])) for k in keys]
            ys = [figures[k]["cpu_us"] / 1000 for k in keys]
            ata = [[sum(x[i] * x[j] for x in xs) for j in range(3)] for i in range(3)]
            aty = [sum(x[i] * y for x, y in zip(xs, ys)) for i in range(3)]
            coef = solve(ata, aty)
            if coef is None:
                continue
            dev = []
            for k, x, y in zip(keys, xs, ys):
                fit = sum(c * v for c, v in zip(coef, x))
                dev.append("%s %.1f (fit %.1f)" % (k[0], y, fit))
            lines.append("- %s ms, %s: CPU ms = %.2f + %.3f x ENIs + %.4f x addresses; %s" % (
                lat, KINDS[kind], coef[0], coef[1], coef[2], ", ".join(dev)))
    return lines


def cell(fmt, scale, *values):
    return " -> ".join("-" if v is None else fmt % (v * scale) for v in values)


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    sets = [medians(load(p)) for p in sys.argv[1:]]
    figures = [s[0] for s in sets]
    order = sets[-1][1]
    owns = [s[2] for s in sets]

    def own(key, sub, scale, fmt):
        vals = [o.get(key) if sub is None else (o.get(key) or {}).get(sub) for o in owns]
        return cell(fmt, scale, *vals)

    print("binary stripped: %s MiB; `--help`: %s ms wall (best %s), %s MiB peak RSS" % (
        own("size", None, 1 / 1048576, "%.2f"), own("help", "wall_us", 1e-3, "%.1f"),
        own("help", "best_wall_us", 1e-3, "%.1f"), own("help", "rss_kb", 1 / 1024, "%.1f")))
    print()
    head = ["scenario", "ENIs", "IPv4/ENI", "IPv6/ENI", "IMDS latency", "apply"] + [c[0] for c in COLUMNS]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for key in order:
        scen, lat, kind = key
        last = figures[-1][key]
        row = [scen, str(last["enis"]), str(last["v4"]), str(last["v6"]), "%s ms" % lat, KINDS.get(kind, kind)]
        for _, k, scale, fmt in COLUMNS:
            row.append(cell(fmt, scale, *[(f.get(key) or {}).get(k) for f in figures]))
        if any((f.get(key) or {}).get("failed") for f in figures):
            row[5] += " (some runs failed)"
        print("| " + " | ".join(row) + " |")
    runs = sorted({f[k]["runs"] for f in figures for k in f})
    print()
    print("Medians of %s run(s) each." % "/".join(str(r) for r in runs))
    fit = linearity(figures[-1], order)
    if fit:
        print()
        print("CPU time against the shape (least squares over the scenarios; each scenario's median and the fit's value):")
        print()
        for line in fit:
            print(line)


if __name__ == "__main__":
    main()
