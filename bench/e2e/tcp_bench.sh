#!/usr/bin/env bash
# End-to-end TCP benchmark: the same workloads, in one run, through
#   (a) tunstackd   app ns --TUN--> tunstackd in gateway ns --kernel sockets--> server ns
#   (b) the kernel  app ns --veth--> gateway ns (ip_forward=1, no TUN) --veth--> server ns
# each measured R times, interleaved (a, b, a, b, ...) so that machine noise hits both. Reports
# min / median / max per workload and the tunstack/kernel ratio of medians as a markdown table on
# stdout, plus raw.csv, results.csv, results.md (and results.png when matplotlib is installed) in
# the output directory. Workloads: iperf3 up/down with 1 and 4 streams; connections per second
# (bench/e2e/conn_tool.py); tunstackd's RSS per idle established connection; tunstackd's CPU per
# GB moved. See bench/e2e/README.md.
#
# Safety: namespaces only (tests/integration/lib.sh tears them down on any exit), addresses only
# in 198.18.0.0/15, no default route and no route off the machine, processes ended by their PIDs.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
integration="$here/../../tests/integration"

usage() {
  cat <<EOF
usage: $0 [options]
  -r, --runs R             measurements per workload and path (default 3)
  -t, --seconds S          length of each iperf3 and connections/s run (default 5)
  -o, --out DIR            output directory (default /tmp/tcp_bench_out)
  -c, --concurrency C      connections in flight in the connections/s test (default 8)
  -n, --mem-conns N        idle connections for the memory test, 0 skips it (default 10000)
  -m, --mem-used-conns M   connections that exchanged one byte each way, then idle (default 1000;
                           0 skips)
  -w, --workloads LIST     comma list of iperf_up_1,iperf_down_1,iperf_up_4,iperf_down_4,cps
                           (default all)
  -b, --tunstackd PATH     the daemon (default \$TUNSTACKD or /tmp/bench/build/tools/tunstackd)
  -l, --log-level LEVEL    tunstackd --log-level (default info)
EOF
}

RUNS=3
SECS=5
OUT=/tmp/tcp_bench_out
CONC=8
MEM_N=10000
MEM_USED_N=1000
WORKLOADS=iperf_up_1,iperf_down_1,iperf_up_4,iperf_down_4,cps
DAEMON=${TUNSTACKD:-/tmp/bench/build/tools/tunstackd}
LOG_LEVEL=info
while [ $# -gt 0 ]; do
  case $1 in
    -r|--runs) RUNS=$2; shift 2 ;;
    -t|--seconds) SECS=$2; shift 2 ;;
    -o|--out) OUT=$2; shift 2 ;;
    -c|--concurrency) CONC=$2; shift 2 ;;
    -n|--mem-conns) MEM_N=$2; shift 2 ;;
    -m|--mem-used-conns) MEM_USED_N=$2; shift 2 ;;
    -w|--workloads) WORKLOADS=$2; shift 2 ;;
    -b|--tunstackd) DAEMON=$2; shift 2 ;;
    -l|--log-level) LOG_LEVEL=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown option: $1" >&2; usage >&2; exit 2 ;;
  esac
done
for v in RUNS SECS CONC MEM_N MEM_USED_N; do
  [[ ${!v} =~ ^[0-9]+$ ]] || { echo "$v must be a whole number (got '${!v}')" >&2; exit 2; }
done
if [ "$RUNS" -lt 1 ] || [ "$RUNS" -gt 50 ]; then echo "--runs must be 1..50" >&2; exit 2; fi
if [ "$SECS" -lt 1 ] || [ "$SECS" -gt 120 ]; then echo "--seconds must be 1..120" >&2; exit 2; fi
[ -x "$DAEMON" ] || { echo "no tunstackd at '$DAEMON' (build it, or pass --tunstackd)" >&2; exit 2; }
command -v iperf3 >/dev/null || { echo "iperf3 is not installed (apt-get install iperf3)" >&2; exit 2; }
PY=$(command -v python3) || { echo "python3 is not installed" >&2; exit 2; }
TOOL="$here/conn_tool.py"

# shellcheck source=../../tests/integration/lib.sh
source "$integration/lib.sh"   # namespaces, spawn, wait_for, cleanup on exit (trap)
require_root
TUNSTACKD=$(readlink -f "$DAEMON")
# shellcheck source=../../tests/integration/gateway_env.sh
source "$integration/gateway_env.sh"   # gw_up, counter, app, srv
T=$(ts_tmp)

mkdir -p "$OUT/json"
rm -f "$OUT"/{raw.csv,counters.csv,mem.csv,header.md,results.csv,results.md,results.png} \
      "$OUT"/{commands.log,tunstackd.log,stats_final.prom} "$OUT"/json/*.json "$OUT"/json/*.err
echo "run,workload,path,value,unit,cpu_s,amount,extra" > "$OUT/raw.csv"
echo "run,workload,counter,delta" > "$OUT/counters.csv"
echo "key,value" > "$OUT/mem.csv"

note() { echo "[$(date +%H:%M:%S)] $*" >&2; }
# log_cmd CMD...: remember a command line exactly as it ran (the report lists each one once).
log_cmd() {
  local line
  line=$(printf '%q ' "$@")
  echo "${line//${TS_ID}-/}" >> "$OUT/commands.log"   # namespaces by role: app, srv, kapp...
}

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
START_DATE=$(date -u +%Y-%m-%dT%H:%M:%SZ)
CLK_TCK=$(getconf CLK_TCK)

# ---- (a) tunstackd: the shared three-namespace topology --------------------------------------
note "starting tunstackd topology"
log_cmd "$TUNSTACKD" --tun ts0 --stats-file STATS --stats-interval 100ms --log-level "$LOG_LEVEL"
gw_up --log-level "$LOG_LEVEL" >>"$OUT/tunstackd.log" 2>&1 || { echo "gw_up failed"; cat "$OUT/tunstackd.log"; exit 1; }
[ "$(cat /proc/"$GW_PID"/comm)" = tunstackd ] || { echo "PID $GW_PID is not tunstackd"; exit 1; }

# ---- (b) the kernel's forwarding path, same shape, no TUN ------------------------------------
note "starting kernel-forwarding topology"
ns_add kapp NS_KAPP
ns_add kgw NS_KGW
ns_add ksrv NS_KSRV
veth_pair "$NS_KAPP" kapp0 198.18.1.2/24 "$NS_KGW" kgw0 198.18.1.1/24
veth_pair "$NS_KGW" kgw1 198.19.1.1/24 "$NS_KSRV" ksrv0 198.19.1.2/24
ip netns exec "$NS_KGW" sysctl -qw net.ipv4.ip_forward=1
# Routes to the other side only (no default route: nothing can leave the machine).
ip -n "$NS_KAPP" route add 198.19.1.0/24 via 198.18.1.1
ip -n "$NS_KSRV" route add 198.18.1.0/24 via 198.19.1.1

# Read by path name through ${!var}.
# shellcheck disable=SC2034
declare DST_tunstack=198.19.0.2 DST_kernel=198.19.1.2 CLI_NS_tunstack=$NS_APP CLI_NS_kernel=$NS_KAPP

# ---- servers: iperf3 and conn_tool in both server namespaces ---------------------------------
listening() { ip netns exec "$1" ss -Hltn "sport = :$2" | grep -q .; }
for path in tunstack kernel; do
  if [ $path = tunstack ]; then sns=$NS_SRV; else sns=$NS_KSRV; fi
  dst_var=DST_$path
  # 10000 idle connections queue up faster than a python accept loop drains them.
  ip netns exec "$sns" sysctl -qw net.core.somaxconn=8192 net.ipv4.tcp_max_syn_backlog=8192
  log_cmd ip netns exec "$sns" iperf3 -s -B "${!dst_var}" -p 5201
  spawn "$sns" iperf3 -s -B "${!dst_var}" -p 5201 > "$OUT/iperf3_server.$path.log" 2>&1
  log_cmd ip netns exec "$sns" "$PY" "$TOOL" serve --bind "${!dst_var}:7000" --ready READY
  spawn "$sns" "$PY" "$TOOL" serve --bind "${!dst_var}:7000" --ready "$T/serve.$path.ready" \
    > "$OUT/conn_server.$path.log" 2>&1
  wait_for 15 listening "$sns" 5201 || { echo "iperf3 server did not start ($path)"; exit 1; }
  wait_for 15 test -e "$T/serve.$path.ready" || { echo "conn_tool server did not start ($path)"; exit 1; }
done

# ---- helpers ---------------------------------------------------------------------------------
# ts0_dropped: packets the app's kernel dropped on the TUN (its queue full: the daemon read too late).
ts0_dropped() { ip -n "$NS_APP" -s link show ts0 | awk '/TX:/ { getline; print $4 }'; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$GW_PID/stat"; }
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$GW_PID/status"; }
daemon_alive() {
  if ! kill -0 "$GW_PID" 2>/dev/null; then
    echo "tunstackd (PID $GW_PID) died; its log:"; tail -50 "$OUT/tunstackd.log"; exit 1
  fi
}
# The counters whose growth during a clean run means loss, drops, stalls or errors.
WATCH='retransmit|rto_expired|drop|exhausted|dropped|refused|error|stall|rst_|short_writes|sq_full|challenge|dup_acks|ooo|persist|connect_failed|oversize|unreachable|failed|denied'
stats_copy() { sleep 0.35; cp "$GW_STATS" "$1"; }   # the daemon rewrites it every 100 ms
counter_deltas() {  # counter_deltas RUN WORKLOAD BEFORE AFTER: append the watched ones that moved
  awk -v run="$1" -v wl="$2" -v re="$WATCH" '
    NR == FNR { before[$1] = $2; next }
    $1 ~ re && $2 != before[$1] {
      delta = $2 - before[$1]; name = $1; sub(/^tunstack_/, "", name)
      printf "%s,%s,%s,%d\n", run, wl, name, delta
    }
  ' "$3" "$4" >> "$OUT/counters.csv"
}

# parse_iperf FILE: prints "Gbit/s,bytes,extra" from iperf3 -J output, or "nan,0,error=..."
parse_iperf() {
  "$PY" - "$1" <<'PY'
import json, sys
try:
    d = json.load(open(sys.argv[1]))
except Exception as e:  # empty or cut output (timeout)
    print(f"nan,0,error=bad json ({type(e).__name__})"); sys.exit()
if d.get("error"):
    print("nan,0,error=" + d["error"].replace(",", " ").replace(";", " ")); sys.exit()
end = d["end"]
rx, tx = end["sum_received"], end["sum_sent"]
ints = [i["sum"]["bits_per_second"] / 1e9 for i in d.get("intervals", []) if i["sum"].get("seconds", 0) > 0.5]
extra = [f"sender_retransmits={tx.get('retransmits', 'n/a')}"]
if ints:
    extra.append(f"min_interval_gbps={min(ints):.3f}")
print(f"{rx['bits_per_second'] / 1e9:.4f},{rx['bytes']},{';'.join(extra)}")
PY
}

# measure RUN WORKLOAD PATH: one measurement, appended to raw.csv.
measure() {
  local run=$1 wl=$2 path=$3 ns_var=CLI_NS_$3 dst_var=DST_$3 cmd args=() unit
  local ns=${!ns_var} dst=${!dst_var}
  case $wl in
    iperf_up_1) args=() ;;
    iperf_down_1) args=(-R) ;;
    iperf_up_4) args=(-P 4) ;;
    iperf_down_4) args=(-R -P 4) ;;
  esac
  local base="$OUT/json/$wl.$path.run$run"
  if [ "$wl" = cps ]; then
    unit="conn/s"
    cmd=(ip netns exec "$ns" timeout $((SECS + 30)) "$PY" "$TOOL" cps --dst "$dst:7000"
         --concurrency "$CONC" --duration "$SECS")
  else
    unit="Gbit/s"
    cmd=(ip netns exec "$ns" timeout $((SECS + 30)) iperf3 -c "$dst" -p 5201 -t "$SECS" -J
         --connect-timeout 3000 "${args[@]}")
  fi
  log_cmd "${cmd[@]}"
  local c0=0 c1=0
  local d0=0 d1=0
  if [ "$path" = tunstack ]; then stats_copy "$T/before.prom"; d0=$(ts0_dropped); c0=$(cpu_ticks); fi
  "${cmd[@]}" > "$base.json" 2> "$base.err" || true
  if [ "$path" = tunstack ]; then
    c1=$(cpu_ticks); d1=$(ts0_dropped); stats_copy "$T/after.prom"
    counter_deltas "$run" "$wl" "$T/before.prom" "$T/after.prom"
    daemon_alive
  fi
  local cpu_s="" value amount extra
  [ "$path" = tunstack ] && cpu_s=$(awk -v a="$c0" -v b="$c1" -v h="$CLK_TCK" 'BEGIN { printf "%.2f", (b - a) / h }')
  if [ "$wl" = cps ]; then
    IFS=, read -r value amount extra < <("$PY" - "$base.json" <<'PY'
import json, sys
try:
    d = json.load(open(sys.argv[1]))
except Exception as e:
    print(f"nan,0,error=bad json ({type(e).__name__})"); sys.exit()
errs = "+".join(f"{k}:{v}" for k, v in sorted(d["errors"].items())) or "0"
print(f"{d['rate']:.1f},{d['conns']},p50_ms={d['lat_ms_p50']};p99_ms={d['lat_ms_p99']};errors={errs}")
PY
)
  else
    IFS=, read -r value amount extra < <(parse_iperf "$base.json")
  fi
  [ "$path" = tunstack ] && extra="$extra;app_ts0_tx_dropped=$((d1 - d0))"
  echo "$run,$wl,$path,$value,$unit,$cpu_s,$amount,$extra" >> "$OUT/raw.csv"
  note "run $run $wl $path: $value $unit${cpu_s:+ (tunstackd CPU ${cpu_s}s)} $extra"
}

# ---- sanity: each path carries a request before anything is measured --------------------------
for path in tunstack kernel; do
  ns_var=CLI_NS_$path dst_var=DST_$path
  if ! ip netns exec "${!ns_var}" timeout 20 "$PY" "$TOOL" cps --dst "${!dst_var}:7000" --concurrency 1 \
       --duration 1 > "$T/sanity.$path.json" || ! grep -q '"conns": [1-9]' "$T/sanity.$path.json"; then
    echo "sanity check failed on the $path path:"; cat "$T/sanity.$path.json"; tail -20 "$OUT/tunstackd.log"; exit 1
  fi
done

# ---- memory: first, on the fresh daemon --------------------------------------------------------
wait_gauge() {  # wait_gauge NAME OP VALUE SECONDS: until tunstack_NAME OP VALUE
  local end=$((SECONDS + $4))
  until test "$(counter "$1")" "$2" "$3"; do
    [ $SECONDS -ge $end ] && return 1
    sleep 0.2
  done
}
mem_row() { echo "$1,$2" >> "$OUT/mem.csv"; }
# mem_test LABEL COUNT [--exchange]
mem_test() {
  local label=$1 n=$2; shift 2
  wait_gauge tcp_active -eq 0 30 || note "tcp_active is $(counter tcp_active) before the memory test"
  sleep 0.5
  local rss0 rss1 rss2 open buf0 buf1 pool0 pool1
  rss0=$(rss_kb); buf0=$(awk '$1 ~ /tcp_buffer_bytes/ { print $2 }' "$GW_STATS"); pool0=$(counter pool_bytes_out)
  rm -f "$T/hold.json" "$T/hold.stop"
  local d0; d0=$(ts0_dropped); cp "$GW_STATS" "$T/mem_before.prom"
  log_cmd ip netns exec "$NS_APP" "$PY" "$TOOL" hold --dst "$DST_tunstack:7000" --count "$n" "$@" --ready READY --stop STOP
  spawn "$NS_APP" "$PY" "$TOOL" hold --dst "$DST_tunstack:7000" --count "$n" "$@" \
    --ready "$T/hold.json" --stop "$T/hold.stop"
  local hold_pid=$SPAWNED_PID
  if ! wait_for 240 test -s "$T/hold.json"; then
    note "hold client ($label) did not report"; touch "$T/hold.stop"; return 0
  fi
  open=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["open"])' "$T/hold.json")
  wait_gauge tcp_active -ge "$open" 30 || note "tcp_active only reached $(counter tcp_active) of $open"
  sleep 1
  rss1=$(rss_kb); buf1=$(awk '$1 ~ /tcp_buffer_bytes/ { print $2 }' "$GW_STATS"); pool1=$(counter pool_bytes_out)
  local active; active=$(counter tcp_active)
  touch "$T/hold.stop"
  wait_for 30 bash -c "! kill -0 $hold_pid" || note "hold client did not exit"
  wait_gauge tcp_active -eq 0 60 || note "tcp_active still $(counter tcp_active) 60 s after the close"
  sleep 0.5
  rss2=$(rss_kb)
  stats_copy "$T/mem_after.prom"
  counter_deltas - "memory: $label: open+hold+close" "$T/mem_before.prom" "$T/mem_after.prom"
  mem_row "$label: app ts0 packets dropped (TUN queue full) over open+hold+close" "$(( $(ts0_dropped) - d0 ))"
  mem_row "$label: connections requested / open / tcp_active" "$n / $open / $active"
  mem_row "$label: hold client report" "\"$(tr -d '\n' < "$T/hold.json" | tr '"' "'")\""
  mem_row "$label: tunstackd VmRSS before (KiB)" "$rss0"
  mem_row "$label: tunstackd VmRSS with them open (KiB)" "$rss1"
  mem_row "$label: tunstackd VmRSS after they closed (KiB)" "$rss2"
  if [ "$open" -gt 0 ]; then
    mem_row "$label: RSS bytes per connection" "$(( (rss1 - rss0) * 1024 / open ))"
  fi
  mem_row "$label: pool_bytes_out before / with" "$pool0 / $pool1"
  if [ -n "$buf0$buf1" ]; then
    mem_row "$label: tcp_buffer_bytes before / with" "${buf0:-?} / ${buf1:-?}"
  else
    mem_row "$label: tcp_buffer_bytes" "not exported by this tunstackd"
  fi
  note "memory ($label): $open open, RSS ${rss0} -> ${rss1} -> ${rss2} KiB"
}
if [ "$MEM_N" -gt 0 ]; then
  note "memory test: $MEM_N idle connections"
  mem_test "idle (no data)" "$MEM_N"
fi
if [ "$MEM_USED_N" -gt 0 ]; then
  note "memory test: $MEM_USED_N connections after a 1-byte exchange"
  mem_test "idle after 1 byte each way" "$MEM_USED_N" --exchange
fi

# ---- throughput and connection rate, interleaved ----------------------------------------------
IFS=, read -r -a WL_LIST <<< "$WORKLOADS"
for wl in "${WL_LIST[@]}"; do
  case $wl in iperf_up_1|iperf_down_1|iperf_up_4|iperf_down_4|cps) ;; *) echo "unknown workload $wl"; exit 2 ;; esac
done
for path in tunstack kernel; do  # one unrecorded warm-up each, so the first run is not special
  ns_var=CLI_NS_$path dst_var=DST_$path
  ip netns exec "${!ns_var}" timeout 20 iperf3 -c "${!dst_var}" -p 5201 -t 1 >/dev/null 2>&1 || true
done
for run in $(seq 1 "$RUNS"); do
  for wl in "${WL_LIST[@]}"; do
    for path in tunstack kernel; do
      measure "$run" "$wl" "$path"
      sleep 1
    done
  done
done

# ---- report ------------------------------------------------------------------------------------
cp "$GW_STATS" "$OUT/stats_final.prom"
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
{
  echo "# tunstack end-to-end TCP benchmark"
  echo
  echo "- date: $START_DATE"
  echo "- machine: $(nproc) CPUs, kernel $(uname -r), CPU $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo), RAM $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
  echo "- load average (1/5/15 min) before: $LOAD_BEFORE; after: $LOAD_AFTER"
  echo "- tunstackd: $TUNSTACKD (sha256 $(sha256sum "$TUNSTACKD" | cut -c1-16)…, $(stat -c %y "$TUNSTACKD" | cut -d. -f1))"
  echo "- $(iperf3 --version | head -1); $("$PY" --version)"
  echo "- runs per workload and path: $RUNS, interleaved; $SECS s each; connections/s concurrency $CONC"
  echo "- (a) app ns 198.18.0.2 --TUN ts0--> tunstackd (gateway ns, kernel sockets from 198.19.0.1) --veth--> server 198.19.0.2"
  echo "- (b) app ns 198.18.1.2 --veth--> gateway ns (ip_forward=1) --veth--> server 198.19.1.2; MTU 1500 everywhere, veth offloads as the kernel sets them"
  echo
  echo "### Command lines (namespaces by role; each run's id prefix and temporary paths left out)"
  echo
  echo '```'
  awk '!seen[$0]++' "$OUT/commands.log"
  echo '```'
  echo
} > "$OUT/header.md"
"$PY" "$here/report.py" "$OUT"
grep -E ' (warning|error|critical) ' "$OUT/tunstackd.log" | head -20 | sed 's/^/tunstackd log: /' || true
echo
echo "outputs: $OUT (raw.csv results.csv results.md counters.csv mem.csv json/ tunstackd.log)"
