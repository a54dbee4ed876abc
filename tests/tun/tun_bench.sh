#!/usr/bin/env bash
# Packets per second through tun_echo (a measurement, not a test): for each receive mode, a
# namespace with the TUN, tun_blast sending 64-byte UDP datagrams for SECONDS, and the echo's own
# counters and CPU time. Needs root. Bounded: SECONDS per run (max 60), a few runs.
# Usage: tun_bench.sh BUILD_DIR [SECONDS] [RATE_PPS]   (RATE 0 = as fast as the sender can)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$here/../integration/lib.sh"
require_root
build=${1:?usage: tun_bench.sh BUILD_DIR [SECONDS] [RATE]}
secs=${2:-3}
rate=${3:-0}
ECHO="$build/tests/tun/tun_echo"
BLAST="$build/tests/tun/tun_blast"
tmp=$(ts_tmp)
n=0

bench() {  # bench MODE RX_DEPTH
  local mode=$1 depth=$2 ns dev out pid ticks0 ticks1 hz
  n=$((n + 1))
  ns_add "bench$n" >/dev/null  # in this shell (not $(...)) so that cleanup knows it
  ns="${TS_ID}-bench$n"
  dev="tb${TS_ID}$n"
  out="$tmp/echo$n.out"
  spawn "$ns" "$ECHO" --name "$dev" --up --mode "$mode" --rx-depth "$depth" --ring "$depth" \
    --tick-ms 1000 >"$out" 2>&1
  pid=$SPAWNED_PID
  wait_for 10 grep -q '^ready' "$out"
  ip -n "$ns" addr add 198.18.0.1/32 dev "$dev"
  ip -n "$ns" route add 198.18.64.0/24 dev "$dev"
  hz=$(getconf CLK_TCK)
  ticks0=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  local res
  res=$(ip netns exec "$ns" "$BLAST" --dst 198.18.64.9 --seconds "$secs" --rate "$rate")
  ticks1=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  local tun_drops
  tun_drops=$(ip -n "$ns" -s -j link show dev "$dev" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["stats64"]["tx"]["dropped"])')
  kill -TERM "$pid"
  wait "$pid" || true
  local rx batches
  rx=$(awk '$1=="tun_rx_packets"{print $2}' "$out")
  batches=$(awk '$1=="tun_rx_batches"{print $2}' "$out")
  # CPU time per packet is the steadier figure on a shared machine: rates also depend on
  # whether the echo gets scheduled before the TUN's 500-packet queue overflows.
  printf '%-9s depth=%-4s %s | echo: rx=%s avg_batch=%s cpu=%.0f%% cpu_ns_per_pkt=%.0f ring_empty=%s kernel_tun_drops=%s\n' \
    "$mode" "$depth" "$res" "$rx" "$((rx / (batches > 0 ? batches : 1)))" \
    "$(echo "($ticks1 - $ticks0) * 100 / $hz / $secs" | bc -l)" \
    "$(echo "($ticks1 - $ticks0) * 1000000000 / $hz / ($rx + 1)" | bc -l)" \
    "$(awk '$1=="tun_rx_ring_empty"{print $2}' "$out")" "$tun_drops"
}

for mode in reads multishot; do
  for depth in 64 256; do bench "$mode" "$depth"; done
done
