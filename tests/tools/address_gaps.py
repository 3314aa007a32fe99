#!/usr/bin/env python3
"""Reads a time-stamped `ip monitor address` log ([ISO-TIME] lines) and prints, for every
address that was deleted (IPv4 or IPv6), how long it was away: "DEV/ADDR:NNNms" (999000 ms
when it never came back), longest first."""
import datetime
import re
import sys


def main():
    gone, gaps = {}, []
    for line in open(sys.argv[1]):
        m = re.match(r"\[([0-9T:.-]+)\] (Deleted )?\d+: (\S+)\s+inet6? (\S+)/", line)
        if not m:
            continue
        t = datetime.datetime.fromisoformat(m.group(1)).timestamp()
        key = (m.group(3), m.group(4))
        if m.group(2):
            gone[key] = t
        elif key in gone:
            gaps.append((t - gone.pop(key), key))
    gaps += [(999.0, key) for key in gone]
    print(" ".join("%s/%s:%dms" % (k[0], k[1], g * 1000) for g, k in sorted(gaps, reverse=True)))


if __name__ == "__main__":
    main()
