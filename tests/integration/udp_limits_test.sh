#!/usr/bin/env bash
# UDP NAT limits with real traffic: idle expiry with a short timeout, and a burst of 100k
# datagrams from 50k source ports against a 1000-mapping cap: the daemon stays up, its memory and
# table stay bounded, and every datagram is accounted for from the app's socket to the server's.
# Usage: udp_limits_test.sh TUNSTACKD
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
require_root
TUNSTACKD=$1
source "$here/gateway_env.sh"
TOOL="$here/udp_tool.py"
T=$(ts_tmp)

gw_up --udp-idle-timeout 2s --udp-max-mappings 1000 --log-level warn
spawn "$NS_SRV" python3 "$TOOL" serve --bind 198.19.0.2:7 --mode echo --ready "$T/echo.ready"
spawn "$NS_SRV" python3 "$TOOL" serve --bind 198.19.0.2:9000 --mode count --out "$T/count" --ready "$T/count.ready"
wait_for 30 test -e "$T/echo.ready"; wait_for 30 test -e "$T/count.ready"
SINK_PID=$SPAWNED_PID

# Idle expiry: one exchange, then silence for longer than the timeout.
app python3 - <<'PY'
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(3)
s.sendto(b"x", ("198.19.0.2", 7)); s.recvfrom(10)
PY
fresh_stats
check "mapping exists after the exchange" test "$(counter nat_mappings)" -eq 1
sleep 3.5
fresh_stats
check "idle mapping expired" test "$(counter nat_mappings_expired)" -ge 1
check "table empty after expiry" test "$(counter nat_mappings)" -eq 0

# The burst. Kernel-side drops are counted by the kernel: TX drops on the app's TUN, receive
# buffer errors at the server.
srv_udp() { srv awk '/^Udp: [0-9]/ { print $'"$1"' }' /proc/net/snmp; }  # 2=InDatagrams 6=RcvbufErrors
in_before=$(srv_udp 2); rcvbuf_before=$(srv_udp 6)
host_before=$(counter host_udp_datagrams)
nat_tx_before=$(counter nat_tx_datagrams)
sent=$(app python3 "$TOOL" burst --src 198.18.0.2 --ports 50000 --count 100000 --to 198.19.0.2:9000)
sleep 1
fresh_stats
snapshot
tun_tx_dropped=$(app cat /sys/class/net/ts0/statistics/tx_dropped)
echo "sent $sent, app TUN tx_dropped $tun_tx_dropped, daemon saw $(( $(snap host_udp_datagrams) - host_before ))"
check "daemon still running" kill -0 "$GW_PID"
check "table bounded by the cap" test "$(snap nat_mappings)" -le 1000
check "past the cap, each new mapping evicted the least recently used" \
  test "$(snap nat_mappings_evicted)" -eq "$(( $(snap nat_mappings_created) - $(snap nat_mappings_expired) - $(snap nat_mappings) ))"
check "the burst filled the table" test "$(snap nat_mappings_evicted)" -ge 1000
rss_kb=$(awk '/^VmRSS/ { print $2 }' "/proc/$GW_PID/status")
echo "tunstackd RSS ${rss_kb} kB"
check "memory bounded (RSS < 200 MB)" test "$rss_kb" -lt 204800
seen=$(( $(snap host_udp_datagrams) - host_before ))
check "app sent = daemon received + kernel TUN drops" test "$sent" -eq "$(( seen + tun_tx_dropped ))"
nat_in=$(( $(snap nat_tx_datagrams) + $(snap nat_tx_drop_queue_full) + $(snap nat_tx_drop_unreachable) + $(snap nat_tx_drop_closed) + $(snap nat_open_failed) ))
check "daemon received = sent on + counted drops" test "$(snap host_udp_datagrams)" -eq "$nat_in"
kill -TERM "$SINK_PID"; wait "$SINK_PID" || true
delivered=$(( $(srv_udp 2) - in_before )); rcvbuf=$(( $(srv_udp 6) - rcvbuf_before ))
sent_on=$(( $(counter nat_tx_datagrams) - nat_tx_before ))
echo "server got $delivered (+ $rcvbuf receive-buffer drops) of $sent_on sent on; count file $(cat "$T/count")"
check "server received what the daemon sent on (kernel drops counted)" test "$(( delivered + rcvbuf ))" -eq "$sent_on"

kill -TERM "$GW_PID"
check "SIGTERM stops tunstackd cleanly" wait "$GW_PID"
finish
