#!/usr/bin/env python3
"""Writes the /etc/netplan/50-cloud-init.yaml that cloud-init's Ec2 datasource writes on
Ubuntu for a dump-metadata capture: its convert_ec2_metadata_network_config() with the
netplan renderer, dumped as cloud-init dumps it (PyYAML, indent 4, sorted keys, and an
anchor where dhcp4-overrides and dhcp6-overrides are the same object).

    cloud_init_netplan.py CAPTURE.json [--names MAC=IFNAME,...] [--omit MAC,...]
                          [--primary-only] [-o OUT]

--names       interface names (default: ens5, ens6, ... in (network-card, device-number,
              MAC) order, as on a Nitro instance and as ec2-netcfg's golden tests name them)
--omit        ENIs attached after cloud-init wrote its file (netplan does not know them)
--primary-only  apply_full_imds_network_config: false (cloud-init/99-ec2-netcfg.cfg): the
              primary ENI with DHCP only, no secondary addresses, no policy routing
With two or more ENIs, cloud-init's multi-NIC policy routing is in: per secondary ENI a
route-metric of 100*(N+1), use-routes, routes in table 100+N (default via the subnet's
router, the subnet on-link) and a rule `from ADDR table 100+N` per address, no priority.
"""
import argparse
import ipaddress
import json
import sys

import yaml

MACS = "meta-data/network/interfaces/macs/"
HEADER = (
    "# This file is generated from information provided by the datasource.  Changes\n"
    "# to it will not persist across an instance reboot.  To disable cloud-init's\n"
    "# network configuration capabilities, write a file\n"
    "# /etc/cloud/cloud.cfg.d/99-disable-network-config.cfg with the following:\n"
    "# network: {config: disabled}\n"
)


def leaf(paths, mac, key):
    """An IMDS leaf as cloud-init's crawler returns it: a list when it has several lines."""
    v = paths.get(MACS + mac + "/" + key)
    if v is None:
        return None
    return v.split("\n") if "\n" in v else v


def nic_order(macs_md, macs_to_nics):
    inf = float("infinity")

    def key_int(md, k):
        v = md.get(k)
        return int(v) if v is not None else inf

    ordered = sorted((m for m in macs_to_nics if macs_md.get(m)),
                     key=lambda m: (key_int(macs_md[m], "network-card"), key_int(macs_md[m], "device-number"), m))
    return {m: i for i, m in enumerate(ordered)}


def policy_routing(dev, md, is_ipv4, table):
    subnets = md.get("subnet-ipv4-cidr-block" if is_ipv4 else "subnet-ipv6-cidr-blocks")
    ips = md.get("local-ipv4s" if is_ipv4 else "ipv6s")
    if not (subnets and ips):
        return
    dev.setdefault("routes", [])
    if is_ipv4:
        # cloud-init asks DHCP for the router: the VPC's is the subnet's first host.
        gw = str(ipaddress.ip_network(subnets)[1])
        dev["routes"].append({"to": "0.0.0.0/0", "via": gw, "table": table})
    for s in [subnets] if isinstance(subnets, str) else subnets:
        dev["routes"].append({"to": s, "table": table})
    dev.setdefault("routing-policy", [])
    for ip in [ips] if isinstance(ips, str) else ips:
        dev["routing-policy"].append({"from": ip, "table": table})


def secondary_addresses(md):
    out = []
    for ips, cidr_key, default in ((md.get("local-ipv4s"), "subnet-ipv4-cidr-block", "24"),
                                   (md.get("ipv6s"), "subnet-ipv6-cidr-block", "128")):
        if isinstance(ips, list) and len(ips) > 1:
            cidr = md.get(cidr_key)
            prefix = cidr.split("/")[1] if cidr and len(cidr.split("/")) == 2 else default
            out.extend("%s/%s" % (ip, prefix) for ip in ips[1:])
    return sorted(out)


def convert(paths, macs_to_nics, primary_only):
    macs_md = {}
    for mac in macs_to_nics:
        keys = paths.get(MACS + mac + "/")
        if keys is None:
            continue
        macs_md[mac] = {k: leaf(paths, mac, k) for k in keys.split("\n") if not k.endswith("/")}
    netcfg = {"version": 2, "ethernets": {}}
    primary = paths["meta-data/mac"]
    if primary_only:
        md = macs_md[primary]
        dev = {"dhcp4": True, "dhcp6": bool(md.get("ipv6s")), "match": {"macaddress": primary.lower()},
               "set-name": macs_to_nics[primary]}
        netcfg["ethernets"][macs_to_nics[primary]] = dev
        return netcfg
    order = nic_order(macs_md, macs_to_nics)
    for mac in sorted(macs_to_nics):
        md = macs_md.get(mac)
        if not md:
            continue
        nic = macs_to_nics[mac]
        idx = order[mac]
        override = {"route-metric": (idx + 1) * 100}
        dev = {"dhcp4": True, "dhcp4-overrides": override, "dhcp6": False,
               "match": {"macaddress": mac.lower()}, "set-name": nic}
        table = 100 + idx
        if md.get("device-number") and idx != 0:
            override["use-routes"] = True
            policy_routing(dev, md, True, table)
        if md.get("ipv6s"):
            dev["dhcp6"] = True
            dev["dhcp6-overrides"] = override  # the same object: PyYAML writes &id001 / *id001
            if md.get("device-number") and idx != 0:
                policy_routing(dev, md, False, table)
        addresses = secondary_addresses(md)
        if addresses:
            dev["addresses"] = addresses
        netcfg["ethernets"][nic] = dev
    if len(netcfg["ethernets"]) == 1:
        for dev in netcfg["ethernets"].values():
            dev.pop("dhcp4-overrides")
            dev.pop("dhcp6-overrides", None)
            dev.pop("routes", None)
            dev.pop("routing-policy", None)
    return netcfg


def default_names(paths):
    rows = []
    for mac in (m.rstrip("/") for m in paths[MACS].split("\n")):
        card = paths.get(MACS + mac + "/network-card")
        dev = paths.get(MACS + mac + "/device-number")
        rows.append((int(card or 0), int(dev), mac))
    return {mac: "ens%d" % (5 + i) for i, (_, _, mac) in enumerate(sorted(rows))}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("capture")
    ap.add_argument("--names", default="")
    ap.add_argument("--omit", default="")
    ap.add_argument("--primary-only", action="store_true")
    ap.add_argument("-o", "--out")
    a = ap.parse_args()
    paths = json.load(open(a.capture))["paths"]
    names = default_names(paths)
    for spec in filter(None, a.names.split(",")):
        mac, name = spec.split("=")
        names[mac] = name
    for mac in filter(None, a.omit.split(",")):
        names.pop(mac, None)
    text = HEADER + yaml.dump({"network": convert(paths, names, a.primary_only)}, line_break="\n", indent=4,
                              default_flow_style=False, Dumper=yaml.SafeDumper)
    if a.out:
        open(a.out, "w").write(text)
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()
