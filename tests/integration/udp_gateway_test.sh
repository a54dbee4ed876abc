#!/usr/bin/env bash
# UDP through tunstackd with real kernels on both sides: exchange (v4, v6), full cone (a
# different remote reaches the client through the mapping another remote observed), mapping
# independence, ICMP port unreachable -> ECONNREFUSED, an oversize reply fragmented to the TUN
# MTU and reassembled by the app's kernel, ping (v4, v6), and counters that add up.
# Usage: udp_gateway_test.sh TUNSTACKD
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
require_root
TUNSTACKD=$1
source "$here/gateway_env.sh"
TOOL="$here/udp_tool.py"
T=$(ts_tmp)

gw_up --log-level info

# Servers: A (whoami) on .2:5000, B (whoami) on .3:6000, echo on :7 (v4 + v6), big replies on :8.
spawn "$NS_SRV" python3 "$TOOL" serve --bind 198.19.0.2:5000 --mode whoami --ready "$T/a.ready"
spawn "$NS_SRV" python3 "$TOOL" serve --bind 198.19.0.3:6000 --mode whoami --ready "$T/b.ready"
spawn "$NS_SRV" python3 "$TOOL" serve --bind 198.19.0.2:7 --mode echo --ready "$T/e4.ready"
spawn "$NS_SRV" python3 "$TOOL" serve --bind '[fd00:19::2]:7' --mode echo --ready "$T/e6.ready"
spawn "$NS_SRV" python3 "$TOOL" serve --bind 198.19.0.2:8 --mode big --size 6000 --ready "$T/big4.ready"
spawn "$NS_SRV" python3 "$TOOL" serve --bind '[fd00:19::2]:8' --mode big --size 6000 --ready "$T/big6.ready"
for f in a b e4 e6 big4 big6; do wait_for 30 test -e "$T/$f.ready"; done

udp_echo() {  # udp_echo FAMILY DST: one datagram out and back through the gateway
  app python3 - "$1" "$2" <<'PY'
import socket, sys
fam = socket.AF_INET6 if sys.argv[1] == "6" else socket.AF_INET
s = socket.socket(fam, socket.SOCK_DGRAM); s.settimeout(3)
for i in range(5):
    msg = b"hello %d via tunstack" % i
    s.sendto(msg, (sys.argv[2], 7))
    data, peer = s.recvfrom(2048)
    assert data == msg, (data, msg)
    assert peer[0] == sys.argv[2], peer
PY
}
check "udp echo over IPv4" udp_echo 4 198.19.0.2
check "udp echo over IPv6" udp_echo 6 fd00:19::2

# Full cone: the client talks to A only; B (another address and port) sends to the mapping A saw.
full_cone() {
  app python3 - "$T" <<'PY' &
import socket, sys, time
t = sys.argv[1]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(15)
s.bind(("198.18.0.2", 40000))
s.sendto(b"who am i", ("198.19.0.2", 5000))
seen_by_a, _ = s.recvfrom(100)
open(t + "/mapping.tmp", "w").write(seen_by_a.decode()); __import__("os").rename(t + "/mapping.tmp", t + "/mapping")
data, peer = s.recvfrom(100)          # unsolicited, from B
assert data == b"hello-from-B" and peer == ("198.19.0.3", 6000), (data, peer)
s.sendto(b"who am i", ("198.19.0.3", 6000))   # mapping independence: B sees the same mapping
seen_by_b, _ = s.recvfrom(100)
assert seen_by_b == seen_by_a, (seen_by_a, seen_by_b)
print("mapping", seen_by_a.decode())
PY
  local client=$!
  wait_for 15 test -e "$T/mapping" || return 1
  read -r mhost mport <"$T/mapping"
  srv python3 "$TOOL" send --bind 198.19.0.3:0 --to 198.19.0.3:6000 \
    --data "SEND $mhost $mport hello-from-B"
  wait "$client"
}
check "full cone: any remote reaches the client, one mapping for all" full_cone

refused() {
  app python3 - <<'PY'
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(3)
s.connect(("198.19.0.2", 9))  # nothing listens there
s.send(b"anyone?")
try:
    s.recv(100)
except ConnectionRefusedError:
    raise SystemExit(0)
raise SystemExit("no ECONNREFUSED")
PY
}
check "ICMP port unreachable reaches the app as ECONNREFUSED" refused

big_reply() {  # the server answers 6000 bytes: fragmented by tunstack to MTU 1500
  app python3 - "$1" "$2" <<'PY'
import socket, sys
fam = socket.AF_INET6 if sys.argv[1] == "6" else socket.AF_INET
s = socket.socket(fam, socket.SOCK_DGRAM); s.settimeout(3)
s.sendto(b"big please", (sys.argv[2], 8))
data, _ = s.recvfrom(65535)
want = bytes((i * 7 + 3) % 251 for i in range(6000))
assert data == want, len(data)
PY
}
check "oversize reply fragmented and reassembled (IPv4)" big_reply 4 198.19.0.2
check "oversize reply fragmented and reassembled (IPv6)" big_reply 6 fd00:19::2
fresh_stats
check "fragmentation counted" test "$(counter return_udp_fragmented)" -ge 2

check "ping through the gateway (IPv4)" app ping -c 3 -i 0.2 -W 2 -w 10 198.19.0.2
check "ping through the gateway (IPv6)" app ping -6 -c 3 -i 0.2 -W 2 -w 10 fd00:19::2
fresh_stats
check "pings went through ping sockets" test "$(counter ping_nat_tx_datagrams)" -ge 6

# The daemon's own accounting: every packet read from the TUN is one the host saw.
fresh_stats
check "tun rx == host rx" test "$(counter tun_rx_packets)" -eq "$(counter host_rx_packets)"
check "every UDP datagram accounted for" test "$(counter host_udp_datagrams)" -eq "$(( $(counter nat_tx_datagrams) + $(counter nat_tx_drop_queue_full) + $(counter nat_tx_drop_unreachable) + $(counter nat_tx_drop_closed) + $(counter nat_open_failed) ))"

kill -TERM "$GW_PID"
check "SIGTERM stops tunstackd cleanly" wait "$GW_PID"
finish
