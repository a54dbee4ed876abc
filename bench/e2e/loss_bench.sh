#!/usr/bin/env bash
# Loss benchmark: tunstack's TCP sender against the Linux kernel's on the same impaired path, in
# one run. tunstackd's fault injector impairs both directions at the TUN boundary with the same
# profile; then
#   down  iperf3 -c SERVER -R  (the server's bytes reach the app through tunstack's sender)
#   up    iperf3 -c SERVER     (the app's kernel TCP sends through the same impaired TUN)
# for every profile and every congestion controller, the app's kernel socket (iperf3 -C) and tunstackd
# set to the same controller. Runs are interleaved (down, up, down, up, ...). Reports per profile and
# controller the min / median / max Mbit/s of each direction, the ratio of medians down/up, and
# min / median / max of the per-run ratios; plus tunstackd's sender counters per run.
#
# Safety: namespaces only (tests/integration/lib.sh tears them down on any exit), addresses only
# in 198.18.0.0/15, no route off the machine, processes ended by their PIDs.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
integration="$here/../../tests/integration"

usage() {
  cat <<EOF
usage: $0 [options]
  -r, --runs R          runs per profile, controller and direction (default 3)
  -t, --seconds S       length of each iperf3 run (default 6)
  -p, --profiles LIST   ';'-separated impairment profiles applied to both directions (default
                        "loss=0.1% delay=10ms;loss=1% delay=10ms;loss=5% delay=10ms;loss=1% reorder=25% delay=10ms")
  -c, --cc LIST         comma list of controllers, each set on both sides (default cubic,bbr)
  -x, --extra FLAGS     extra tunstackd flags for every run (e.g. "--tcp-recovery sack")
  -o, --out DIR         output directory (default /tmp/loss_bench_out)
  -b, --tunstackd PATH  the daemon (default \$TUNSTACKD or build-rel/tools/tunstackd)
EOF
}

RUNS=3
SECS=6
PROFILES="loss=0.1% delay=10ms;loss=1% delay=10ms;loss=5% delay=10ms;loss=1% reorder=25% delay=10ms"
CCS=cubic,bbr
EXTRA=""
OUT=/tmp/loss_bench_out
DAEMON=${TUNSTACKD:-$here/../../build-rel/tools/tunstackd}
while [ $# -gt 0 ]; do
  case $1 in
    -r|--runs) RUNS=$2; shift 2 ;;
    -t|--seconds) SECS=$2; shift 2 ;;
    -p|--profiles) PROFILES=$2; shift 2 ;;
    -c|--cc) CCS=$2; shift 2 ;;
    -x|--extra) EXTRA=$2; shift 2 ;;
    -o|--out) OUT=$2; shift 2 ;;
    -b|--tunstackd) DAEMON=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown option: $1" >&2; usage >&2; exit 2 ;;
  esac
done
[[ $RUNS =~ ^[0-9]+$ ]] && [ "$RUNS" -ge 1 ] && [ "$RUNS" -le 50 ] || { echo "--runs must be 1..50" >&2; exit 2; }
[[ $SECS =~ ^[0-9]+$ ]] && [ "$SECS" -ge 1 ] && [ "$SECS" -le 120 ] || { echo "--seconds must be 1..120" >&2; exit 2; }
[ -x "$DAEMON" ] || { echo "no tunstackd at '$DAEMON' (build it, or pass --tunstackd)" >&2; exit 2; }
command -v iperf3 >/dev/null || { echo "iperf3 is not installed" >&2; exit 2; }
PY=$(command -v python3) || { echo "python3 is not installed" >&2; exit 2; }

# shellcheck source=../../tests/integration/lib.sh
source "$integration/lib.sh"
require_root
TUNSTACKD=$(readlink -f "$DAEMON")
# shellcheck source=../../tests/integration/gateway_env.sh
source "$integration/gateway_env.sh"
IFS=',' read -r -a cc_list <<< "$CCS"
# kernel_cc NAME: the kernel's name for one of tunstack's controllers (its newreno is "reno").
kernel_cc() { if [ "$1" = newreno ]; then echo reno; else echo "$1"; fi; }
for cc in "${cc_list[@]}"; do
  "$TUNSTACKD" --tcp-cc "$cc" --help >/dev/null 2>&1 || { echo "tunstackd does not know --tcp-cc $cc" >&2; exit 2; }
  modprobe -q "tcp_$(kernel_cc "$cc")" 2>/dev/null || true
  grep -qw "$(kernel_cc "$cc")" /proc/sys/net/ipv4/tcp_available_congestion_control ||
    { echo "the kernel has no '$(kernel_cc "$cc")' congestion control" >&2; exit 2; }
done
IFS=';' read -r -a profile_list <<< "$PROFILES"

mkdir -p "$OUT/json"
rm -f "$OUT"/{raw.csv,results.md,commands.log} "$OUT"/json/*.json
echo "profile,cc,run,direction,mbps,retransmits,tcp_recoveries,tcp_rto_expired,tcp_tlp_probes,tcp_undos,tcp_output_queue_full" > "$OUT/raw.csv"
note() { echo "[$(date +%H:%M:%S)] $*" >&2; }

note "namespaces and first daemon"
gw_up --log-level warn > "$OUT/tunstackd.log" 2>&1 || { echo "gw_up failed"; cat "$OUT/tunstackd.log"; exit 1; }
spawn "$NS_SRV" iperf3 -s -B 198.19.0.2 -p 5201 > "$OUT/iperf3_server.log" 2>&1
wait_for 15 sh -c "ip netns exec $NS_SRV ss -Hltn 'sport = :5201' | grep -q ." || { echo "iperf3 server did not start"; exit 1; }

stat_of() { awk -v k="tunstack_$1" '$1 == k { print $2 }' "$2"; }

# run_one PROFILE CC RUN DIRECTION: one iperf3 run, a row in raw.csv.
run_one() {
  local profile=$1 cc=$2 run=$3 dir=$4 args=() json
  # -C: TCP_CONGESTION on the client's and the server's data sockets (a namespace's default
  # can only be set to the host's tcp_allowed_congestion_control).
  args=(-C "$(kernel_cc "$cc")")
  [ "$dir" = down ] && args+=(-R)
  json="$OUT/json/$(echo "$profile" | tr -c 'a-z0-9.%\n' '_').$cc.$dir.run$run.json"
  sleep 0.3; cp "$GW_STATS" "$OUT/before.prom"
  echo "ip netns exec APP iperf3 -c 198.19.0.2 -t $SECS -J ${args[*]}" >> "$OUT/commands.log"
  ip netns exec "$NS_APP" timeout $((SECS + 30)) iperf3 -c 198.19.0.2 -p 5201 -t "$SECS" -J \
    --connect-timeout 5000 "${args[@]}" > "$json" 2>&1 || true
  sleep 0.3; cp "$GW_STATS" "$OUT/after.prom"
  local mbps retr row
  read -r mbps retr < <("$PY" -c '
import json, sys
try:
    d = json.load(open(sys.argv[1])); e = d["end"]
    print("%.2f" % (e["sum_received"]["bits_per_second"] / 1e6), e["sum_sent"].get("retransmits", ""))
except Exception:
    print("nan", "")' "$json")
  row="\"$profile\",$cc,$run,$dir,$mbps,$retr"
  for c in tcp_recoveries tcp_rto_expired tcp_tlp_probes tcp_undos tcp_output_queue_full; do
    row+=",$(( $(stat_of "$c" "$OUT/after.prom") - $(stat_of "$c" "$OUT/before.prom") ))"
  done
  echo "$row" >> "$OUT/raw.csv"
  note "$profile $cc run $run $dir: $mbps Mbit/s"
}

seed=1
for profile in "${profile_list[@]}"; do
  for cc in "${cc_list[@]}"; do
    # Same profile both ways; new seeds per profile and controller, same seeds for both directions.
    # shellcheck disable=SC2086
    gw_restart --log-level warn --tcp-cc "$cc" --impair-rx "$profile seed=$seed" --impair-tx "$profile seed=$((seed + 1))" $EXTRA \
      >> "$OUT/tunstackd.log" 2>&1 || { echo "tunstackd did not start; its log:"; tail -20 "$OUT/tunstackd.log"; exit 1; }
    echo "tunstackd --tcp-cc $cc --impair-rx \"$profile seed=$seed\" --impair-tx \"$profile seed=$((seed + 1))\" $EXTRA" >> "$OUT/commands.log"
    seed=$((seed + 2))
    for run in $(seq "$RUNS"); do
      run_one "$profile" "$cc" "$run" down
      run_one "$profile" "$cc" "$run" up
    done
  done
done

"$PY" - "$OUT" "$RUNS" "$SECS" "$EXTRA" <<'PY' | tee "$OUT/results.md"
import csv, statistics, sys
out, runs, secs, extra = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
rows = list(csv.DictReader(open(f"{out}/raw.csv")))
keys = []
for r in rows:
    if (r["profile"], r["cc"]) not in keys: keys.append((r["profile"], r["cc"]))
def mmm(v):
    v = [x for x in v if x == x]
    return (min(v), statistics.median(v), max(v)) if v else (float("nan"),) * 3
print(f"iperf3 -t {secs}, {runs} runs each, same impairment both ways at the TUN; extra flags: '{extra}'\n")
print("| profile | cc | down: tunstack sends, Mbit/s min / med / max | up: Linux sends | ratio of medians | per-run ratio min / med / max | our recoveries / RTOs / TLPs per run (median) |")
print("|---|---|---|---|---|---|---|")
for p, cc in keys:
    sel = [r for r in rows if r["profile"] == p and r["cc"] == cc]
    down = {r["run"]: float(r["mbps"]) for r in sel if r["direction"] == "down"}
    up = {r["run"]: float(r["mbps"]) for r in sel if r["direction"] == "up"}
    d, u = mmm(down.values()), mmm(up.values())
    ratios = mmm([down[k] / up[k] for k in down if k in up and up[k] > 0])
    ctr = lambda c: statistics.median(int(r[c]) for r in sel if r["direction"] == "down")
    print(f"| {p} | {cc} | {d[0]:.1f} / {d[1]:.1f} / {d[2]:.1f} | {u[0]:.1f} / {u[1]:.1f} / {u[2]:.1f} | "
          f"{d[1] / u[1] if u[1] else float('nan'):.2f} | {ratios[0]:.2f} / {ratios[1]:.2f} / {ratios[2]:.2f} | "
          f"{ctr('tcp_recoveries'):.0f} / {ctr('tcp_rto_expired'):.0f} / {ctr('tcp_tlp_probes'):.0f} |")
PY
echo "outputs: $OUT (raw.csv results.md commands.log json/ tunstackd.log)"
