#!/usr/bin/env python3
"""The benchmark's scenario series, as dump-metadata captures (tests/tools/scenario.py
lays them out as IMDS does): from one ENI with one address to the largest EC2 shape,
varying ENIs and addresses apart, so cost can be read against ENIs x addresses.

    scenarios.py OUT_DIR [NAME...]    write OUT_DIR/NAME.json for each (default: all);
                                      prints "NAME ENIS IPV4_PER_ENI IPV6_PER_ENI" lines
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "tools"))
import scenario  # noqa: E402


def shape(enis, v4, v6):
    """`enis` ENIs, each with `v4` private IPv4 (the first its primary) and `v6` IPv6
    addresses in a subnet of its own; the first ENI is the primary."""
    out = []
    for d in range(enis):
        ips4 = ["10.0.%d.%d" % (d, 10 + i) for i in range(v4)]
        ips6 = ["2600:1f18:aaaa:bb%02x::%x" % (d, 0x10 + i) for i in range(v6)]
        out.append(scenario.eni("02:86:10:7b:e5:%02x" % d, d, ips4, "10.0.%d.0/24" % d, ipv6s=ips6,
                                subnet6=["2600:1f18:aaaa:bb%02x::/64" % d] if v6 else []))
    return scenario.build(out, out[0]["mac"])


def example(name):
    with open(os.path.join(HERE, "..", "examples", name)) as f:
        return json.load(f)


# name -> (ENIs, IPv4 per ENI, IPv6 per ENI, capture builder)
SERIES = {
    "1x1": (1, 1, 0, lambda: shape(1, 1, 0)),
    "1x50+10": (1, 50, 10, lambda: shape(1, 50, 10)),
    # The README's two-ENI dual-stack instance (examples/dual-stack-two-enis.json):
    # delegated prefixes and an Elastic IP too.
    "2x2+dual-stack": (2, 2, "2/1", lambda: example("dual-stack-two-enis.json")),
    "4x25+5": (4, 25, 5, lambda: shape(4, 25, 5)),
    "8x50+10": (8, 50, 10, lambda: shape(8, 50, 10)),
    "15x1": (15, 1, 0, lambda: shape(15, 1, 0)),
    "15x50+10": (15, 50, 10, lambda: shape(15, 50, 10)),
}

if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: scenarios.py OUT_DIR [NAME...]")
    out, names = sys.argv[1], sys.argv[2:] or list(SERIES)
    os.makedirs(out, exist_ok=True)
    for n in names:
        if n not in SERIES:
            sys.exit("unknown scenario %s (known: %s)" % (n, " ".join(SERIES)))
        enis, v4, v6, make = SERIES[n]
        with open(os.path.join(out, n + ".json"), "w") as f:
            json.dump(make(), f, indent=1)
            f.write("\n")
        print(n, enis, v4, v6)
