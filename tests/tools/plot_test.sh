#!/usr/bin/env bash
# tools/plot/tcp_trace_plot.py on a real trace excerpt (a lossy iperf3 download through tunstackd,
# CUBIC, loss=1% delay=10ms both ways): three PNGs come out, each a real picture, in CSV and in
# JSON lines. Skips (77) when Debian's python3-matplotlib is missing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
tool="$here/../../tools/plot/tcp_trace_plot.py"
/usr/bin/python3 -c 'import matplotlib' 2>/dev/null || { echo "SKIP: python3-matplotlib is not installed"; exit 77; }
out=$(mktemp -d /tmp/tunstack-plot.XXXX)
trap 'rm -rf "$out"' EXIT
fails=0
check_pngs() {  # check_pngs PREFIX: three PNGs, each with the PNG signature and > 20 KB of drawing
  for n in cwnd rtt seq; do
    f="$out/$1$n.png"
    if [ ! -s "$f" ] || [ "$(head -c 4 "$f" | od -An -c | tr -d ' ')" != "211PNG" ] || [ "$(stat -c %s "$f")" -lt 20000 ]; then
      echo "FAIL $f"; fails=$((fails + 1))
    else
      echo "ok   $f ($(stat -c %s "$f") bytes)"
    fi
  done
}
"$tool" "$here/data/trace_small.csv" --out "$out" --prefix csv_
check_pngs csv_
# The same samples as JSON lines.
/usr/bin/python3 - "$here/data/trace_small.csv" "$out/trace.jsonl" <<'PY'
import csv, json, sys
with open(sys.argv[2], "w") as o:
    for r in csv.DictReader(open(sys.argv[1])):
        o.write(json.dumps({k: (None if v == "" else int(v)) if k.endswith("_us") or k in (
            "t_us", "flow", "snd_una", "snd_nxt", "seg_seq", "seg_len", "cwnd", "ssthresh", "in_flight",
            "sacked", "lost", "snd_wnd", "pacing_rate", "delivery_rate", "delivered") else v
            for k, v in r.items()}) + "\n")
PY
"$tool" "$out/trace.jsonl" --out "$out" --prefix jsonl_
check_pngs jsonl_
# A flow that is not in the trace is an error, not an empty picture.
if "$tool" "$here/data/trace_small.csv" --out "$out" --flow 999 2>/dev/null; then echo "FAIL unknown flow accepted"; fails=$((fails + 1)); fi
[ "$fails" -eq 0 ] && echo "all checks passed"
exit "$fails"
