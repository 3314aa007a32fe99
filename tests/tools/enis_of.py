#!/usr/bin/env python3
"""One line per ENI of a dump-metadata capture, in (network-card, device-number) order, named
ens5, ens6, ... as the golden tests name them ("-" for none):

    IFNAME MAC PRIMARY ROUTER4/LEN SUBNET4 V4,... ROUTER6/LEN SUBNET6 V6,... PREFIX4,... PREFIX6,... TABLE

    enis_of.py CAPTURE.json
"""
import ipaddress
import json
import sys

p = json.load(open(sys.argv[1]))["paths"]
root = "meta-data/network/interfaces/macs/"
primary = p["meta-data/mac"]
rows = []
for mac in (m.rstrip("/") for m in p[root].split("\n")):
    g = lambda k, mac=mac: p.get(root + mac + "/" + k, "")
    rows.append((int(g("network-card") or 0), int(g("device-number")), mac, g))
for i, (card, dev, mac, g) in enumerate(sorted(rows)):
    s4 = g("subnet-ipv4-cidr-block")
    s6 = g("subnet-ipv6-cidr-blocks").split("\n")[0]
    r4 = "%s/%d" % (ipaddress.ip_network(s4)[1], ipaddress.ip_network(s4).prefixlen) if s4 else "-"
    r6 = "%s/%d" % (ipaddress.ip_network(s6)[1], ipaddress.ip_network(s6).prefixlen) if s6 else "-"
    j = lambda k: ",".join(g(k).split("\n")) if g(k) else "-"
    print("ens%d" % (5 + i), mac, "yes" if mac == primary else "no", r4, s4 or "-", j("local-ipv4s"),
          r6, s6 or "-", j("ipv6s"), j("ipv4-prefix"), j("ipv6-prefix"), 10000 + 100 * card + dev)
