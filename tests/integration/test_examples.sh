#!/bin/bash
# The examples the README uses: each capture's `show` output is the one committed beside
# it (examples/NAME.show.txt), so the README's examples never drift; and, as root, each
# goes through scripts/try-in-netns.sh (apply and check in a namespace of its own) with
# every answer right.
set -uo pipefail
source "${EC2NC_SRC:?}/tests/integration/lib.sh"
for cap in "$EC2NC_SRC"/examples/*.json; do
  name=$(basename "$cap" .json)
  want="$EC2NC_SRC/examples/$name.show.txt"
  got=$("$EC2NC_BIN" --root "$TMP/root-$name" show --metadata-file "$cap" 2>&1)
  if [ "$got" = "$(cat "$want")" ]; then pass "$name: show matches examples/$name.show.txt"
  else fail "$name: show differs from examples/$name.show.txt: $(diff <(echo "$got") "$want" | head -10)"; fi
done
[ "$(id -u)" = 0 ] || { echo "SKIP: try-in-netns.sh needs root"; finish; exit 0; }
for cap in "$EC2NC_SRC"/examples/*.json; do
  name=$(basename "$cap" .json)
  if bash "$EC2NC_SRC/scripts/try-in-netns.sh" "$cap" "$EC2NC_BIN" > "$TMP/try-$name.log" 2>&1; then
    pass "$name: try-in-netns.sh: $(grep -m1 'checked' "$TMP/try-$name.log")"
  else
    cat "$TMP/try-$name.log"; fail "$name: try-in-netns.sh failed"
  fi
done
finish
