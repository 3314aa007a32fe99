#!/usr/bin/env python3
"""Builds dump-metadata captures (format ec2-netcfg-metadata/1) from compact scenario
descriptions, the way IMDS lays the tree out: one listing per directory, sub-directories
with a trailing '/', no trailing newline, keys absent when EC2 has nothing for them.

    scenario.py NAME [OUT.json]     write one named scenario
    scenario.py --list              list the scenario names

Also importable: build(enis, primary_mac) -> dict for tests that need variants.
"""
import json
import sys

MACS = "meta-data/network/interfaces/macs/"


def eni(mac, dev, ipv4s=(), subnet4=None, ipv6s=(), subnet6=(), card=None, eni_id=None,
        v4prefix=(), v6prefix=(), vpc4=("10.0.0.0/16",), vpc6=(), assoc=None):
    return dict(mac=mac, dev=dev, ipv4s=list(ipv4s), subnet4=subnet4, ipv6s=list(ipv6s),
                subnet6=list(subnet6), card=card, eni_id=eni_id or "eni-0%016x" % (dev * 7919 + (card or 0) * 104729 + 1),
                v4prefix=list(v4prefix), v6prefix=list(v6prefix), vpc4=list(vpc4), vpc6=list(vpc6),
                assoc=dict(assoc or {}))


def build(enis, primary_mac):
    p = {"meta-data/mac": primary_mac, MACS: "\n".join(e["mac"] + "/" for e in enis)}
    for e in enis:
        base = MACS + e["mac"] + "/"
        keys = {"device-number": str(e["dev"]), "interface-id": e["eni_id"], "mac": e["mac"],
                "owner-id": "111122223333", "security-group-ids": "sg-0123456789abcdef0",
                "security-groups": "default", "subnet-id": "subnet-0123456789abcdef0",
                "vpc-id": "vpc-0123456789abcdef0"}
        if e["card"] is not None:
            keys["network-card"] = str(e["card"])
        if e["ipv4s"]:
            keys["local-ipv4s"] = "\n".join(e["ipv4s"])
            keys["subnet-ipv4-cidr-block"] = e["subnet4"]
            keys["local-hostname"] = "ip-" + e["ipv4s"][0].replace(".", "-") + ".ec2.internal"
        if e["vpc4"]:
            keys["vpc-ipv4-cidr-block"] = e["vpc4"][0]
            keys["vpc-ipv4-cidr-blocks"] = "\n".join(e["vpc4"])
        if e["ipv6s"]:
            keys["ipv6s"] = "\n".join(e["ipv6s"])
        if e["subnet6"]:
            keys["subnet-ipv6-cidr-blocks"] = "\n".join(e["subnet6"])
        if e["vpc6"]:
            keys["vpc-ipv6-cidr-blocks"] = "\n".join(e["vpc6"])
        if e["v4prefix"]:
            keys["ipv4-prefix"] = "\n".join(e["v4prefix"])
        if e["v6prefix"]:
            keys["ipv6-prefix"] = "\n".join(e["v6prefix"])
        listing = sorted(keys)
        if e["assoc"]:
            listing.append("ipv4-associations/")
            keys["public-ipv4s"] = "\n".join(e["assoc"])
            listing.append("public-ipv4s")
            p[base + "ipv4-associations/"] = "\n".join(e["assoc"])
            for pub, priv in e["assoc"].items():
                p[base + "ipv4-associations/" + pub] = priv
        p[base] = "\n".join(sorted(listing))
        for k, v in keys.items():
            p[base + k] = v
    return {"format": "ec2-netcfg-metadata/1", "paths": dict(sorted(p.items()))}


V6SUB_A = "2600:1f18:aaaa:bb00::/64"
V6SUB_B = "2600:1f18:aaaa:bb01::/64"

SCENARIOS = {
    # One ENI, three private IPs, each with an Elastic IP.
    "one-eni-three-ips": lambda: build([
        eni("02:86:10:7b:e4:f5", 0, ["10.0.0.34", "10.0.0.226", "10.0.0.227"], "10.0.0.0/24",
            assoc={"3.80.1.10": "10.0.0.34", "3.80.1.11": "10.0.0.226", "3.80.1.12": "10.0.0.227"}),
    ], "02:86:10:7b:e4:f5"),
    # Two ENIs in the same subnet.
    "two-enis-same-subnet": lambda: build([
        eni("02:86:10:7b:e4:f5", 0, ["10.0.0.34", "10.0.0.35"], "10.0.0.0/24"),
        eni("02:86:10:7b:e4:f6", 1, ["10.0.0.50", "10.0.0.51"], "10.0.0.0/24"),
    ], "02:86:10:7b:e4:f5"),
    # Two ENIs in different subnets.
    "two-enis-two-subnets": lambda: build([
        eni("02:86:10:7b:e4:f5", 0, ["10.0.0.34", "10.0.0.35"], "10.0.0.0/24"),
        eni("02:86:10:7b:e4:f6", 1, ["10.0.1.20", "10.0.1.21"], "10.0.1.0/24"),
    ], "02:86:10:7b:e4:f5"),
    # Four ENIs on two network cards (the first ENI of card 1 has device-number 0).
    "four-enis-two-cards": lambda: build([
        eni("02:86:10:7b:e4:f5", 0, ["10.0.0.34", "10.0.0.35"], "10.0.0.0/24", card=0),
        eni("02:86:10:7b:e4:f6", 1, ["10.0.1.20", "10.0.1.21"], "10.0.1.0/24", card=0),
        eni("02:86:10:7b:e4:f7", 0, ["10.0.2.20", "10.0.2.21"], "10.0.2.0/24", card=1),
        eni("02:86:10:7b:e4:f8", 1, ["10.0.3.20", "10.0.3.21"], "10.0.3.0/24", card=1),
    ], "02:86:10:7b:e4:f5"),
    # Dual stack with delegated IPv4 and IPv6 prefixes on the second ENI.
    "dual-stack-prefixes": lambda: build([
        eni("02:86:10:7b:e4:f5", 0, ["10.0.0.34", "10.0.0.35"], "10.0.0.0/24",
            ipv6s=["2600:1f18:aaaa:bb00::10", "2600:1f18:aaaa:bb00::11"], subnet6=[V6SUB_A],
            vpc6=["2600:1f18:aaaa:bb00::/56"], assoc={"3.80.1.10": "10.0.0.34"}),
        eni("02:86:10:7b:e4:f6", 1, ["10.0.1.20", "10.0.1.21"], "10.0.1.0/24",
            ipv6s=["2600:1f18:aaaa:bb01::20"], subnet6=[V6SUB_B], vpc6=["2600:1f18:aaaa:bb00::/56"],
            v4prefix=["10.0.1.64/28"], v6prefix=["2600:1f18:aaaa:bb01:1234::/80"]),
    ], "02:86:10:7b:e4:f5"),
    # An IPv6-only ENI beside a dual-stack primary.
    "ipv6-only-secondary": lambda: build([
        eni("02:86:10:7b:e4:f5", 0, ["10.0.0.34"], "10.0.0.0/24",
            ipv6s=["2600:1f18:aaaa:bb00::10"], subnet6=[V6SUB_A]),
        eni("02:86:10:7b:e4:f6", 1, [], None, ipv6s=["2600:1f18:aaaa:bb01::20", "2600:1f18:aaaa:bb01::21"],
            subnet6=[V6SUB_B], vpc4=()),
    ], "02:86:10:7b:e4:f5"),
}


def largest():
    """15 ENIs x 50 IPv4 + 10 IPv6: the largest EC2 shapes."""
    enis = []
    for d in range(15):
        v4 = ["10.0.%d.%d" % (d, 10 + i) for i in range(50)]
        v6 = ["2600:1f18:aaaa:bb%02x::%x" % (d, 0x10 + i) for i in range(10)]
        enis.append(eni("02:86:10:7b:e5:%02x" % d, d, v4, "10.0.%d.0/24" % d, ipv6s=v6,
                        subnet6=["2600:1f18:aaaa:bb%02x::/64" % d]))
    return build(enis, enis[0]["mac"])


SCENARIOS["largest"] = largest

if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "--list":
        print("\n".join(SCENARIOS))
        sys.exit(0)
    if len(sys.argv) not in (2, 3) or sys.argv[1] not in SCENARIOS:
        sys.exit("usage: scenario.py NAME [OUT.json] | --list")
    text = json.dumps(SCENARIOS[sys.argv[1]](), indent=2) + "\n"
    if len(sys.argv) == 3:
        open(sys.argv[2], "w").write(text)
    else:
        sys.stdout.write(text)
