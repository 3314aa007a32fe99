#!/bin/bash
# Changes go to the kernel in batches: many netlink messages in one send, NLM_F_ACK on the
# last only. What that relies on, held against the real kernel (tests/tools/rtnl_batch
# drives the rtnetlink edge; iproute2 reads the kernel's state back):
#  1. The kernel carries out a batch's messages in order and goes on past one that
#     fails; it answers each failed one with an error although it asked for no ack, so a
#     message it says nothing about before the last one's ack was made: exactly the
#     failed message is Failed (an absent rule's delete Held), the later ones were made.
#  2. The last message failing: its error is the batch's last answer.
#  3. A sysctl ends the batch before it; more changes than a batch holds go in several;
#     a full batch of errors fits in the receive buffer (no answer lost).
#  4. run_transactions over batches: an interface whose change fails mid-batch gets back
#     exactly what it had, its changes after the failure in that batch included (the
#     kernel made them); one error line for it; the interface beside it is configured.
set -uo pipefail
source "${EC2NC_SRC:?}/tests/integration/lib.sh"
: "${EC2NC_RTNL_BATCH:?EC2NC_RTNL_BATCH must point at tests/rtnl_batch (ctest sets it)}"
setup_instance
add_eni 0 ens5 02:86:10:7b:e4:f5 10.0.0.1/24
add_eni 1 ens6 02:86:10:7b:e4:f6 10.0.1.1/24

batch() { ip netns exec "$INST" "$EC2NC_RTNL_BATCH" "$@"; }
# expect_output DESC WANT-FILE: $TMP/out is exactly WANT-FILE, but for the kernel's
# extended ack messages (" (...)" after an error), which differ between kernels.
expect_output() {
  if diff -u "$2" <(sed 's/ ([^()]*)$//' "$TMP/out") > "$TMP/diff"; then pass "$1"; else fail "$1: $(cat "$TMP/diff")"; fi
}

# --- 1. a failure in the middle of a batch ---
expect_status 0 "a batch with failures in the middle" batch <<'EOF'
add-address dev=ens5 prefix=10.0.0.10/32
add-rule from=10.0.0.10/32 table=10000 priority=10000 if=ens5
add-route dev=ens5 dst=10.5.0.0/16 via=10.9.9.9 table=10000
del-rule from=10.0.0.99/32 table=10000 priority=10000 if=ens5
add-route dev=#9999 dst=10.6.0.0/16 table=10000
add-route dev=ens5 dst=0.0.0.0/0 via=10.0.0.1 onlink table=10000
add-address dev=ens5 prefix=10.0.0.11/32
EOF
cat > "$TMP/want" <<'EOF'
1 Done
2 Done
3 Failed: Network is unreachable
4 Held
5 Failed: No such device
6 Done
7 Done
batches: 1
EOF
expect_output "one send; exactly the failed messages Failed, the absent rule Held, the others Done" "$TMP/want"
for a in 10.0.0.10 10.0.0.11; do has_addr ens5 $a && pass "ens5 has $a" || fail "ens5 lacks $a"; done
rules=$(ip -n "$INST" rule)
grep -q "^10000:.*from 10.0.0.10 lookup 10000 proto 236" <<< "$rules" && pass "the rule is in place" ||
  fail "no rule: $rules"
routes=$(ip -n "$INST" route show table 10000)
grep -q "^default via 10.0.0.1 dev ens5 proto 236 onlink" <<< "$routes" &&
  pass "the route after both failures was made" || fail "table 10000: $routes"
grep -q "10.5.0.0/16\|10.6.0.0/16" <<< "$routes" && fail "a refused route is there: $routes" ||
  pass "neither refused route is there"

# --- 2. the last message failing ---
expect_status 0 "a batch whose last message fails" batch <<'EOF'
add-address dev=ens5 prefix=10.0.0.12/32
add-route dev=ens5 dst=10.5.0.0/16 via=10.9.9.9 table=10000
EOF
printf '1 Done\n2 Failed: Network is unreachable\nbatches: 1\n' > "$TMP/want"
expect_output "the last message's error ends the batch's answers" "$TMP/want"
has_addr ens5 10.0.0.12 && pass "ens5 has 10.0.0.12" || fail "ens5 lacks 10.0.0.12"

# --- 3. batch boundaries; a full batch of errors ---
{
  echo "add-address dev=ens6 prefix=10.0.1.10/32"
  echo "sysctl path=net/ipv4/conf/ens6/forwarding value=0"
  for i in $(seq 1 200); do echo "del-rule from=10.0.9.$((i % 250))/32 table=10001 priority=$((20000 + i)) if=ens6"; done
  echo "add-address dev=ens6 prefix=10.0.1.11/32"
} > "$TMP/many"
expect_status 0 "202 netlink changes with a sysctl after the first" batch < "$TMP/many"
{
  echo "1 Done"
  echo "2 Done"
  for i in $(seq 3 202); do echo "$i Held"; done
  echo "203 Done"
  echo "batches: 6"  # the address, the sysctl, then 64 + 64 + 64 + 9
} > "$TMP/want"
expect_output "the sysctl ends the first batch and goes alone; the 201 changes after it in four batches; 64 errors to a batch all read" "$TMP/want"
[ "$(ip netns exec "$INST" sysctl -n net.ipv4.conf.ens6.forwarding)" = 0 ] && pass "the sysctl was written" ||
  fail "forwarding on ens6 not 0"
for a in 10.0.1.10 10.0.1.11; do has_addr ens6 $a && pass "ens6 has $a" || fail "ens6 lacks $a"; done
ip netns exec "$INST" sysctl -qw net.ipv4.conf.ens6.forwarding=1

# --- 4. transactions over batches ---
# ens5 and ens6 interleaved; ens5's route via a gateway off its link fails mid-batch,
# its address after it is made by the kernel, then a change of ens5 fails again.
snapshot() { ip -n "$INST" -o addr show dev ens5; ip -n "$INST" rule; ip -n "$INST" route show table 10002 2>/dev/null || true; }
ens5_before=$(snapshot)
expect_status 0 "transactions over one batch" batch --transact <<'EOF'
add-route dev=ens5 dst=0.0.0.0/0 via=10.0.0.1 onlink table=10002
add-route dev=ens6 dst=0.0.0.0/0 via=10.0.1.1 onlink table=10003
add-rule from=10.0.0.20/32 table=10002 priority=10002 if=ens5
add-route dev=ens5 dst=10.7.0.0/16 via=10.9.9.9 table=10002
add-rule from=10.0.1.20/32 table=10003 priority=10003 if=ens6
add-address dev=ens5 prefix=10.0.0.20/32
add-route dev=#9999 dst=10.8.0.0/16 table=10002 if=ens5
add-address dev=ens6 prefix=10.0.1.20/32
EOF
cat > "$TMP/want" <<'EOF'
done: ens6: add route default via 10.0.1.1 table 10003 onlink
done: ens6: add rule from 10.0.1.20/32 lookup 10003 priority 10003
done: ens6: add address 10.0.1.20/32
failed: ens5
error: ens5: add route 10.7.0.0/16 via 10.9.9.9 table 10002: Network is unreachable
undone: ens5: del address 10.0.0.20/32
undone: ens5: del rule from 10.0.0.20/32 lookup 10002 priority 10002
undone: ens5: del route default via 10.0.0.1 table 10002 onlink
batches: 2
EOF
expect_output "ens5 undone in reverse order (its address after the failure too), one error line; ens6 done" "$TMP/want"
ens5_after=$(snapshot)
# ens6's new rule aside, the rules and ens5 are as they were.
if [ "$ens5_before" = "$(grep -v 'lookup 10003' <<< "$ens5_after")" ]; then pass "ens5 and its table are as they were"
else fail "ens5 changed: $(diff <(echo "$ens5_before") <(echo "$ens5_after"))"; fi
has_addr ens6 10.0.1.20 && pass "ens6 has 10.0.1.20" || fail "ens6 lacks 10.0.1.20"
grep -q "from 10.0.1.20 lookup 10003" <<< "$ens5_after" && pass "ens6's rule is there" || fail "ens6's rule missing"
[ -n "$(ip -n "$INST" route show table 10003 2>/dev/null || true)" ] && pass "ens6's table has its route" || fail "table 10003 empty"
finish
