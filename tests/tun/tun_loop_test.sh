#!/usr/bin/env bash
# Namespace test of tun::Device and tun::Loop, driven through tests/tun/tun_echo.cpp.
#
# For each receive mode (multishot ring, single reads with a starved buffer pool):
#   1. a persistent TUN is made in namespace "prog"; tun_echo attaches to it by name, sets the
#      MTU and brings it up there;
#   2. the interface is then moved into namespace "app" while tun_echo keeps its descriptor
#      (the move must not break the loop);
#   3. from "app": ping and ping -6 (bounded count and deadline), UDP round trips over IPv4 and
#      IPv6 (python3), then a burst of 20k UDP datagrams;
#   4. SIGTERM: tun_echo must exit 0 and print its counters, which must add up among themselves
#      and match the kernel's own counters for the interface, read after the program exited.
# Usage: tun_loop_test.sh PATH/TO/tun_echo
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../integration/lib.sh
source "$here/../integration/lib.sh"
require_root
ECHO=${1:?usage: tun_loop_test.sh PATH/TO/tun_echo}
CLIENT="$here/udp_echo_client.py"
tmp=$(ts_tmp)
BURST=${TUN_BURST:-20000}

for tool in ping python3 ip; do
  command -v "$tool" >/dev/null || { echo "SKIP: $tool is missing (tools/scripts/deps.sh installs it)"; exit 77; }
done

# kstats NS DEV: the kernel's interface counters as "tx_packets rx_packets tx_dropped rx_dropped".
kstats() {
  ip -n "$1" -s -j link show dev "$2" | python3 -c '
import json, sys
d = json.load(sys.stdin)[0]["stats64"]
print(d["tx"]["packets"], d["rx"]["packets"], d["tx"]["dropped"], d["rx"]["dropped"])'
}

# counter FILE NAME: a "name value" line printed by tun_echo.
counter() { awk -v k="$2" '$1 == k { print $2; found = 1 } END { if (!found) print "missing" }' "$1"; }

eq() { [ "$1" = "$2" ] || { echo "    expected $1 == $2"; return 1; }; }
ge() { [ "$1" -ge "$2" ] || { echo "    expected $1 >= $2"; return 1; }; }

run_scenario() {
  local mode=$1; shift
  local prog app dev out pid
  # ns_add must run in this shell (not in $(...)): it records the namespace for cleanup.
  ns_add "prog-$mode" >/dev/null
  ns_add "app-$mode" >/dev/null
  prog="${TS_ID}-prog-$mode"
  app="${TS_ID}-app-$mode"
  dev="tun${TS_ID}${mode:0:1}"
  out="$tmp/echo-$mode.out"
  echo "--- mode=$mode dev=$dev $*"

  ip -n "$prog" tuntap add mode tun name "$dev"   # persistent: its counters outlive tun_echo
  spawn "$prog" "$ECHO" --name "$dev" --mtu 1400 --up --mode "$mode" "$@" >"$out" 2>"$tmp/echo-$mode.err"
  pid=$SPAWNED_PID
  if ! wait_for 10 grep -q '^ready' "$out"; then
    echo "FAIL tun_echo did not start:"; cat "$tmp/echo-$mode.err"; exit 1
  fi
  check "[$mode] tun_echo brought $dev up (SIOCSIFFLAGS)" \
    bash -c "ip -n '$prog' link show dev '$dev' | grep -q ',UP'"

  # The move: the interface leaves prog (and goes down); tun_echo's descriptor stays valid.
  ip -n "$prog" link set dev "$dev" netns "$app"
  check "[$mode] $dev left the opening namespace" bash -c "! ip -n '$prog' link show dev '$dev' 2>/dev/null"
  check "[$mode] MTU set by tun_echo survived the move (SIOCSIFMTU)" \
    bash -c "ip -n '$app' link show dev '$dev' | grep -q 'mtu 1400'"
  # Quiet IPv6 so that only the test's traffic crosses the TUN once it settles.
  ip netns exec "$app" sysctl -qw "net.ipv6.conf.$dev.router_solicitations=0" "net.ipv6.conf.$dev.accept_ra=0"
  ip -n "$app" addr add 198.18.0.1/32 dev "$dev"
  ip -n "$app" addr add fd00:65::1/128 dev "$dev" nodad
  ip -n "$app" link set dev "$dev" up
  ip -n "$app" route add 198.18.64.0/24 dev "$dev"
  ip -n "$app" route add fd00:64::/64 dev "$dev"

  check "[$mode] ping 198.18.64.7 (5/5 within 10 s)" \
    ip netns exec "$app" ping -n -q -c 5 -i 0.2 -w 10 198.18.64.7
  check "[$mode] ping -6 fd00:64::7 (5/5 within 10 s)" \
    ip netns exec "$app" ping -6 -n -q -c 5 -i 0.2 -w 10 fd00:64::7
  check "[$mode] UDP/IPv4 round trips 200/200" \
    ip netns exec "$app" python3 "$CLIENT" check --family 4 --dst 198.18.64.9 --port 7 --count 200 --size 200
  check "[$mode] UDP/IPv6 round trips 200/200" \
    ip netns exec "$app" python3 "$CLIENT" check --family 6 --dst fd00:64::9 --port 7 --count 200 --size 1300
  local burst_json
  burst_json=$(ip netns exec "$app" python3 "$CLIENT" burst --family 4 --dst 198.18.64.10 --port 9 \
    --count "$BURST" --size 64 --deadline 40)
  echo "    burst: $burst_json"
  local sent received bad
  read -r sent received bad < <(python3 -c 'import json,sys; d = json.loads(sys.argv[1]); print(d["sent"], d["received"], d["bad"])' "$burst_json")
  check "[$mode] burst: all $BURST datagrams sent" eq "$sent" "$BURST"
  check "[$mode] burst: echoes came back unaltered (bad=0)" eq "$bad" 0
  check "[$mode] burst: at least half came back ($received)" ge "$((received * 2))" "$sent"

  sleep 0.5
  kill -TERM "$pid"
  local rc=0
  wait "$pid" || rc=$?
  check "[$mode] SIGTERM: tun_echo exited 0" eq "$rc" 0
  [ "$rc" -eq 0 ] || cat "$tmp/echo-$mode.err"

  # Counters of the program, among themselves.
  local c
  declare -A v
  for c in tun_rx_packets tun_rx_dropped_shutdown tun_rx_errors tun_tx_queued tun_tx_packets \
           tun_tx_short_writes tun_tx_errors tun_tx_dropped_queue_full tun_tx_dropped_invalid \
           tun_io_errors tun_rx_pool_exhausted timer_fires echo_echoed echo_rejected echo_not_ip \
           echo_icmp_replies echo_timer_ticks loop_in_flight_after_run pool_blocks_out; do
    v[$c]=$(counter "$out" "$c")
  done
  echo "    counters: $(tr '\n' ' ' <"$out")"
  check "[$mode] rx = echoed + rejected + not_ip + dropped at shutdown" \
    eq "${v[tun_rx_packets]}" "$((v[echo_echoed] + v[echo_rejected] + v[echo_not_ip] + v[tun_rx_dropped_shutdown]))"
  check "[$mode] every echo accepted by write_tun was queued" eq "${v[echo_echoed]}" "${v[tun_tx_queued]}"
  check "[$mode] queued = written + short + failed" \
    eq "${v[tun_tx_queued]}" "$((v[tun_tx_packets] + v[tun_tx_short_writes] + v[tun_tx_errors]))"
  check "[$mode] rejected writes were counted as drops" \
    eq "${v[echo_rejected]}" "$((v[tun_tx_dropped_queue_full] + v[tun_tx_dropped_invalid]))"
  check "[$mode] io_errors = rx_errors + tx_errors" \
    eq "${v[tun_io_errors]}" "$((v[tun_rx_errors] + v[tun_tx_errors]))"
  check "[$mode] ICMP echo requests answered (>= 10)" ge "${v[echo_icmp_replies]}" 10
  check "[$mode] rx covers pings + UDP + the echoed burst" \
    ge "${v[tun_rx_packets]}" "$((10 + 400 + received))"
  check "[$mode] timer ticked (>= 5) and every fire reached the handler" \
    bash -c "[ '${v[timer_fires]}' -ge 5 ] && [ '${v[timer_fires]}' = '${v[echo_timer_ticks]}' ]"
  check "[$mode] nothing left in flight; every buffer back in the pool" \
    bash -c "[ '${v[loop_in_flight_after_run]}' = 0 ] && [ '${v[pool_blocks_out]}' = 0 ]"

  # ...and against the kernel's view of the same interface (it persists after tun_echo exited):
  # TX = packets the kernel handed to our reads, RX = our writes it accepted.
  local k_tx k_rx k_txdrop k_rxdrop
  read -r k_tx k_rx k_txdrop k_rxdrop < <(kstats "$app" "$dev")
  check "[$mode] kernel TX packets == tun_rx_packets" eq "$k_tx" "${v[tun_rx_packets]}"
  check "[$mode] kernel RX packets == tun_tx_packets" eq "$k_rx" "${v[tun_tx_packets]}"
  echo "    kernel: tx_dropped=$k_txdrop (queue full before our reads) rx_dropped=$k_rxdrop"
  if [ "$mode" = reads ]; then
    check "[$mode] a starved pool was counted, and the loop kept going" ge "${v[tun_rx_pool_exhausted]}" 1
  fi
  ip -n "$app" link del dev "$dev"
}

run_scenario multishot
# A pool of 40 small blocks against 64 reads: allocation fails all the time; reads must go on.
run_scenario reads --pool-kb 80

finish
