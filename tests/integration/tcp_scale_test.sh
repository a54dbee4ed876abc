#!/usr/bin/env bash
# Many TCP connections at once through tunstackd: TCP_SCALE_CONNS (default 10,000) connections
# from the app namespace are all open at the same time, each echoes a message through the daemon,
# then all close cleanly (FIN both ways). No connection may be dropped (the daemon's counters must
# show exactly one passive open, one established connection and one outbound connect per
# connection), every one must be gone afterwards, and the daemon's memory per open connection is
# printed (RSS from /proc; only a generous sanity bound is asserted).
# Usage: tcp_scale_test.sh TUNSTACKD
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
require_root
TUNSTACKD=$1
source "$here/gateway_env.sh"
TOOL="$here/tcp_tool.py"
T=$(ts_tmp)
N=${TCP_SCALE_CONNS:-10000}
WINDOW=${TCP_SCALE_WINDOW:-256}  # connects in flight at once (the daemon's SYN queue holds 1024)
t_start=$SECONDS

rss_kb() { awk '/^VmRSS/ { print $2 }' "/proc/$GW_PID/status"; }
listening() { srv ss -Hltn "sport = :$1" | grep -q .; }
tcp_idle() { [ "$(counter tcp_active)" -eq 0 ]; }

gw_up --log-level warn
# The server accepts N connections at once: a deep accept queue in its own namespace only.
srv sysctl -qw net.core.somaxconn=16384
srv sysctl -qw net.ipv4.tcp_max_syn_backlog=16384
spawn "$NS_SRV" python3 "$TOOL" serve --bind 198.19.0.2:5002 --backlog 16384 \
  --log "$T/srv.log" --ready "$T/srv.ready"
wait_for 30 test -e "$T/srv.ready"
wait_for 30 listening 5002
echo "daemon RLIMIT_NOFILE: $(awk '/^Max open files/ { print $4, "(soft)", $5, "(hard)" }' "/proc/$GW_PID/limits")"

fresh_stats
rss_before=$(rss_kb)
opens_before=$(counter tcp_passive_opens)
est_before=$(counter tcp_established)
conn_before=$(counter direct_streams_connected)

# The app: N connections (the tool lifts its own RLIMIT_NOFILE to the hard limit, 20000 here).
t0=$SECONDS
spawn "$NS_APP" timeout 300 python3 "$TOOL" many --to 198.19.0.2:5002 --count "$N" \
  --window "$WINDOW" --timeout 150 --progress 2000 --ready "$T/open" --release "$T/release" \
  --hold 120 >"$T/many.out" 2>&1
MANY_PID=$SPAWNED_PID
wait_for 200 test -e "$T/open" || echo "the app never reported its connections open"
t_open=$((SECONDS - t0))
cat "$T/many.out"
many_lines=$(wc -l <"$T/many.out")
fresh_stats
snapshot
rss_open=$(rss_kb)
srv_open=$(srv ss -Htn state established "sport = :5002" | wc -l)
echo "open: app $(cat "$T/open" 2>/dev/null || echo '?') of $N after ${t_open} s; server has $srv_open established;" \
  "daemon tcp_active $(snap tcp_active), direct_streams_active $(snap direct_streams_active)"
check "all $N connections open at once (app)" test "$(cat "$T/open" 2>/dev/null || echo 0)" -eq "$N"
check "all $N connections established at the server" test "$srv_open" -eq "$N"
check "daemon holds $N connections" test "$(snap tcp_active)" -eq "$N"
check "daemon holds $N outbound streams" test "$(snap direct_streams_active)" -eq "$N"
check "no half-open connection left" test "$(snap tcp_half_open)" -eq 0

touch "$T/release"
t0=$SECONDS
rc=0
wait "$MANY_PID" || rc=$?
t_close=$((SECONDS - t0))
tail -n +$((many_lines + 1)) "$T/many.out"
check "every connection echoed, then closed cleanly (app tool exit $rc)" test "$rc" -eq 0
# Every connection must be gone afterwards (TIME-WAIT is 2 s). A connection whose last ACK was
# lost waits for its FIN's retransmission timeout, which the overload of the opening phase may
# have stretched to many seconds (RTT samples of seconds): allow for that, and print the time.
t0=$SECONDS
wait_for 90 tcp_idle || true
t_drain=$((SECONDS - t0))
echo "tcp_active reached $(counter tcp_active) ${t_drain} s after the app closed"
if [ "$(counter tcp_active)" -ne 0 ] || [ "$t_drain" -gt 10 ]; then
  echo "sockets not in TIME-WAIT: daemon's (gw ns), then the app's:"
  ip netns exec "$NS_GW" ss -tano exclude time-wait | head -10
  app ss -tano exclude time-wait | head -10
fi
fresh_stats
snapshot
rss_after=$(rss_kb)

opens=$(( $(snap tcp_passive_opens) - opens_before ))
est=$(( $(snap tcp_established) - est_before ))
conn=$(( $(snap direct_streams_connected) - conn_before ))
for c in tcp_passive_opens tcp_established tcp_closed tcp_drop_half_open_full tcp_drop_table_full \
         tcp_drop_syn_pending tcp_retransmits tcp_rst_in tcp_rst_out_no_connection \
         direct_streams_opened direct_streams_connected direct_streams_open_failed \
         direct_streams_reset tcp_active tcp_half_open direct_streams_active; do
  printf '  %-28s %s\n' "$c" "$(snap "$c")"
done
check "passive opens == $N (no drops)" test "$opens" -eq "$N"
check "established == $N" test "$est" -eq "$N"
check "outbound connected == $N" test "$conn" -eq "$N"
check "no outbound connect failed" test "$(( $(snap direct_streams_open_failed) + $(snap direct_streams_refused) + $(snap direct_streams_unreachable) ))" -eq 0
check "no connection reset" test "$(( $(snap tcp_rst_in) + $(snap direct_streams_reset) ))" -eq 0
check "every connection closed" test "$(snap tcp_closed)" -eq "$(snap tcp_passive_opens)"
check "tcp_active back to 0" test "$(snap tcp_active)" -eq 0
check "no outbound stream left" test "$(snap direct_streams_active)" -eq 0
echo "app TUN tx_dropped (kernel queue full, counted by the app's kernel): $(app cat /sys/class/net/ts0/statistics/tx_dropped)"
check "server log has no failures" bash -c "! grep -E 'FAIL|error' '$T/srv.log'"

per_conn=$(( (rss_open - rss_before) * 1024 / N ))
echo "tunstackd RSS: before ${rss_before} kB, with $N open ${rss_open} kB, after ${rss_after} kB;" \
  "$per_conn bytes per connection"
check "memory per connection sane (< 64 KiB)" test "$per_conn" -lt 65536
check "daemon still running" kill -0 "$GW_PID"

kill -TERM "$GW_PID"
check "SIGTERM stops tunstackd cleanly" wait "$GW_PID"
echo "timings: open ${t_open} s, close ${t_close} s, total $((SECONDS - t_start)) s"
finish
