#!/usr/bin/env bash
# The single-namespace deployment recipe from the README, verified: the app and tunstackd share
# one network namespace; unmarked traffic is routed into the TUN, and tunstackd's own sockets
# carry SO_MARK so policy routing sends them out the real interface instead of looping back.
# Usage: single_ns_mark_test.sh TUNSTACKD
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
require_root
D=$1
T=$(ts_tmp)
ns_add box BOX
ns_add srv SRV
veth_pair "$BOX" box0 198.19.0.1/24 "$SRV" srv0 198.19.0.2/24 fd00:19::1/64 fd00:19::2/64
spawn "$SRV" python3 "$here/udp_tool.py" serve --bind 198.19.0.2:7 --mode echo --ready "$T/e4"
spawn "$SRV" python3 "$here/udp_tool.py" serve --bind '[fd00:19::2]:7' --mode echo --ready "$T/e6"
spawn "$SRV" python3 "$here/udp_tool.py" serve --bind 198.19.0.2:8 --mode whoami --ready "$T/w"
wait_for 30 test -e "$T/e4"; wait_for 30 test -e "$T/e6"; wait_for 30 test -e "$T/w"

spawn "$BOX" "$D" --tun ts0 --mark 0x100 --log-level warn
GW=$SPAWNED_PID
wait_for 10 ip -n "$BOX" link show ts0
# --- the README recipe, verbatim (inside the box namespace) ---
ip netns exec "$BOX" sh -e <<'SH'
ip addr add 198.18.0.2/24 dev ts0
ip addr add fd00::2/64 dev ts0 nodad
ip link set ts0 up
ip route add default dev ts0 table 200
ip -6 route add default dev ts0 table 200
ip rule add fwmark 0x100 lookup main pref 100
ip rule add lookup 200 pref 200
ip -6 rule add fwmark 0x100 lookup main pref 100
ip -6 rule add lookup 200 pref 200
SH
# ---
box() { ip netns exec "$BOX" "$@"; }
echo_via_tun() {
  box python3 - "$1" <<'PY'
import socket, sys
dst = sys.argv[1]
s = socket.socket(socket.AF_INET6 if ":" in dst else socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(3)
s.sendto(b"through the tun", (dst, 7))
data, _ = s.recvfrom(100)
assert data == b"through the tun"
PY
}
check "route lookup for the app goes into the TUN" sh -c "ip netns exec $BOX ip route get 198.19.0.2 | grep -q 'dev ts0'"
check "marked lookups go out the real interface" sh -c "ip netns exec $BOX ip route get 198.19.0.2 mark 0x100 | grep -q 'dev box0'"
check "UDP echo through tunstackd in one namespace (IPv4)" echo_via_tun 198.19.0.2
check "UDP echo through tunstackd in one namespace (IPv6)" echo_via_tun fd00:19::2
whoami() {
  box python3 - <<'PY'
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(3)
s.bind(("198.18.0.2", 0))
s.sendto(b"?", ("198.19.0.2", 8))
seen, _ = s.recvfrom(100)
host = seen.split()[0].decode()
assert host == "198.19.0.1", seen   # the server saw the gateway's socket, not the TUN address
PY
}
check "the server sees tunstackd's marked socket" whoami
kill -TERM "$GW"
check "clean exit" wait "$GW"
finish
