#!/usr/bin/env bash
# TCP through tunstackd's fault injector: byte-exact bulk transfers each way, IPv4 and IPv6, with
# loss, reordering, duplication and delay in both directions (--impair-rx: app -> stack,
# --impair-tx: stack -> app). The app's kernel repairs what is lost on the way in; the stack's
# own retransmission repairs what is lost on the way out. Prints throughput per transfer and the
# retransmission counters of both sides.
# Usage: tcp_impair_test.sh TUNSTACKD
# Environment: TCP_IMPAIR_BYTES (per transfer; default 8 MiB, 4 transfers),
#   TCP_IMPAIR_RX / TCP_IMPAIR_TX (the specs), TCP_IMPAIR=off (same transfers, injector off: a
#   baseline, or a daemon built before the injector existed).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
require_root
TUNSTACKD=$1
source "$here/gateway_env.sh"
TOOL="$here/tcp_tool.py"
T=$(ts_tmp)
MB=$((1 << 20))
BYTES=${TCP_IMPAIR_BYTES:-$((8 * MB))}
RX_SPEC=${TCP_IMPAIR_RX:-"loss=2% reorder=25% dup=1% delay=10ms seed=1"}
TX_SPEC=${TCP_IMPAIR_TX:-"loss=2% reorder=25% dup=1% delay=10ms seed=2"}
t_start=$SECONDS

impair=(--impair-rx "$RX_SPEC" --impair-tx "$TX_SPEC")
if [ "${TCP_IMPAIR:-on}" = off ]; then
  impair=()
  echo "NOTE: injector off (TCP_IMPAIR=off): a baseline without impairment"
elif ! "$TUNSTACKD" --help | grep -q -- '--impair-rx'; then
  echo "SKIP: this tunstackd has no --impair-rx / --impair-tx (run with TCP_IMPAIR=off for a baseline)"
  exit 77
else
  echo "impairment: rx (app -> stack) '$RX_SPEC'; tx (stack -> app) '$TX_SPEC'"
fi
how=$([ ${#impair[@]} -gt 0 ] && echo "through loss/reorder/dup/delay" || echo "(injector off)")

tcp_idle() { [ "$(counter tcp_active)" -eq 0 ]; }
app_mib() { app nstat -az "$1" | awk -v n="$1" '$1 == n { print $2 }'; }  # the app kernel's MIB

gw_up --log-level warn "${impair[@]}"
spawn "$NS_SRV" python3 "$TOOL" serve --bind 198.19.0.2:5001 --bind '[fd00:19::2]:5001' \
  --log "$T/srv.log" --ready "$T/srv.ready"
wait_for 30 test -e "$T/srv.ready"

xfer() {  # xfer send|recv DST SEED: one transfer of BYTES, byte-exact, bounded in time
  local t0=$SECONDS
  app timeout 240 python3 "$TOOL" "$1" --to "$2" --bytes "$BYTES" --seed "$3" --timeout 60 | sed 's/^/     /'
  local rc=${PIPESTATUS[0]}
  echo "     ($1 $2: $((SECONDS - t0)) s)"
  return "$rc"
}
echo "transfers of $BYTES bytes"
check "upload byte-exact $how (IPv4)" xfer send 198.19.0.2:5001 31
check "download byte-exact $how (IPv4)" xfer recv 198.19.0.2:5001 32
check "upload byte-exact $how (IPv6)" xfer send '[fd00:19::2]:5001' 33
check "download byte-exact $how (IPv6)" xfer recv '[fd00:19::2]:5001' 34

wait_for 20 tcp_idle || true
fresh_stats
snapshot
echo "stack (stack -> app direction) and the app's kernel (app -> stack direction):"
for c in tcp_retransmits tcp_fast_retransmits tcp_rto_expired tcp_dup_acks_in tcp_ooo_segments \
         tcp_dsacks_sent tcp_drop_out_of_window tcp_drop_reassembly_full tcp_bytes_in tcp_bytes_out \
         tcp_passive_opens tcp_established tcp_closed tcp_rst_in tcp_active; do
  printf '  %-28s %s\n' "$c" "$(snap "$c")"
done
for m in TcpRetransSegs TcpExtTCPSACKReneging TcpExtTCPDSACKRecv TcpExtTCPTimeouts TcpOutRsts; do
  printf '  %-36s %s\n' "app kernel $m" "$(app_mib "$m")"
done
printf '  %-28s %s\n' "app TUN tx_dropped" "$(app cat /sys/class/net/ts0/statistics/tx_dropped)"
echo "injector:"
grep -E '^tunstack_[a-z_]*impair' "$(ts_tmp)/snap.prom" | sed 's/^tunstack_/  /' || echo "  (no impair counters exported)"
impair_sum() {  # impair_sum WORD: total of the injector's counters whose name contains WORD
  awk -v w="$1" '$1 ~ /^tunstack_[a-z_]*impair/ && $1 ~ w { s += $2 } END { print s + 0 }' "$(ts_tmp)/snap.prom"
}

check "4 connections, all established and closed" \
  test "$(snap tcp_passive_opens)-$(snap tcp_established)-$(snap tcp_closed)" = "4-4-4"
# No check on tcp_rst_in: a duplicated or delayed segment that reaches the app after its socket
# is gone (it closed second, so it keeps no TIME-WAIT) is answered with a RST, legitimately; a
# reset during a transfer fails that transfer's byte-exact check above.
check "tcp_active back to 0" test "$(snap tcp_active)" -eq 0
if [ ${#impair[@]} -gt 0 ]; then
  check "the injector dropped packets" test "$(impair_sum loss)" -gt 0
  check "the injector reordered packets" test "$(impair_sum reorder)" -gt 0
  check "the injector duplicated packets" test "$(impair_sum dup)" -gt 0
  check "the stack retransmitted what was lost toward the app" test "$(snap tcp_retransmits)" -gt 0
  check "the stack saw out-of-order segments from the app" test "$(snap tcp_ooo_segments)" -gt 0
  # A receiver may discard data it has SACKed (RFC 2018 §8), but Linux treats that as reneging:
  # it forgets every SACK, waits for a timeout and resends the whole window. Under reordering
  # the stack must keep what it SACKed.
  check "the stack never reneged on SACKed data (app kernel TCPSACKReneging == 0)" \
    test "$(app_mib TcpExtTCPSACKReneging)" -eq 0
fi
check "server log has no failures" bash -c "! grep -E 'FAIL|error' '$T/srv.log'"

kill -TERM "$GW_PID"
check "SIGTERM stops tunstackd cleanly" wait "$GW_PID"
echo "tcp_impair total: $((SECONDS - t_start)) s"
finish
