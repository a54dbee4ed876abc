#!/usr/bin/env bash
# tunstack's TCP sender under the fault injector, every controller and loss detection: for each
# of cubic / newreno / bbr with recovery rack, and cubic with recovery sack and newreno (the
# switches a researcher flips), a byte-exact download (our sender faces loss=1% delay=5ms both
# ways) and upload (Linux's sender does). One run also writes a trace, which is plotted with
# tools/plot/tcp_trace_plot.py: three PNGs of a real lossy connection.
# Usage: tcp_sender_matrix_test.sh TUNSTACKD
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
require_root
TUNSTACKD=$1
source "$here/gateway_env.sh"
TOOL="$here/tcp_tool.py"
PLOT="$here/../../tools/plot/tcp_trace_plot.py"
T=$(ts_tmp)
BYTES=$((2 << 20))
PROFILE="loss=1% delay=5ms"

gw_up --log-level warn
spawn "$NS_SRV" python3 "$TOOL" serve --bind 198.19.0.2:5001 --log "$T/srv.log" --ready "$T/srv.ready"
wait_for 30 test -e "$T/srv.ready"

xfer() {  # xfer send|recv SEED: one transfer of BYTES, byte-exact, bounded in time
  app timeout 120 python3 "$TOOL" "$1" --to 198.19.0.2:5001 --bytes "$BYTES" --seed "$2" --timeout 60 \
    | sed 's/^/     /'
  return "${PIPESTATUS[0]}"
}

seed=40
for combo in cubic/rack newreno/rack bbr/rack cubic/sack cubic/newreno; do
  cc=${combo%/*} rec=${combo#*/}
  extra=()
  [ "$combo" = cubic/rack ] && extra=(--trace-file "$T/trace.csv" --trace-filter "port=5001")
  gw_restart --log-level warn --tcp-cc "$cc" --tcp-recovery "$rec" \
    --impair-rx "$PROFILE seed=$seed" --impair-tx "$PROFILE seed=$((seed + 1))" "${extra[@]}"
  check "$combo: download byte-exact (our sender, $PROFILE)" xfer recv $((seed + 2))
  check "$combo: upload byte-exact (Linux's sender)" xfer send $((seed + 3))
  fresh_stats
  echo "     $combo: tcp_retransmits=$(counter tcp_retransmits) tcp_recoveries=$(counter tcp_recoveries)" \
       "tcp_rto_expired=$(counter tcp_rto_expired) tcp_lost_segments=$(counter tcp_lost_segments)"
  check "$combo: the stack repaired losses" test "$(counter tcp_retransmits)" -gt 0
  check "$combo: fast recoveries entered (losses found without waiting for the RTO)" \
    test "$(counter tcp_recoveries)" -gt 0
  [ "$combo" = cubic/rack ] && cp "$GW_STATS" "$T/trace_run.prom"
  seed=$((seed + 4))
done

# The trace of the first run: every sample row has all columns, and it plots.
gw_restart --log-level warn   # the traced daemon flushed its trace when it stopped
check "the trace has samples" test "$(wc -l < "$T/trace.csv")" -gt 100
check "trace rows have the header's column count" awk -F, 'NR == 1 { n = NF } NF != n { bad = 1 } END { exit bad }' "$T/trace.csv"
check "the trace counters moved" sh -c "awk '\$1 == \"tunstack_trace_samples\" && \$2 > 100 { ok = 1 } END { exit !ok }' '$T/trace_run.prom'"
if /usr/bin/python3 -c 'import matplotlib' 2>/dev/null; then
  check "the trace plots" "$PLOT" "$T/trace.csv" --out "$T/plots"
  for n in cwnd rtt seq; do check "plot $n.png written" test -s "$T/plots/$n.png"; done
else
  echo "NOTE: python3-matplotlib missing: the plot step is skipped"
fi
finish
