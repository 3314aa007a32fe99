#!/bin/bash
# bash completion: commands, options, backends and interface names complete; every
# command and long option of --help is offered (so the two never drift apart).
set -uo pipefail
source "${EC2NC_SRC:?}/tests/integration/lib.sh"
source "$EC2NC_SRC/completions/ec2-netcfg.bash"
complete_words() {  # WORDS...: what completes the last word
  COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMPREPLY=()
  _ec2_netcfg
  echo "${COMPREPLY[*]}"
}
[ "$(complete_words ec2-netcfg --backend n)" = "networkd netplan netlink" ] && pass "backends" || fail "backends"
[ "$(complete_words ec2-netcfg ch)" = "check" ] && pass "commands" || fail "commands: $(complete_words ec2-netcfg ch)"
[ "$(complete_words ec2-netcfg -v apply lo)" = "lo" ] && pass "interface names after the command" || fail "interfaces"
[ -z "$(complete_words ec2-netcfg dump-metadata l)" ] && pass "dump-metadata takes no interface" || fail "dump-metadata"
help=$("$EC2NC_BIN" --help)
all=$(complete_words ec2-netcfg "")" "$(complete_words ec2-netcfg --)
for w in $(sed -n 's/^  \([a-z-]*\) .*/\1/p' <<< "$help" | grep -v '^-'); do
  grep -qw -- "$w" <<< "$all" && pass "command $w completes" || fail "command $w from --help does not complete"
done
for o in $(grep -o -- '--[a-z-]*' <<< "$help" | sort -u); do
  grep -qw -- "$o" <<< "$all" && pass "option $o completes" || fail "option $o from --help does not complete"
done
finish
