#!/usr/bin/env python3
"""UDP traffic for the live networkd test: send from every configured address, count on
the far side, in each router namespace, per source address.

    traffic_udp.py recv --bind ADDR --port P --out FILE
        Counts datagrams per (run, source address) on ADDR:P (distinct sequence numbers,
        so a duplicate is not counted twice) and rewrites FILE (JSON) every 100 ms and at
        SIGTERM: {"RUN": {"SRC": count}}. ADDR may be IPv4 or IPv6.

    traffic_udp.py send --run RUN --dest ADDR [--dest6 ADDR6] --port P --rate N --out FILE
                        [--src ADDR]... [--new-src ADDR]... [--ready FILE]
        Sends N datagrams/s from each --src (bound to it) until SIGTERM, then writes FILE:
        {"SRC": {"sent": n, "errors": n, "new": bool, "first": t}}. A --new-src address
        need not exist yet: it starts counting once it can be bound (address added).
        A send that fails (no route, address gone) counts as sent and as an error.
        Writes --ready once every --src socket is bound. IPv6 sources send to --dest6.

    traffic_udp.py report --run RUN --sent FILE --map SRC=ROUTER... --recv ROUTER=FILE...
        One line per source and a total line; prints JSON totals last (for the test).
        Several --recv files of one ROUTER (an IPv4 and an IPv6 receiver) add up.
"""
import argparse
import errno
import json
import os
import signal
import socket
import sys
import time


def write_json(path, obj):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f)
    os.rename(tmp, path)


def family(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def recv(a):
    s = socket.socket(family(a.bind), socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.bind((a.bind, a.port))
    s.settimeout(0.1)
    seen = {}  # run -> src -> set(seq)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    dirty, last = True, 0.0
    while not stop:
        try:
            data, peer = s.recvfrom(2048)
            src = peer[0]
            parts = data.decode("ascii", "replace").split()
            if len(parts) == 3 and parts[0] == "ec2nc":
                seen.setdefault(parts[1], {}).setdefault(src, set()).add(int(parts[2]))
                dirty = True
        except socket.timeout:
            pass
        except (OSError, ValueError):
            continue
        now = time.monotonic()
        if dirty and now - last >= 0.1:
            write_json(a.out, {r: {src: len(q) for src, q in d.items()} for r, d in seen.items()})
            dirty, last = False, now
    write_json(a.out, {r: {src: len(q) for src, q in d.items()} for r, d in seen.items()})


def send(a):
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    srcs = {}
    for addr, new in [(x, False) for x in a.src] + [(x, True) for x in a.new_src]:
        srcs[addr] = {"sent": 0, "errors": 0, "new": new, "first": None, "sock": None, "seq": 0}

    def try_bind(addr, st):
        s = socket.socket(family(addr), socket.SOCK_DGRAM)
        s.setblocking(False)
        try:
            s.bind((addr, 0))
        except OSError:
            s.close()
            return False
        st["sock"] = s
        return True

    for addr, st in srcs.items():
        if ":" in addr and not a.dest6:
            sys.exit("IPv6 source %s needs --dest6" % addr)
        if not st["new"] and not try_bind(addr, st):
            sys.exit("cannot bind %s: not an address here" % addr)
    if a.ready:
        write_json(a.ready, {"ok": True})
    period = 1.0 / a.rate
    t0 = time.monotonic()
    tick = 0
    while not stop:
        for addr, st in srcs.items():
            if st["sock"] is None:
                if not try_bind(addr, st):
                    continue
            if st["first"] is None:
                st["first"] = time.time()
            st["seq"] += 1
            st["sent"] += 1
            try:
                dest = a.dest6 if ":" in addr else a.dest
                st["sock"].sendto(("ec2nc %s %d" % (a.run, st["seq"])).encode(), (dest, a.port))
            except OSError as e:
                st["errors"] += 1
                st.setdefault("errnos", {})
                name = errno.errorcode.get(e.errno, str(e.errno))
                st["errnos"][name] = st["errnos"].get(name, 0) + 1
        tick += 1
        delay = t0 + tick * period - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    out = {}
    for addr, st in srcs.items():
        out[addr] = {k: v for k, v in st.items() if k not in ("sock", "seq")}
    write_json(a.out, out)


def report(a):
    sent = json.load(open(a.sent))
    owner = dict(m.split("=", 1) for m in a.map)
    got = {}
    for r in a.recv:
        name, path = r.split("=", 1)
        try:
            counts = json.load(open(path)).get(a.run, {})
        except (OSError, ValueError):
            counts = {}
        mine = got.setdefault(name, {})
        for src, n in counts.items():
            mine[src] = mine.get(src, 0) + n
    tot = {"old": dict(sent=0, right=0, misrouted=0, lost=0, errors=0),
           "new": dict(sent=0, right=0, misrouted=0, lost=0, errors=0)}
    for src in sorted(sent):
        st = sent[src]
        right = got.get(owner.get(src, "?"), {}).get(src, 0)
        wrong = {n: c.get(src, 0) for n, c in got.items() if n != owner.get(src) and c.get(src, 0)}
        mis = sum(wrong.values())
        lost = st["sent"] - right - mis
        kind = "new" if st["new"] else "old"
        for k, v in (("sent", st["sent"]), ("right", right), ("misrouted", mis), ("lost", lost),
                     ("errors", st["errors"])):
            tot[kind][k] += v
        print("  %-4s %-15s via %-5s sent=%-5d right=%-5d misrouted=%-3d%s lost=%-3d errors=%d%s" % (
            kind, src, owner.get(src, "?"), st["sent"], right, mis,
            " (at %s)" % ",".join("%s:%d" % kv for kv in sorted(wrong.items())) if wrong else "",
            lost, st["errors"], " %s" % st.get("errnos") if st.get("errnos") else ""))
    print(json.dumps(tot))


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("recv")
    r.add_argument("--bind", required=True)
    r.add_argument("--port", type=int, required=True)
    r.add_argument("--out", required=True)
    s = sub.add_parser("send")
    s.add_argument("--run", required=True)
    s.add_argument("--dest", required=True)
    s.add_argument("--dest6")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--rate", type=float, default=200)
    s.add_argument("--src", action="append", default=[])
    s.add_argument("--new-src", action="append", default=[])
    s.add_argument("--out", required=True)
    s.add_argument("--ready")
    t = sub.add_parser("report")
    t.add_argument("--run", required=True)
    t.add_argument("--sent", required=True)
    t.add_argument("--map", action="append", default=[])
    t.add_argument("--recv", action="append", default=[])
    a = p.parse_args()
    {"recv": recv, "send": send, "report": report}[a.cmd](a)


if __name__ == "__main__":
    main()
