#!/usr/bin/env bash
# TCP through tunstackd with real kernels and real programs on both sides: curl fetches 64 MiB
# from python's http.server (v4, v6); tcp_tool moves 32 MiB each way byte-exact (v4, v6); iperf3
# up and down; a closed port gives the app ECONNREFUSED at once; an address whose ARP/ND fails
# gives EHOSTUNREACH (the stack's ICMP) rather than a hanging connect; half-close each way;
# resets each way; and the daemon's counters add up, with every connection gone at the end.
# Usage: tcp_gateway_test.sh TUNSTACKD
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
require_root
TUNSTACKD=$1
source "$here/gateway_env.sh"
TOOL="$here/tcp_tool.py"
T=$(ts_tmp)
MB=$((1 << 20))
t_start=$SECONDS
CONNS=0  # TCP connections the app opened through the daemon (counted as we go)

listening() { srv ss -Hltn "sport = :$1" | grep -q .; }
tcp_idle() { [ "$(counter tcp_active)" -eq 0 ]; }

gw_up --log-level info

# Servers: tcp_tool (5001, v4 + v6), http.server (8080 v4, 8081 v6), iperf3 (5201 v4).
mkdir -p "$T/www"
head -c $((64 * MB)) /dev/urandom >"$T/www/blob"
blob_sha=$(sha256sum "$T/www/blob" | cut -d' ' -f1)
spawn "$NS_SRV" python3 "$TOOL" serve --bind 198.19.0.2:5001 --bind '[fd00:19::2]:5001' \
  --log "$T/srv.log" --ready "$T/srv.ready"
spawn "$NS_SRV" python3 -m http.server --bind 198.19.0.2 --directory "$T/www" 8080 2>"$T/http4.log"
spawn "$NS_SRV" python3 -m http.server --bind fd00:19::2 --directory "$T/www" 8081 2>"$T/http6.log"
spawn "$NS_SRV" iperf3 -s -B 198.19.0.2 -p 5201 >"$T/iperf3-server.log" 2>&1
wait_for 30 test -e "$T/srv.ready"
for p in 8080 8081 5201; do wait_for 30 listening "$p" || echo "port $p not listening"; done

# --- curl against a real HTTP server ------------------------------------------------------------
fetch() {  # fetch URL NAME: 64 MiB over HTTP, sha256 compared with the file served
  local speed
  CONNS=$((CONNS + 1))
  speed=$(app curl -gsS --max-time 90 -o "$T/$2" -w '%{speed_download}' "$1") || return 1
  local got
  got=$(sha256sum "$T/$2" | cut -d' ' -f1)
  echo "     curl $2: $(stat -c %s "$T/$2") bytes at $(awk -v s="$speed" 'BEGIN { printf "%.1f MB/s", s / 1e6 }')"
  rm -f "$T/$2"
  [ "$got" = "$blob_sha" ]
}
t0=$SECONDS
check "curl: 64 MiB over HTTP, sha256 matches (IPv4)" fetch http://198.19.0.2:8080/blob got4
check "curl: 64 MiB over HTTP, sha256 matches (IPv6)" fetch "http://[fd00:19::2]:8081/blob" got6
echo "     (curl: $((SECONDS - t0)) s)"

# --- byte-exact bulk transfers --------------------------------------------------------------------
xfer() {  # xfer send|recv DST BYTES SEED
  CONNS=$((CONNS + 1))
  app timeout 120 python3 "$TOOL" "$1" --to "$2" --bytes "$3" --seed "$4" | sed 's/^/     /'
  return "${PIPESTATUS[0]}"
}
t0=$SECONDS
check "tcp_tool: 32 MiB up, byte-exact (IPv4)" xfer send 198.19.0.2:5001 $((32 * MB)) 11
check "tcp_tool: 32 MiB down, byte-exact (IPv4)" xfer recv 198.19.0.2:5001 $((32 * MB)) 12
check "tcp_tool: 32 MiB up, byte-exact (IPv6)" xfer send '[fd00:19::2]:5001' $((32 * MB)) 13
check "tcp_tool: 32 MiB down, byte-exact (IPv6)" xfer recv '[fd00:19::2]:5001' $((32 * MB)) 14
echo "     (tcp_tool bulk: $((SECONDS - t0)) s)"

# --- iperf3 ---------------------------------------------------------------------------------------
iperf() {  # iperf NAME [-R]: ~3 s over IPv4; passes when iperf3 succeeds with a non-zero rate
  local name=$1; shift
  CONNS=$((CONNS + 2))  # iperf3 opens a control connection and one data stream
  app timeout 30 iperf3 -c 198.19.0.2 -p 5201 -t 3 --connect-timeout 5000 -J "$@" >"$T/$name.json" || {
    echo "     iperf3 failed: $(head -c 600 "$T/$name.json")"; return 1; }
  local bps
  bps=$(python3 -c 'import json,sys; print(int(json.load(open(sys.argv[1]))["end"]["sum_received"]["bits_per_second"]))' "$T/$name.json") || return 1
  echo "     iperf3 $name: $((bps / 1000000)) Mbit/s"
  [ "$bps" -gt 0 ]
}
t0=$SECONDS
check "iperf3 up (app -> server), IPv4" iperf up
check "iperf3 down (-R, server -> app), IPv4" iperf down -R
echo "     (iperf3: $((SECONDS - t0)) s)"

# --- failures to connect --------------------------------------------------------------------------
connect_result() {  # connect_result DST TIMEOUT -> "ERRNO MS" (runs in a subshell)
  app timeout 60 python3 "$TOOL" connect --to "$1" --timeout "$2"
}
refused() {  # refused DST: ECONNREFUSED in well under the kernel's SYN retry time
  local name ms
  CONNS=$((CONNS + 1))
  read -r name ms < <(connect_result "$1" 20)
  echo "     connect $1: $name after $ms ms"
  [ "$name" = ECONNREFUSED ] && awk -v m="$ms" 'BEGIN { exit !(m < 3000) }'
}
check "closed port: ECONNREFUSED, quickly (IPv4)" refused 198.19.0.2:9
check "closed port: ECONNREFUSED, quickly (IPv6)" refused '[fd00:19::2]:9'

unreachable() {  # unreachable DST: EHOSTUNREACH/ENETUNREACH once the daemon's ARP/ND gives up
  local name ms
  CONNS=$((CONNS + 1))
  read -r name ms < <(connect_result "$1" 30)
  echo "     connect $1: $name after $ms ms"
  case $name in EHOSTUNREACH|ENETUNREACH) ;; *) return 1 ;; esac
  awk -v m="$ms" 'BEGIN { exit !(m < 5000) }'
}
# The daemon's kernel gives up on ARP/ND after 3 probes; at 200 ms apart that is ~0.6 s, well
# before the app's first SYN retransmission (1 s), which would otherwise race the ICMP error
# and open a second connection.
ip netns exec "$NS_GW" sysctl -qw net.ipv4.neigh.gw0.retrans_time_ms=200 net.ipv6.neigh.gw0.retrans_time_ms=200
t0=$SECONDS
check "unused address: EHOSTUNREACH/ENETUNREACH, not a hang (IPv4)" unreachable 198.19.0.99:80
check "unused address: EHOSTUNREACH/ENETUNREACH, not a hang (IPv6)" unreachable '[fd00:19::99]:80'
echo "     (unreachable: $((SECONDS - t0)) s)"

# --- half-close and reset -------------------------------------------------------------------------
tool() {  # tool MODE ARGS...: a tcp_tool client in the app namespace, output indented
  CONNS=$((CONNS + 1))
  app timeout 60 python3 "$TOOL" "$@" --timeout 20 | sed 's/^/     /'
  return "${PIPESTATUS[0]}"
}
for dst in 198.19.0.2:5001 '[fd00:19::2]:5001'; do
  check "half-close by the client: server keeps sending, all 4 MiB arrive ($dst)" \
    tool halfclose --to "$dst" --who client --bytes $((4 * MB)) --seed 21
  check "half-close by the server: client keeps sending, all 4 MiB arrive ($dst)" \
    tool halfclose --to "$dst" --who server --bytes $((4 * MB)) --seed 22 --server-log "$T/srv.log"
  check "server aborts (SO_LINGER 0): the client gets ECONNRESET ($dst)" \
    tool reset --to "$dst" --who server
  check "client aborts: the server sees a reset ($dst)" \
    tool reset --to "$dst" --who client --server-log "$T/srv.log"
done

# --- the daemon's accounting ----------------------------------------------------------------------
# Everything is closed: after TIME-WAIT (2 s by default) no connection may remain.
t0=$SECONDS
wait_for 20 tcp_idle || true
echo "     (tcp_active reached $(counter tcp_active) after $((SECONDS - t0)) s)"
fresh_stats
snapshot
for c in tcp_passive_opens tcp_established tcp_connect_failed tcp_closed tcp_rst_out_refused \
         tcp_icmp_unreachable_requests tcp_rst_out_remote_reset tcp_rst_in tcp_retransmits \
         tcp_drop_half_open_full direct_streams_opened direct_streams_connected \
         direct_streams_refused direct_streams_unreachable direct_streams_reset tcp_active \
         tcp_half_open direct_streams_active; do
  printf '     %-32s %s\n' "$c" "$(snap "$c")"
done
echo "     connections opened by this test: $CONNS"
echo "     app kernel: TcpRetransSegs $(app nstat -az TcpRetransSegs | awk '$1 == "TcpRetransSegs" { print $2 }'), TUN tx_dropped $(app cat /sys/class/net/ts0/statistics/tx_dropped)"
check "one passive open per connection the app made" test "$(snap tcp_passive_opens)" -eq "$CONNS"
check "passive opens = established + connect failed" \
  test "$(snap tcp_passive_opens)" -eq "$(( $(snap tcp_established) + $(snap tcp_connect_failed) ))"
check "outbound connects = connected + refused + unreachable" \
  test "$(snap direct_streams_opened)" -eq "$(( $(snap direct_streams_connected) + $(snap direct_streams_refused) + $(snap direct_streams_unreachable) ))"
check "every connected outbound became an established connection" \
  test "$(snap direct_streams_connected)" -eq "$(snap tcp_established)"
check "refusals answered with RST (>= 2)" test "$(snap tcp_rst_out_refused)" -ge 2
check "unreachable answered with ICMP (>= 2)" test "$(snap tcp_icmp_unreachable_requests)" -ge 2
check "server resets passed on to the client (>= 2)" test "$(snap tcp_rst_out_remote_reset)" -ge 2
check "client resets received (>= 2)" test "$(snap tcp_rst_in)" -ge 2
check "bytes down counted (>= 2x64 MiB + 2x32 MiB)" test "$(snap direct_stream_bytes_down)" -ge $((192 * MB))
check "bytes up counted (>= 2x32 MiB)" test "$(snap direct_stream_bytes_up)" -ge $((64 * MB))
check "every connection closed" test "$(snap tcp_closed)" -eq "$(snap tcp_passive_opens)"
check "tcp_active back to 0" test "$(snap tcp_active)" -eq 0
check "no half-open left" test "$(snap tcp_half_open)" -eq 0
check "no outbound stream left" test "$(snap direct_streams_active)" -eq 0
check "server log has no failures" bash -c "! grep -E 'FAIL|error' '$T/srv.log'"

kill -TERM "$GW_PID"
check "SIGTERM stops tunstackd cleanly" wait "$GW_PID"
echo "tcp_gateway total: $((SECONDS - t_start)) s"
finish
