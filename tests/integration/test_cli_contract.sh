#!/usr/bin/env bash
# The command-line contract: exit statuses, errors that name what was wrong, show/
# dump-metadata round trips, and the propagation wait (an ENI whose IMDS data is still
# incomplete is waited for, then configured; one that never completes is left alone
# with status 1 within the wait bound).
source "$(dirname "$0")/lib.sh"
setup_instance
B=$EC2NC_BIN

stderr_has() { grep -q -- "$1" "$TMP/err" && pass "message names: $1" || fail "stderr lacks '$1': $(head -c 400 "$TMP/err")"; }

# Usage errors: 2.
expect_status 2 "no command" "$B"
expect_status 2 "unknown command" "$B" frobnicate
expect_status 2 "unknown option" "$B" --frob show
expect_status 2 "bad backend" "$B" --backend ifupdown show
expect_status 2 "remove without interface" "$B" remove
expect_status 0 "--help" "$B" --help
grep -q "table-base" "$TMP/out" && pass "--help lists config keys" || fail "--help lacks config keys"
expect_status 0 "--version" "$B" --version

CAP=$(scenario two-enis-two-subnets)
printf '[main]\ntable-base = 12\n' > "$TMP/bad.conf"
expect_status 2 "bad config value" "$B" --config "$TMP/bad.conf" --metadata-file "$CAP" show
stderr_has "$TMP/bad.conf:2:"
printf '[main]\nfrobs = 1\n' > "$TMP/bad2.conf"
expect_status 2 "unknown config key" "$B" --config "$TMP/bad2.conf" --metadata-file "$CAP" show
stderr_has 'unknown key "frobs"'
expect_status 2 "missing --config file" "$B" --config "$TMP/nope.conf" --metadata-file "$CAP" show
expect_status 2 "IMDS disabled" env AWS_EC2_METADATA_DISABLED=true "$B" show
echo '{"format": "nope"}' > "$TMP/badcap.json"
expect_status 2 "not a capture" "$B" --metadata-file "$TMP/badcap.json" show

# The shipped example config parses, with every documented key uncommented too.
expect_status 0 "shipped example config" "$B" --config "$EC2NC_SRC/units/ec2-netcfg.conf" --metadata-file "$CAP" show
sed -E 's/^#([a-z-]+ = )/\1/' "$EC2NC_SRC/units/ec2-netcfg.conf" | sed -E 's/^(backend|ignore) = .*//' > "$TMP/all-keys.conf"
expect_status 0 "example config with every key set" "$B" --config "$TMP/all-keys.conf" --metadata-file "$CAP" show
for key in $("$B" --help | sed -nE 's/^  \[[a-z]+\] ([a-z-]+) .*/\1/p'); do
  grep -q "^#$key = " "$EC2NC_SRC/units/ec2-netcfg.conf" && grep -q "| $key |" "$EC2NC_SRC/README.md" \
    || fail "config key $key missing from units/ec2-netcfg.conf or README.md"
done

# show on a capture from another instance renders every ENI, marked not present.
expect_status 0 "show foreign capture" "$B" --metadata-file "$CAP" show
grep -q "not present on this host" "$TMP/out" && pass "absent ENIs shown as not present" || fail "show output: $(cat "$TMP/out")"
grep -q "rule from 10.0.1.21/32 lookup 10001 priority 10001" "$TMP/out" && pass "show renders rules in full" || fail "show lacks rule"
expect_status 0 "show --json" "$B" --metadata-file "$CAP" --json show
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert len(d["interfaces"])==2 and d["interfaces"][1]["table"]==10001' "$TMP/out" \
  && pass "show --json parses" || fail "show --json"

# dump-metadata through the emulator holds every path it serves, body for body.
# same_paths DUMP SERVED: prints what differs (nothing when the dump is complete).
same_paths() {
  python3 - "$1" "$2" <<'PY'
import json, sys
got = json.load(open(sys.argv[1]))["paths"]; want = json.load(open(sys.argv[2]))["paths"]
for k in sorted(set(got) | set(want)):
    if k not in got: print("not dumped: " + k)
    elif k not in want: print("not served: " + k)
    elif got[k] != want[k]: print("body differs: " + k)
PY
}
start_imds "$CAP"
expect_status 0 "dump-metadata" nc dump-metadata
d=$(same_paths "$TMP/out" "$CAP")
[ -z "$d" ] && pass "dump-metadata holds every served path ($(grep -c '"meta-data/' "$TMP/out") paths)" \
  || fail "dump-metadata differs from the served tree: $d"
[ ! -s "$TMP/err" ] && pass "dump-metadata: nothing on stderr" || fail "dump-metadata stderr: $(cat "$TMP/err")"
cp "$TMP/out" "$TMP/dump.json"
expect_status 0 "show from a dump-metadata capture" "$B" --metadata-file "$TMP/dump.json" show
expect_status 0 "dump-metadata of a dump-metadata capture" "$B" --metadata-file "$TMP/dump.json" dump-metadata
cmp -s "$TMP/out" "$TMP/dump.json" && pass "a capture dumps to itself" || fail "a capture does not dump to itself"

# An ENI in trouble is dumped in full: device-number still 0, a listed key answering 404,
# an empty value, a key that fails every attempt. Exit 1, each failed path on stderr.
E6=meta-data/network/interfaces/macs/02:86:10:7b:e4:f6/
python3 - "$CAP" "$TMP/troubled.json" "$TMP/troubled-served.json" "$E6" <<'PY'
import json, sys
d = json.load(open(sys.argv[1])); p = d["paths"]; e6 = sys.argv[4]
p[e6 + "device-number"] = "0"
del p[e6 + "subnet-ipv4-cidr-block"]                  # listed, answers 404
p[e6] += "\nnetwork-card"; p[e6 + "network-card"] = ""  # empty: not propagated yet
json.dump(d, open(sys.argv[2], "w"))
del p[e6 + "owner-id"]                                # fails (faults below): not in the dump
json.dump(d, open(sys.argv[3], "w"))
PY
set_imds "$TMP/troubled.json"
printf '{"status": {"%sowner-id": [500, 500, 500]}}' "$E6" > "$TMP/faults.next" && mv "$TMP/faults.next" "$TMP/faults.json"
printf '[imds]\nattempts = 2\n' > "$TMP/two.conf"
expect_status 1 "dump-metadata of an ENI in trouble" nc --config "$TMP/two.conf" dump-metadata
d=$(same_paths "$TMP/out" "$TMP/troubled-served.json")
[ -z "$d" ] && pass "dump-metadata holds every path of the ENI in trouble" || fail "dump-metadata of an ENI in trouble: $d"
stderr_has "${E6}subnet-ipv4-cidr-block: listed but answers 404"
stderr_has "${E6}owner-id: HTTP 500 after 2 attempts"
[ "$(grep -c 'error:' "$TMP/err")" = 2 ] && pass "dump-metadata: one error per failed path" \
  || fail "dump-metadata errors: $(cat "$TMP/err")"
rm -f "$TMP/faults.json"

# Without meta-data/mac the capture cannot be replayed: nothing on stdout, exit 1.
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); del d["paths"]["meta-data/mac"]; json.dump(d, open(sys.argv[2], "w"))' \
  "$CAP" "$TMP/nomac.json"
set_imds "$TMP/nomac.json"
expect_status 1 "dump-metadata without meta-data/mac" nc dump-metadata
[ ! -s "$TMP/out" ] && pass "dump-metadata without meta-data/mac: nothing on stdout" || fail "stdout: $(head -c 200 "$TMP/out")"
stderr_has "meta-data/mac: 404 not found"
set_imds "$CAP"

# An ENI on this host whose data is still propagating: waited for, then configured.
add_eni 5 ens5 02:86:10:7b:e4:f5 10.0.0.1/24
add_eni 6 ens6 02:86:10:7b:e4:f6 10.0.1.1/24

# The AWS VPC CNI owns the ENIs on EKS nodes: with its config present, apply changes nothing
# (the capture's ENIs are on the host, so there would be something to change without it).
mkdir -p "$TMP/eks/etc/cni/net.d" && echo '{}' > "$TMP/eks/etc/cni/net.d/10-aws.conflist"
expect_status 0 "EKS node: diff" ip netns exec "$INST" "$B" --root "$TMP/eks" --backend networkd --metadata-file "$CAP" diff
[ ! -s "$TMP/out" ] && pass "EKS node: nothing to change" || fail "EKS node diff: $(cat "$TMP/out")"
expect_status 0 "not an EKS node: diff" ip netns exec "$INST" "$B" --root "$TMP/not-eks" --backend networkd --metadata-file "$CAP" diff
[ -s "$TMP/out" ] && pass "not an EKS node: the same diff has changes" || fail "not an EKS node: diff printed nothing"
python3 - "$CAP" "$TMP/partial.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1])); p = d["paths"]
base = "meta-data/network/interfaces/macs/02:86:10:7b:e4:f6/"
p[base] = "\n".join(l for l in p[base].split("\n") if l not in ("local-ipv4s", "subnet-ipv4-cidr-block"))
p[base + "device-number"] = "0"   # not propagated yet: reads 0 at first
json.dump(d, open(sys.argv[2], "w"))
PY
set_imds "$TMP/partial.json"
( sleep 3; set_imds "$CAP" ) &
PIDS+=($!)
start=$SECONDS
expect_status 0 "apply waits for a propagating ENI" nc --backend netlink apply
echo "  (took $((SECONDS - start)) s)"
expect_route 10.0.1.21 1.1.1.1 ens6
expect_route 10.0.0.35 10.0.1.99 ens5

# An ENI that never completes: left as it was, the other configured, exit 1 in bound.
python3 - "$CAP" "$TMP/broken.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1])); p = d["paths"]
base = "meta-data/network/interfaces/macs/02:86:10:7b:e4:f6/"
p[base + "local-ipv4s"] = "10.0.1.20\n10.0.1.21\n10.0.1.22"   # would add .22
p[base] = "\n".join(l for l in p[base].split("\n") if l != "subnet-ipv4-cidr-block")
base5 = "meta-data/network/interfaces/macs/02:86:10:7b:e4:f5/"
p[base5 + "local-ipv4s"] = "10.0.0.34\n10.0.0.35\n10.0.0.36"   # the complete ENI gains .36
json.dump(d, open(sys.argv[2], "w"))
PY
set_imds "$TMP/broken.json"
printf '[main]\nwait-timeout = 4\n' > "$TMP/short.conf"
ip -n "$INST" -j rule > "$TMP/rules.before"
start=$SECONDS
expect_status 1 "incomplete ENI: exit 1" nc --config "$TMP/short.conf" --backend netlink apply
took=$((SECONDS - start))
[ $took -le 10 ] && pass "ended within the bound (${took}s for wait-timeout 4)" || fail "took ${took}s for wait-timeout 4"
stderr_has "ens6"
stderr_has "subnet-ipv4-cidr-block"
has_addr ens5 10.0.0.36 && pass "complete ENI still configured" || fail "ens5 lacks 10.0.0.36"
has_addr ens6 10.0.1.22 && fail "incomplete ENI was changed" || pass "incomplete ENI left as it was"
expect_route 10.0.1.21 1.1.1.1 ens6

# Invalid value from IMDS: exit 1, names MAC, key and value, interface untouched.
python3 - "$CAP" "$TMP/invalid.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1])); p = d["paths"]
p["meta-data/network/interfaces/macs/02:86:10:7b:e4:f6/local-ipv4s"] = "10.0.1.20\n10.0.1.21\n10.0.1.300"
json.dump(d, open(sys.argv[2], "w"))
PY
set_imds "$TMP/invalid.json"
expect_status 1 "invalid value" nc --config "$TMP/short.conf" --backend netlink apply
stderr_has "02:86:10:7b:e4:f6/local-ipv4s"
stderr_has "10.0.1.300"
expect_route 10.0.1.21 1.1.1.1 ens6

# IMDS down for good: exit 1 within about the bound, nothing removed.
kill "${PIDS[0]}" 2>/dev/null || true
ip -n "$INST" -j rule > "$TMP/rules.before"
start=$SECONDS
expect_status 1 "IMDS down" nc --config "$TMP/short.conf" --backend netlink apply
took=$((SECONDS - start))
[ $took -le 10 ] && pass "IMDS down: ended in ${took}s (bound 4s)" || fail "IMDS down took ${took}s"
ip -n "$INST" -j rule > "$TMP/rules.after"
cmp -s "$TMP/rules.before" "$TMP/rules.after" && pass "no rule removed on IMDS failure" || fail "rules changed on IMDS failure"
expect_route 10.0.1.21 1.1.1.1 ens6

# apply IFACE for an interface that does not exist: usage error.
expect_status 2 "apply unknown interface" nc --backend netlink apply ens99

# The lock is never taken through a symbolic link (root would create or lock its target).
mkdir -p "$TMP/lockroot/run/ec2-netcfg"
ln -s "$TMP/victim" "$TMP/lockroot/run/ec2-netcfg/lock"
expect_status 1 "apply with the lock file a symbolic link" \
  "$B" --root "$TMP/lockroot" --backend networkd --metadata-file "$(scenario two-enis-two-subnets)" apply
grep -q "lock: a symbolic link, not ec2-netcfg's lock file" "$TMP/err" && pass "the error says the lock is a symbolic link" \
  || fail "lock symlink: $(head -3 "$TMP/err")"
[ ! -e "$TMP/victim" ] && pass "the link's target was not created" || fail "the link's target was created"
finish
