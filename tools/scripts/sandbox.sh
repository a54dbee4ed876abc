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

if [ "$HOLD" -gt 0 ]; then
  say "holding for ${HOLD}s: try  ip netns exec $NS_APP ping 198.19.0.2"
  sleep "$HOLD"
fi

sleep 0.3
say "tunstackd counters (non-zero)"
awk '$2 != 0' "$GW_STATS"
say "stopping (SIGTERM) and tearing down"
kill -TERM "$GW_PID"; wait "$GW_PID" && echo "tunstackd exited cleanly"
