#!/usr/bin/env python3
"""Tables (Markdown) from bench/run.sh's raw results: medians per scenario, IMDS latency
and kind of apply (and the best wall time: on a shared machine the median carries the
other tenants' load).

    report.py RESULTS.jsonl                 the figures of one binary
    report.py BEFORE.jsonl AFTER.jsonl      each figure as "before -> after"
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


if __name__ == "__main__":
    main()
