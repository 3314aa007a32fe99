#!/usr/bin/env bash
# The benchmark's IMDSv2 server (bench/imds_server.c) answers as the test emulator
# (tests/tools/imds_emulator.py) does: both serve the same capture on 127.0.0.1 (port 0)
# inside this test's own network namespace, the same raw requests go to each, and
# the status line, the headers (Date's value and the token aside) and the body must be
# equal, and so must whether the connection stays open afterwards and what each logged.
# Then the C server's own promises: an answer waits --latency-ms, answers on different
# connections wait side by side, pipelined answers come in order, 100 connections at
# once; ec2-netcfg itself (libcurl) reads the capture through it; it stops on SIGTERM
# and after --max-seconds, and binds nothing but loopback.
source "$(dirname "$0")/lib.sh"
command -v cc >/dev/null || skip "needs a C compiler (cc)"
setup_instance
# inns CMD...: CMD inside the test's namespace (its own loopback, nothing else).
inns() { ip netns exec "$INST" "$@"; }
CAP=$EC2NC_SRC/examples/dual-stack-two-enis.json
SERVER=$TMP/imds_server
cc -O2 -o "$SERVER" "$EC2NC_SRC/bench/imds_server.c" || die "cannot compile bench/imds_server.c"
python3 "$EC2NC_SRC/bench/imds_paths.py" "$CAP" "$TMP/paths" || die "bench/imds_paths.py failed"

# start TAG ARGS...: a server writing $TMP/TAG.port and $TMP/TAG.log; sets PORT and PID.
start() {
  local tag=$1 i; shift
  rm -f "$TMP/$tag.port" "$TMP/$tag.log"
  ip netns exec "$INST" "$@" --port-file "$TMP/$tag.port" --log "$TMP/$tag.log" &  # not inns: $! must be the server
  PID=$!
  PIDS+=("$PID")
  for i in $(seq 200); do [ -f "$TMP/$tag.port" ] && break; sleep 0.05; done
  [ -f "$TMP/$tag.port" ] || die "$tag did not start"
  PORT=$(cat "$TMP/$tag.port")
}
start py python3 "$EC2NC_SRC/tests/tools/imds_emulator.py" --capture "$CAP" --max-seconds 250
PY_PORT=$PORT
start c "$SERVER" --paths "$TMP/paths" --max-seconds 250
C_PORT=$PORT C_PID=$PID

# The same conversations with both. A case: what is sent on one fresh connection (chunks,
# sent 30 ms apart), the number of answers expected; after them, a probe request tells
# whether the connection was kept open.
if inns python3 - "$PY_PORT" "$C_PORT" "$TMP/py.log" "$TMP/c.log" <<'PY'; then pass "parity: every case answered alike, logs alike"; else fail "parity"; fi
import json, re, socket, sys, time

PUT_OK = b"PUT /latest/api/token HTTP/1.1\r\nHost: 169.254.169.254\r\nX-aws-ec2-metadata-token-ttl-seconds: 21600\r\n\r\n"


def get(path, token=b"{TOKEN}", extra=b"", version=b"HTTP/1.1"):
    return (b"GET " + path + b" " + version + b"\r\nHost: 169.254.169.254\r\nAccept: */*\r\n" +
            (b"X-aws-ec2-metadata-token: " + token + b"\r\n" if token is not None else b"") + extra + b"\r\n")


def put(headers, path=b"/latest/api/token"):
    return b"PUT " + path + b" HTTP/1.1\r\nHost: 169.254.169.254\r\n" + headers + b"\r\n"


MAC = b"/latest/meta-data/mac"
MACS = b"/latest/meta-data/network/interfaces/macs/"
ENI = b"/latest/meta-data/network/interfaces/macs/02:86:10:7b:e4:f5/"
CASES = [
    ("token PUT", [PUT_OK], 1),
    ("token PUT, ttl 1", [put(b"X-aws-ec2-metadata-token-ttl-seconds: 1\r\n")], 1),
    ("token PUT, ttl +05 (echoed as Python's int() reads it)", [put(b"x-AWS-ec2-metadata-token-ttl-seconds:  +05 \r\n")], 1),
    ("token PUT without ttl", [put(b"")], 1),
    ("token PUT, ttl 0", [put(b"X-aws-ec2-metadata-token-ttl-seconds: 0\r\n")], 1),
    ("token PUT, ttl 21601", [put(b"X-aws-ec2-metadata-token-ttl-seconds: 21601\r\n")], 1),
    ("token PUT, ttl abc", [put(b"X-aws-ec2-metadata-token-ttl-seconds: abc\r\n")], 1),
    ("token PUT with X-Forwarded-For", [put(b"X-aws-ec2-metadata-token-ttl-seconds: 60\r\nX-Forwarded-For: 10.0.0.1\r\n")], 1),
    ("token PUT to a dated path", [put(b"X-aws-ec2-metadata-token-ttl-seconds: 60\r\n", b"/2021-07-15/api/token")], 1),
    ("token PUT to another path", [put(b"X-aws-ec2-metadata-token-ttl-seconds: 60\r\n", b"/latest/api/tokens")], 1),
    ("token PUT with a body, then a GET", [put(b"X-aws-ec2-metadata-token-ttl-seconds: 60\r\nContent-Length: 5\r\n") + b"hello" + get(MAC)], 2),
    ("GET without token", [get(MAC, None)], 1),
    ("GET with a bad token", [get(MAC, b"0" * 64)], 1),
    ("GET with an empty token", [get(MAC, b"")], 1),
    ("GET a listing", [get(MACS)], 1),
    ("GET an ENI's listing", [get(ENI)], 1),
    ("GET a key", [get(MAC)], 1),
    ("GET a key, header names in another case", [get(MAC, None, b"x-AWS-EC2-metadata-TOKEN: {TOKEN}\r\n")], 1),
    ("GET a listing without its slash", [get(MACS.rstrip(b"/"))], 1),
    ("GET a missing path", [get(b"/latest/meta-data/nothing-here")], 1),
    ("GET a key with a slash added", [get(MAC + b"/")], 1),
    ("GET /latest/", [get(b"/latest/")], 1),
    ("GET outside /latest/", [get(b"/2021-07-15/meta-data/mac")], 1),
    ("GET outside /latest/ without token", [get(b"/", None)], 1),
    ("malformed: one word", [b"GARBAGE\r\n\r\n"], 1),
    ("malformed: two words", [b"GET /latest/meta-data/mac\r\nX-aws-ec2-metadata-token: {TOKEN}\r\n\r\n"], 1),
    ("malformed: not HTTP/1.x", [b"GET /latest/meta-data/mac HTTP/2.0\r\n\r\n"], 1),
    ("malformed: an empty request line", [b"\r\nHost: x\r\n\r\n"], 1),
    ("a request line over 64 KiB", [b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\n\r\n"], 1),
    ("DELETE", [b"DELETE /latest/meta-data/mac HTTP/1.1\r\nHost: x\r\n\r\n"], 1),
    ("HEAD", [b"HEAD /latest/meta-data/mac HTTP/1.1\r\nHost: x\r\n\r\n"], 1),
    ("lower-case get", [b"get /latest/meta-data/mac HTTP/1.1\r\nHost: x\r\n\r\n"], 1),
    ("two pipelined GETs", [get(MAC) + get(MACS)], 2),
    ("three pipelined: PUT, GET, missing", [PUT_OK + get(ENI) + get(b"/latest/nope")], 3),
    ("a request in pieces", [get(ENI)[:7], get(ENI)[7:40], get(ENI)[40:]], 1),
    ("LF line ends", [get(MAC).replace(b"\r\n", b"\n")], 1),
    ("Connection: close", [get(MAC, extra=b"Connection: close\r\n")], 1),
    ("Connection: CLOSE, then a GET that must go unanswered", [get(MAC, extra=b"Connection: CLOSE\r\n") + get(MACS)], 1),
    ("HTTP/1.0", [get(MAC, version=b"HTTP/1.0")], 1),
    ("HTTP/1.0 with keep-alive", [get(MAC, extra=b"Connection: keep-alive\r\n", version=b"HTTP/1.0")], 1),
    ("HTTP/1.0 token PUT", [PUT_OK.replace(b"HTTP/1.1", b"HTTP/1.0")], 1),
]
SHORT = "token PUT, ttl 1"


def recv_answer(s, buf):
    """One answer (status line, headers, body) or None at EOF; and what follows it."""
    while b"\r\n\r\n" not in buf:
        d = s.recv(65536)
        if not d:
            return None, buf
        buf += d
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = [tuple(l.split(": ", 1)) for l in lines[1:]]
    length = int(dict((k.lower(), v) for k, v in headers)["content-length"])
    while len(rest) < length:
        d = s.recv(65536)
        if not d:
            return None, buf
        rest += d
    return (lines[0], headers, rest[:length]), rest[length:]


def masked(answer):
    status, headers, body = answer
    hs = []
    for k, v in headers:
        if k == "Date":
            assert re.fullmatch(r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d GMT", v), v
            v = "<date>"
        hs.append((k, v))
    if status == "HTTP/1.1 200 OK" and re.fullmatch(rb"[0-9a-f]{64}", body) and ("X-aws-ec2-metadata-token-ttl-seconds" in dict(hs)):
        body = b"<token>"
    return [status, hs, body.decode("latin-1")]


def converse(port, chunks, n, token):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for i, c in enumerate(chunks):
        if i:
            time.sleep(0.03)
        s.sendall(c.replace(b"{TOKEN}", token))
    answers, buf = [], b""
    raw = []
    for _ in range(n):
        a, buf = recv_answer(s, buf)
        if a is None:
            break
        raw.append(a)
        answers.append(masked(a))
    # Still open? A probe request gets an answer, or EOF.
    try:
        s.sendall(get(MAC).replace(b"{TOKEN}", token))
        a, buf = recv_answer(s, buf)
        after = "closed" if a is None else "kept open, probe: " + a[0]
    except (ConnectionResetError, BrokenPipeError):
        after = "closed"
    except socket.timeout:
        after = "no answer, not closed"
    s.close()
    return {"answers": answers, "after": after, "leftover": buf.decode("latin-1")}, raw


def run(port):
    _, raw = converse(port, [PUT_OK], 1, b"")
    token = raw[0][2]
    out, short = {}, None
    for name, chunks, n in CASES:
        out[name], raw = converse(port, chunks, n, token)
        if name == SHORT:
            short, short_at = raw[0][2], time.monotonic()
    # The ttl-1 token, valid at once, expired a second later.
    out["GET with the ttl-1 token"], _ = converse(port, [get(MAC, short)], 1, token)
    time.sleep(max(0, short_at + 1.2 - time.monotonic()))
    out["GET with the ttl-1 token after 1.2 s"], _ = converse(port, [get(MAC, short)], 1, token)
    return out


py, c = run(int(sys.argv[1])), run(int(sys.argv[2]))
bad = 0
for name in py:
    if py[name] != c[name]:
        bad += 1
        print("FAIL: %s:\n  python: %s\n  C:      %s" % (name, json.dumps(py[name]), json.dumps(c[name])))
    else:
        a = py[name]["answers"]
        print("ok: %s: %s; %s" % (name, ", ".join(x[0][9:] for x in a) or "no answer", py[name]["after"]))


def log(path):
    """Each line's fields but the time, which must be a number of seconds since the epoch."""
    out = []
    for line in open(path):
        e = json.loads(line)
        assert isinstance(e.pop("t"), float) and set(e) == {"method", "path", "connection"}, line
        out.append(e)
    return out


lp, lc = log(sys.argv[3]), log(sys.argv[4])
if lp != lc:
    bad += 1
    print("FAIL: the logs differ:\n  python: %s\n  C:      %s" % (lp[:50], lc[:50]))
else:
    print("ok: both logged the same %d requests (method, path, connection number)" % len(lc))
sys.exit(1 if bad else 0)
PY

# The C server's log line for a request is in the file before its answer leaves.
n=$(grep -c '"method": "GET"' "$TMP/c.log" || true)
[ "$n" -gt 20 ] && pass "the C server logged $n GETs" || fail "the C server logged $n GETs"

# ec2-netcfg itself against the C server: dump-metadata equals the capture's, read from
# the file; show too (rounds of requests over several connections).
mkdir -p "$TMP/root"
lines_before=$(wc -l < "$TMP/c.log")
nc_run() { inns timeout 60 "$EC2NC_BIN" --root "$TMP/root" "$@"; }
nc_run --metadata-file "$CAP" dump-metadata > "$TMP/ref.json" || die "dump-metadata --metadata-file failed"
nc_run --metadata-file "$CAP" show > "$TMP/ref.show" || die "show --metadata-file failed"
if nc_run --imds-endpoint "http://127.0.0.1:$C_PORT" dump-metadata > "$TMP/dump.json" 2> "$TMP/dump.err" &&
   cmp -s "$TMP/dump.json" "$TMP/ref.json"; then
  pass "ec2-netcfg dump-metadata through the C server equals the capture's"
else
  fail "dump-metadata through the C server: $(head -c 400 "$TMP/dump.err"); $(diff "$TMP/ref.json" "$TMP/dump.json" | head -5)"
fi
if nc_run --imds-endpoint "http://127.0.0.1:$C_PORT" show > "$TMP/show" 2> "$TMP/show.err" && cmp -s "$TMP/show" "$TMP/ref.show"; then
  pass "ec2-netcfg show through the C server equals show of the capture"
else
  fail "show through the C server: $(head -c 400 "$TMP/show.err")"
fi
reqs=$(tail -n +"$((lines_before + 1))" "$TMP/c.log" | wc -l)
conns=$(tail -n +"$((lines_before + 1))" "$TMP/c.log" | grep -o '"connection": [0-9]*' | sort -u | wc -l)
echo "ec2-netcfg: $reqs requests over $conns connection(s)"
[ "$reqs" -gt 10 ] && pass "ec2-netcfg's requests logged" || fail "$reqs requests logged"

# SIGTERM: a clean exit.
kill -TERM "$C_PID"
rc=0
wait "$C_PID" || rc=$?
[ "$rc" = 0 ] && pass "SIGTERM: exit 0" || fail "SIGTERM: exit $rc"

# Latency: 20 ms per answer, side by side across connections, in order on one.
start lat "$SERVER" --paths "$TMP/paths" --latency-ms 20 --max-seconds 250
if inns python3 - "$PORT" <<'PY'; then pass "latency 20 ms: waited, side by side, in order"; else fail "latency"; fi
import socket, sys, time
port = int(sys.argv[1])


def conn():
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def answer(s, buf=b""):
    while b"\r\n\r\n" not in buf:
        d = s.recv(65536)
        assert d, "closed"
        buf += d
    head, _, rest = buf.partition(b"\r\n\r\n")
    n = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
    while len(rest) < n:
        d = s.recv(65536)
        assert d, "closed"
        rest += d
    return head.split(b"\r\n")[0], rest[:n], rest[n:]


def get(path, token):
    return b"GET %s HTTP/1.1\r\nHost: x\r\nX-aws-ec2-metadata-token: %s\r\n\r\n" % (path, token)


bad = 0
s = conn()
t = time.monotonic()
s.sendall(b"PUT /latest/api/token HTTP/1.1\r\nX-aws-ec2-metadata-token-ttl-seconds: 60\r\n\r\n")
st, token, _ = answer(s)
ms = (time.monotonic() - t) * 1000
print("token PUT answered in %.1f ms" % ms)
if not (st == b"HTTP/1.1 200 OK" and ms >= 20):
    print("FAIL: %s in %.1f ms (want 200 after >= 20 ms)" % (st, ms)); bad += 1
t = time.monotonic()
s.sendall(get(b"/latest/meta-data/mac", token))
st, body, _ = answer(s)
ms = (time.monotonic() - t) * 1000
print("GET on the kept-open connection answered in %.1f ms" % ms)
if not (body == b"02:86:10:7b:e4:f5" and ms >= 20):
    print("FAIL: %r in %.1f ms" % (body, ms)); bad += 1

# Pipelined on one connection: answers in the order asked, each 20 ms after its request.
t = time.monotonic()
s.sendall(get(b"/latest/meta-data/mac", token) + get(b"/latest/meta-data/network/interfaces/macs/", token)
          + get(b"/latest/nope", token))
got, buf = [], b""
for _ in range(3):
    st, body, buf = answer(s, buf)
    got.append((st, body))
ms = (time.monotonic() - t) * 1000
print("3 pipelined requests answered in %.1f ms" % ms)
want = [(b"HTTP/1.1 200 OK", b"02:86:10:7b:e4:f5"), (b"HTTP/1.1 200 OK", b"02:86:10:7b:e4:f5/\n02:86:10:7b:e4:f6/"),
        (b"HTTP/1.1 404 Not Found", None)]
if [g[0] for g in got] != [w[0] for w in want] or got[0][1] != want[0][1] or got[1][1] != want[1][1] or not (20 <= ms < 200):
    print("FAIL: pipelined: %r in %.1f ms" % (got, ms)); bad += 1

# 30 requests at once on 30 connections: side by side (serialised they would take 600 ms).
socks = [conn() for _ in range(30)]
t = time.monotonic()
for c in socks:
    c.sendall(get(b"/latest/meta-data/mac", token))
ok = sum(answer(c)[1] == b"02:86:10:7b:e4:f5" for c in socks)
ms = (time.monotonic() - t) * 1000
print("30 requests on 30 connections answered in %.1f ms" % ms)
if ok != 30 or not (20 <= ms < 300):
    print("FAIL: %d of 30 answered right, in %.1f ms (want 30 in 20..300 ms)" % (ok, ms)); bad += 1
for c in socks:
    c.close()

# 100 connections open at once, each with 2 pipelined requests.
socks = [conn() for _ in range(100)]
for c in socks:
    c.sendall(get(b"/latest/meta-data/mac", token) * 2)
ok = 0
for c in socks:
    _, b1, rest = answer(c)
    _, b2, _ = answer(c, rest)
    ok += b1 == b2 == b"02:86:10:7b:e4:f5"
print("100 connections x 2 pipelined requests: %d answered right" % ok)
if ok != 100:
    bad += 1
sys.exit(1 if bad else 0)
PY

# --max-seconds: it stops by itself; and it binds nothing but loopback.
rc=0
inns timeout 5 "$SERVER" --paths "$TMP/paths" --max-seconds 0.5 || rc=$?
[ "$rc" = 0 ] && pass "--max-seconds 0.5: stopped by itself, exit 0" || fail "--max-seconds 0.5: exit $rc (124: still running after 5 s)"
for addr in 0.0.0.0 169.254.169.254 10.0.0.1 ::; do
  if inns "$SERVER" --paths "$TMP/paths" --address "$addr" --max-seconds 1 2> "$TMP/refuse.err"; then
    fail "--address $addr accepted"
  else
    grep -q refusing "$TMP/refuse.err" && pass "--address $addr refused" || fail "--address $addr: $(cat "$TMP/refuse.err")"
  fi
done
if [ "$(inns cat /proc/sys/net/ipv6/conf/lo/disable_ipv6 2>/dev/null || echo 1)" = 0 ]; then
  start v6 "$SERVER" --paths "$TMP/paths" --address ::1 --max-seconds 30
  out=$(inns python3 - "$PORT" <<'PY' 2>&1 || true
import socket, sys
s = socket.create_connection(("::1", int(sys.argv[1])), timeout=5)
s.sendall(b"PUT /latest/api/token HTTP/1.1\r\nX-aws-ec2-metadata-token-ttl-seconds: 5\r\nConnection: close\r\n\r\n")
data = b""
while True:
    d = s.recv(4096)
    if not d:
        break
    data += d
print(data.split(b"\r\n")[0].decode(), data.split(b"\r\n\r\n", 1)[1].decode())
PY
)
  [[ "$out" =~ ^"HTTP/1.1 200 OK "[0-9a-f]{64}$ ]] && pass "::1 serves a token" || fail "::1: $out"
fi

finish
