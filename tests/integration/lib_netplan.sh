# Real netplan for integration tests. Source after lib.sh and lib_networkd.sh.
#
# netplan renders `match: macaddress` as PermanentMACAddress=, which a veth does not have
# (NETNS-TESTING.md), so cloud-init's files would never match the test's ENIs. The
# generator is therefore wrapped: the real one runs, then its .network and .link files say
# MACAddress= instead (on EC2 an ENI's permanent MAC is its MAC). In networkd's namespaces
# (use_netplan) the wrapper is bind-mounted over the real generator, so `netplan generate`,
# `netplan get` and ec2-netcfg all run it; $ND_DIR/etc-netplan is /etc/netplan there,
# $ND_DIR/run-netplan /run/netplan, and $ND_DIR/lib-netplan /lib/netplan.

NETPLAN_GEN=""  # the real generator binary

require_netplan() {
  command -v netplan >/dev/null || skip "needs netplan (the netplan.io package)"
  local g
  for g in /lib/netplan/generate /usr/lib/netplan/generate /usr/libexec/netplan/generate; do
    if [ -x "$g" ]; then NETPLAN_GEN=$(readlink -f "$g"); break; fi
  done
  [ -n "$NETPLAN_GEN" ] || skip "needs netplan's generator"
  [ -d /etc/netplan ] || skip "needs /etc/netplan (a mount point for the test's own)"
  [ -d /lib/netplan ] || skip "needs /lib/netplan (a mount point for the test's own)"
}

# make_generate_wrapper OUT: OUT runs a copy of the real generator (OUT.real) with the
# same arguments, then turns PermanentMACAddress= into MACAddress= in what it wrote.
make_generate_wrapper() {
  local out=$1
  cp "$NETPLAN_GEN" "$out.real"
  cat > "$out" <<EOF
#!/bin/sh
# netplan's generator for tests (lib_netplan.sh): veths have no permanent MAC.
"$out.real" "\$@" || exit \$?
root=
while [ \$# -gt 0 ]; do
  case "\$1" in --root-dir) root=\$2; shift ;; --root-dir=*) root=\${1#*=} ;; esac
  shift
done
for f in "\$root"/run/systemd/network/10-netplan-*.network "\$root"/run/systemd/network/10-netplan-*.link; do
  [ -f "\$f" ] && sed -i 's/^PermanentMACAddress=/MACAddress=/' "\$f"
done
exit 0
EOF
  chmod 755 "$out"
}

# use_netplan: networkd's namespaces (start_networkd) get netplan's directories and the
# wrapped generator, and run it before networkd starts, as at boot. After require_networkd.
use_netplan() {
  require_netplan
  [ -n "$ND_DIR" ] || die "use_netplan: call require_networkd first"
  mkdir -p "$ND_DIR/etc-netplan" "$ND_DIR/run-netplan" "$ND_DIR/lib-netplan"
  make_generate_wrapper "$ND_DIR/netplan-generate"
  # /lib/netplan/generate is the path netplan's command runs; there it leads to the wrapper.
  ln -sf "$NETPLAN_GEN" "$ND_DIR/lib-netplan/generate"
  ND_NETPLAN=$NETPLAN_GEN
}

# cloud_init_yaml CAPTURE OUT [ARGS...]: the 50-cloud-init.yaml cloud-init writes for the
# capture (tests/tools/cloud_init_netplan.py), mode 0600 as netplan wants.
cloud_init_yaml() {
  local cap=$1 out=$2
  shift 2
  python3 "$EC2NC_SRC/tests/tools/cloud_init_netplan.py" "$cap" -o "$out" "$@" || die "cloud_init_netplan.py failed"
  chmod 600 "$out"
}

# netplan_apply_as_admin: what `netplan apply` does for networkd, in networkd's namespaces
# (apply.py: generate, `networkctl reload`, `networkctl reconfigure` of every link networkd
# manages; its udevadm and systemctl steps need a booted host and change nothing here).
netplan_apply_as_admin() {
  nd netplan generate || return 1
  timeout 10 nsenter -t "$ND_HOLDER" -m -n networkctl reload || return 1
  local links
  links=$(timeout 10 nsenter -t "$ND_HOLDER" -m -n networkctl --no-pager --no-legend list |
          awk '$1 ~ /^[0-9]+$/ && $NF != "unmanaged" && $NF != "linger" { print $1 }' | xargs)
  [ -z "$links" ] || timeout 20 nsenter -t "$ND_HOLDER" -m -n networkctl reconfigure $links
}
