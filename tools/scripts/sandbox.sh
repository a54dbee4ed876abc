#!/usr/bin/env bash
# The gateway in a self-contained sandbox: three network namespaces (app -> TUN -> tunstackd ->
# server), real traffic through it, what happened, then everything torn down (also on Ctrl-C).
# Nothing is routed off the machine: hosts live on 198.18.0.0/15 and fd00::/8 only.
# Usage: sandbox.sh TUNSTACKD [--hold SECONDS] [tunstackd flags...]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
source "$root/tests/integration/lib.sh"
require_root
TUNSTACKD=$1; shift
HOLD=0
if [ "${1:-}" = "--hold" ]; then HOLD=$2; shift 2; fi
source "$root/tests/integration/gateway_env.sh"
TOOL="$root/tests/integration/udp_tool.py"
T=$(ts_tmp)

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "creating namespaces: app, gateway, server"
gw_up "$@"
echo "app $NS_APP: 198.18.0.2 fd00::2, default route into ts0 (the TUN)"
echo "gateway $NS_GW: tunstackd pid $GW_PID, stats in $GW_STATS"
echo "server $NS_SRV: 198.19.0.2 198.19.0.3 fd00:19::2 fd00:19::3"

spawn "$NS_SRV" python3 "$TOOL" serve --bind 198.19.0.2:7 --mode echo --ready "$T/e4" --lifetime 300
spawn "$NS_SRV" python3 "$TOOL" serve --bind '[fd00:19::2]:7' --mode echo --ready "$T/e6" --lifetime 300
wait_for 30 test -e "$T/e4"; wait_for 30 test -e "$T/e6"

say "ping through the gateway"
app ping -c 3 -i 0.2 -w 10 198.19.0.2 | tail -2
app ping -6 -c 3 -i 0.2 -w 10 fd00:19::2 | tail -2

say "UDP echo, 1000 datagrams each way, IPv4 and IPv6"
app python3 - <<'PY'
import socket, time
for fam, dst in ((socket.AF_INET, "198.19.0.2"), (socket.AF_INET6, "fd00:19::2")):
    s = socket.socket(fam, socket.SOCK_DGRAM); s.settimeout(2)
    t0 = time.monotonic(); ok = 0
    for i in range(1000):
        s.sendto(b"x" * 512, (dst, 7))
        try:
            s.recvfrom(2048); ok += 1
        except socket.timeout:
            pass
    dt = time.monotonic() - t0
    print(f"{dst}: {ok}/1000 echoed, {dt*1e6/1000:.0f} us round trip on average")
PY

say "a closed port answers with ICMP port unreachable"
app python3 - <<'PY'
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(2); s.connect(("198.19.0.2", 9))
s.send(b"?")
try:
    s.recv(10); print("unexpected answer")
except ConnectionRefusedError:
    print("recv -> ECONNREFUSED (as from a real host)")
PY

say "TCP: curl fetches 32 MiB from python's http.server over IPv4 and IPv6 (sha256 checked)"
head -c $((32 << 20)) /dev/urandom > "$T/blob.bin"
want=$(sha256sum < "$T/blob.bin" | cut -d' ' -f1)
spawn "$NS_SRV" python3 -m http.server --bind :: --directory "$T" 8080
wait_for 30 srv python3 -c "import socket; socket.create_connection(('198.19.0.2', 8080), 1)"
for url in http://198.19.0.2:8080/blob.bin "http://[fd00:19::2]:8080/blob.bin"; do
  got=$(app curl -sS --max-time 60 -o >(sha256sum | cut -d' ' -f1 > "$T/got") \
        -w '%{speed_download}' "$url")
  sleep 0.2
  if [ "$(cat "$T/got")" = "$want" ]; then v=intact; else v="CORRUPT ($(cat "$T/got"))"; fi
  awk -v u="$url" -v s="$got" -v v="$v" 'BEGIN { printf "%s: %.0f MB/s, %s\n", u, s / 1e6, v }'
done

say "TCP: iperf3, 3 s up and 3 s down"
spawn "$NS_SRV" sh -c "exec iperf3 -s -B 198.19.0.2 -1 >/dev/null"
wait_for 30 srv sh -c "ss -Hltn 'sport = :5201' | grep -q ."
app iperf3 -c 198.19.0.2 -t 3 -f g | grep -E "sender|receiver" || true
spawn "$NS_SRV" sh -c "exec iperf3 -s -B 198.19.0.2 -1 >/dev/null"
wait_for 30 srv sh -c "ss -Hltn 'sport = :5201' | grep -q ."
app iperf3 -c 198.19.0.2 -t 3 -f g -R | grep -E "sender|receiver" || true

say "TCP: a closed port is refused as by a real host (the SYN-ACK waits for the server)"
app python3 - <<'PY'
import socket, time
t0 = time.monotonic()
try:
    socket.create_connection(("198.19.0.2", 9), 5); print("unexpected: connected")
except ConnectionRefusedError:
    print(f"connect -> ECONNREFUSED after {(time.monotonic() - t0) * 1000:.1f} ms")
PY

if [ "$HOLD" -gt 0 ]; then
  say "holding for ${HOLD}s: try  ip netns exec $NS_APP curl http://198.19.0.2:8080/"
  sleep "$HOLD"
fi

sleep 0.3
say "tunstackd counters (non-zero)"
awk '$2 != 0' "$GW_STATS"
say "stopping (SIGTERM) and tearing down"
kill -TERM "$GW_PID"; wait "$GW_PID" && echo "tunstackd exited cleanly"
