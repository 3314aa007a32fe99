#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets (tests/fuzz/corpus/<target>/seed-*) from
the project's own data: the scenario captures, the example configuration, the netplan
files of tests/data/netplan, and netlink
dump replies of a real kernel (and the state.json record) in a network namespace where
ec2-netcfg has applied a scenario. Crashers (crash-*) found by fuzzing are kept by hand beside the seeds and are
never touched here.

    tests/fuzz/seeds.py [--netlink BIN]

--netlink BIN (root): also capture the netlink seeds and the record written by a real
apply, running BIN (ec2-netcfg) apply with the netlink backend in a namespace of its
own. Without it the seeds captured before are left as they are.
"""
import json
import os
import socket
import struct
import subprocess
import sys

SRC = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CORPUS = os.path.join(SRC, "tests", "fuzz", "corpus")
SCENARIOS = os.path.join(SRC, "tests", "data", "scenarios")
MACS = "meta-data/network/interfaces/macs/"
# largest.json (37 KB) would make libFuzzer's default input length that large.
SMALL_SCENARIOS = sorted(f[:-5] for f in os.listdir(SCENARIOS) if f.endswith(".json") and f != "largest.json")


def write(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


def clear_seeds(target):
    d = os.path.join(CORPUS, target)
    if os.path.isdir(d):
        for f in os.listdir(d):
            if f.startswith("seed-"):
                os.unlink(os.path.join(d, f))


def load(name):
    with open(os.path.join(SCENARIOS, name + ".json")) as f:
        return json.load(f)["paths"]


def tree_bytes(paths, failing=()):
    """The fuzz_metadata_tree input: path\\0body\\0... ('!path' answers an error)."""
    out = []
    for k in sorted(paths):
        out += [("!" + k) if k in failing else k, paths[k]]
    return "\0".join(out)


def capture_seeds():
    clear_seeds("fuzz_capture")
    for s in SMALL_SCENARIOS:
        with open(os.path.join(SCENARIOS, s + ".json")) as f:
            write("fuzz_capture", s + ".json", f.read())
    write("fuzz_capture", "empty-paths.json", '{"format": "ec2-netcfg-metadata/1", "paths": {}}')
    write("fuzz_capture", "other-format.json", '{"format": "ec2-netcfg-metadata/2", "paths": {}}')


def tree_seeds():
    clear_seeds("fuzz_metadata_tree")
    for s in SMALL_SCENARIOS:
        write("fuzz_metadata_tree", s, tree_bytes(load(s)))
    p = load("two-enis-two-subnets")
    second = [m for m in p[MACS].split("\n") if m][1]
    write("fuzz_metadata_tree", "fetch-failed-local-ipv4s", tree_bytes(p, {MACS + second + "local-ipv4s"}))
    q = dict(p)
    del q[MACS + second + "subnet-ipv4-cidr-block"]
    write("fuzz_metadata_tree", "incomplete-subnet", tree_bytes(q))


# Slots of fuzz_imds_values, in the order of its kSlots table.
VALUE_SLOTS = ["meta-data/mac", "MACS", "ENI", "device-number", "network-card", "network-card-index",
               "interface-id", "local-ipv4s", "subnet-ipv4-cidr-block", "ipv6s", "subnet-ipv6-cidr-blocks",
               "ipv4-prefix", "ipv6-prefix", "vpc-ipv4-cidr-blocks", "vpc-ipv4-cidr-block", "vpc-ipv6-cidr-blocks",
               "ipv4-associations/", "ipv4-associations/3.80.1.10"]


def value_seeds():
    clear_seeds("fuzz_imds_values")
    p = load("dual-stack-prefixes")
    p.update(load("four-enis-two-cards"))
    macs = [m.rstrip("/") for m in load("dual-stack-prefixes")[MACS].split("\n") if m]
    seen = set()
    for i, slot in enumerate(VALUE_SLOTS):
        if slot == "meta-data/mac":
            values = [p["meta-data/mac"]]
        elif slot == "MACS":
            values = [p[MACS]]
        else:
            key = "" if slot == "ENI" else slot
            values = [p[MACS + m + "/" + key] for m in macs if MACS + m + "/" + key in p]
            if slot.startswith("ipv4-associations/3"):
                values = ["10.0.0.34"]
            if slot in ("network-card", "network-card-index"):
                values = ["1"]
        for n, v in enumerate(values):
            if (i, v) in seen:
                continue
            seen.add((i, v))
            write("fuzz_imds_values", "%s-%d" % (slot.replace("/", "_").strip("_").replace(".", "_"), n),
                  bytes([i]) + v.encode())


def config_seeds():
    clear_seeds("fuzz_config")
    with open(os.path.join(SRC, "units", "ec2-netcfg.conf")) as f:
        example = f.read()
    write("fuzz_config", "example.conf", example)
    # The example with every key set: each line "#key = value" uncommented.
    lines = [l[1:] if l.startswith("#") and " = " in l and not l.startswith("# ") else l
             for l in example.split("\n")]
    write("fuzz_config", "every-key.conf", "\n".join(lines))
    write("fuzz_config", "bad-value.conf", "[main]\ntable-base = 12\n")
    write("fuzz_config", "unknown-key.conf", "[imds]\nretries = 3\n")


def netplan_seeds():
    """The netplan files of tests/data/netplan (but the largest shape's)."""
    clear_seeds("fuzz_netplan")
    base = os.path.join(SRC, "tests", "data", "netplan")
    for d in sorted(os.listdir(base)):
        if d == "largest":
            continue
        for f in sorted(os.listdir(os.path.join(base, d))):
            with open(os.path.join(base, d, f)) as fh:
                write("fuzz_netplan", d + "-" + f, fh.read())


def state_seeds():
    """Records as format_state writes them (core/run_state.cc), and two damaged ones."""
    for f in ("networkd-files.json", "truncated.json", "record-without-table.json"):
        if os.path.exists(os.path.join(CORPUS, "fuzz_state", "seed-" + f)):
            os.unlink(os.path.join(CORPUS, "fuzz_state", "seed-" + f))
    st = {"format": "ec2-netcfg-state/2", "interfaces": [
        {"name": "ens5", "mac": "02:86:10:7b:e4:f5", "ifindex": 2, "table": 10000,
         "addresses": ["10.0.0.35/32", "2600:1f18:aaaa:bb00::11/128"],
         "file_rules": [{"family": 4, "priority": 10000, "from": "10.0.0.34/32", "table": 10000},
                        {"family": 6, "priority": 9999, "table": 254, "suppress_prefixlength": 0,
                         "suppress_ifgroup": 10000}],
         "file_routes": [{"table": 10000, "dst": "0.0.0.0/0", "gateway": "10.0.0.1", "onlink": True},
                         {"table": 10000, "dst": "10.0.0.0/24", "scope": 253},
                         {"table": 10000, "dst": "::/0", "gateway": "ra"}]},
        {"name": "ens6", "mac": "02:86:10:7b:e4:f6", "ifindex": 3, "table": 10001,
         "addresses": ["10.0.1.21/32"]}]}
    text = json.dumps(st, indent=2) + "\n"
    write("fuzz_state", "networkd-files.json", text)
    write("fuzz_state", "truncated.json", text[:len(text) // 2])
    write("fuzz_state", "record-without-table.json", '{"interfaces": [{"name": "ens6", "mac": "02:86:10:7b:e4:f6", "ifindex": 3}]}')


# --- netlink: real kernel replies ----------------------------------------------------
NLM_F_REQUEST, NLM_F_ACK, NLM_F_DUMP = 1, 4, 0x300
RTM_GETLINK, RTM_GETADDR, RTM_GETROUTE, RTM_GETRULE, RTM_DELADDR = 18, 22, 26, 34, 21
NETLINK_CAP_ACK, NETLINK_EXT_ACK, SOL_NETLINK = 10, 11, 270


def nl_request(sock, mtype, flags, seq, body):
    sock.send(struct.pack("=IHHII", 16 + len(body), mtype, flags, seq, 0) + body)


def nl_dump(sock, mtype, family, seq):
    """The chunks of one dump reply, as recv() returns them."""
    if mtype == RTM_GETLINK:  # ifinfomsg + IFLA_EXT_MASK = RTEXT_FILTER_SKIP_STATS, as ec2-netcfg asks
        body = struct.pack("=BxHiII", family, 0, 0, 0, 0) + struct.pack("=HHI", 8, 29, 8)
    elif mtype == RTM_GETADDR:
        body = struct.pack("=BBBBI", family, 0, 0, 0, 0)
    else:  # rtmsg / fib_rule_hdr: 12 bytes, table 0 = every table
        body = struct.pack("=BBBBBBBBI", family, 0, 0, 0, 0, 0, 0, 0, 0)
    nl_request(sock, mtype, NLM_F_REQUEST | NLM_F_DUMP, seq, body)
    chunks = []
    while True:
        data = sock.recv(65536)
        chunks.append(data)
        off, done = 0, False
        while off + 16 <= len(data):
            ln, t = struct.unpack_from("=IH", data, off)
            if t in (2, 3):  # NLMSG_ERROR, NLMSG_DONE
                done = True
            off += (ln + 3) & ~3
        if done:
            return chunks


def netlink_capture():
    """Runs in the namespace: dumps links, addresses, routes and rules, and one failed
    request's extended ack, each reply chunk a seed."""
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
    sock.setsockopt(SOL_NETLINK, NETLINK_CAP_ACK, 1)
    sock.setsockopt(SOL_NETLINK, NETLINK_EXT_ACK, 1)
    sock.bind((0, 0))
    out = {}
    seq = 100
    for name, mtype, fam in [("links", RTM_GETLINK, 0), ("addresses", RTM_GETADDR, 0),
                             ("routes4", RTM_GETROUTE, socket.AF_INET), ("routes6", RTM_GETROUTE, socket.AF_INET6),
                             ("rules4", RTM_GETRULE, socket.AF_INET), ("rules6", RTM_GETRULE, socket.AF_INET6)]:
        seq += 1
        for i, c in enumerate(nl_dump(sock, mtype, fam, seq)):
            out["dump-%s-%d" % (name, i)] = c
    # A delete of an address that is not there: NLMSG_ERROR with the kernel's message.
    seq += 1
    body = struct.pack("=BBBBI", socket.AF_INET, 32, 0, 0, 1) + struct.pack("=HH4s", 8, 2, bytes([192, 0, 2, 9]))
    nl_request(sock, RTM_DELADDR, NLM_F_REQUEST | NLM_F_ACK, seq, body)
    out["ack-deladdr-missing"] = sock.recv(65536)
    # A route add the kernel refuses (gateway unreachable): an error ack with extack text.
    seq += 1
    rtm = struct.pack("=BBBBBBBBI", socket.AF_INET, 32, 0, 0, 252, 236, 0, 1, 0)
    attrs = struct.pack("=HH4s", 8, 1, bytes([198, 51, 100, 1])) + struct.pack("=HH4s", 8, 5, bytes([203, 0, 113, 1]))
    nl_request(sock, 24, NLM_F_REQUEST | NLM_F_ACK | 0x400, seq, rtm + attrs)
    out["ack-newroute-refused"] = sock.recv(65536)
    # Route gets (what `ip route get` asks): a route, and an unreachable destination.
    for name, fam, dst in [("route-get-reachable", socket.AF_INET, bytes([198, 51, 100, 7])),
                           ("route-get-unreachable", socket.AF_INET6, bytes.fromhex("20010db8000000000000000000000001"))]:
        seq += 1
        rtm = struct.pack("=BBBBBBBBI", fam, len(dst) * 8, 0, 0, 0, 0, 0, 0, 0)
        nl_request(sock, RTM_GETROUTE, NLM_F_REQUEST, seq, rtm + struct.pack("=HH", 4 + len(dst), 1) + dst)
        out[name] = sock.recv(65536)
    out = {"fuzz_netlink_dump/" + k: v for k, v in out.items()}
    with open("/run/ec2-netcfg/state.json", "rb") as f:
        out["fuzz_state/after-apply.json"] = f.read()
    for k, v in out.items():
        sys.stdout.buffer.write(struct.pack("=I", len(k)) + k.encode() + struct.pack("=I", len(v)) + v)


NS_SETUP = r'''
set -e
mount -t tmpfs tmpfs /run
ip link set lo up
ip link add ens5 address 02:86:10:7b:e4:f5 type veth peer name peer5
ip link add ens6 address 02:86:10:7b:e4:f6 type veth peer name peer6
ip link add br-test type bridge
for l in ens5 ens6 peer5 peer6 br-test; do ip link set "$l" up; done
ip addr add 10.0.0.34/24 dev ens5
ip addr add 10.0.1.20/24 dev ens6
ip addr add 172.17.0.1/16 dev br-test
ip route add default via 10.0.0.1 dev ens5
ip route add 198.51.100.0/24 nexthop via 10.0.0.1 dev ens5 nexthop via 10.0.1.1 dev ens6
ip -6 route add 2001:db8:1::/64 nexthop via fe80::1 dev ens5 nexthop via fe80::2 dev ens6
ip rule add from all uidrange 1000-1000 lookup main priority 512
ip -6 rule add from 2001:db8::/32 fwmark 0x10 lookup 100 priority 600
"$BIN" --metadata-file "$CAPTURE" --backend netlink apply >/dev/null 2>&1 || true
exec python3 "$SEEDS" --capture-in-namespace
'''


def netlink_seeds(binary):
    env = dict(os.environ, BIN=os.path.abspath(binary), SEEDS=os.path.abspath(__file__),
               CAPTURE=os.path.join(SCENARIOS, "dual-stack-prefixes.json"))
    raw = subprocess.run(["unshare", "-n", "-m", "--propagation", "private", "sh", "-c", NS_SETUP],
                         env=env, check=True, stdout=subprocess.PIPE).stdout
    clear_seeds("fuzz_netlink_dump")
    if os.path.exists(os.path.join(CORPUS, "fuzz_state", "seed-after-apply.json")):
        os.unlink(os.path.join(CORPUS, "fuzz_state", "seed-after-apply.json"))
    off = 0
    while off < len(raw):
        (n,) = struct.unpack_from("=I", raw, off)
        target, name = raw[off + 4:off + 4 + n].decode().split("/")
        off += 4 + n
        (n,) = struct.unpack_from("=I", raw, off)
        write(target, name, raw[off + 4:off + 4 + n])
        off += 4 + n


def main():
    if sys.argv[1:] == ["--capture-in-namespace"]:
        netlink_capture()
        return
    capture_seeds()
    tree_seeds()
    value_seeds()
    config_seeds()
    state_seeds()
    netplan_seeds()
    if len(sys.argv) == 3 and sys.argv[1] == "--netlink":
        netlink_seeds(sys.argv[2])
    elif len(sys.argv) != 1:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
