#!/usr/bin/env python3
"""Turns the raw measurements of tcp_bench.sh into results.csv, results.md (also printed on
stdout) and, if matplotlib is importable, results.png. python3 stdlib otherwise.

Usage: report.py OUT_DIR
Reads OUT_DIR/raw.csv (one row per measurement), OUT_DIR/counters.csv (tunstackd counter deltas
per run) and OUT_DIR/mem.csv (the memory test), plus OUT_DIR/header.md (machine, commands).
"""
import csv
import math
import os
import statistics
import sys

# The order and wording of the table rows.
WORKLOADS = [
    ("iperf_up_1", "iperf3 upload, 1 stream"),
    ("iperf_down_1", "iperf3 download (-R), 1 stream"),
    ("iperf_up_4", "iperf3 upload, 4 streams (-P 4)"),
    ("iperf_down_4", "iperf3 download (-R), 4 streams (-P 4)"),
    ("cps", "connections per second"),
]
PATHS = ("tunstack", "kernel")


def fnum(x, digits=3):
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    return f"{x:.{digits}g}" if abs(x) < 1 else f"{x:.{digits}f}".rstrip("0").rstrip(".")


def read_csv(path):
    if not os.path.exists(path):
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def as_float(s):
    try:
        return float(s)
    except (TypeError, ValueError):
        return float("nan")


def summarize(out):
    raw = read_csv(os.path.join(out, "raw.csv"))
    rows = []
    for wl, title in WORKLOADS:
        rec = {"workload": wl, "title": title, "unit": ""}
        for path in PATHS:
            mine = [r for r in raw if r["workload"] == wl and r["path"] == path]
            vals = [as_float(r["value"]) for r in mine]
            good = [v for v in vals if not math.isnan(v)]
            if mine:
                rec["unit"] = mine[0]["unit"]
            rec[f"{path}_n"] = len(good)
            rec[f"{path}_failed"] = len(vals) - len(good)
            rec[f"{path}_runs"] = vals
            rec[f"{path}_min"] = min(good) if good else float("nan")
            rec[f"{path}_median"] = statistics.median(good) if good else float("nan")
            rec[f"{path}_max"] = max(good) if good else float("nan")
            if path == "tunstack":
                # The daemon's CPU: seconds per GB moved (iperf3) or ms per 1000 connections.
                costs = []
                for r in mine:
                    cpu, amount = as_float(r["cpu_s"]), as_float(r["amount"])
                    if not math.isnan(cpu) and amount > 0:
                        costs.append(cpu / amount * (1e9 if wl.startswith("iperf") else 1e6))
                rec["cpu_median"] = statistics.median(costs) if costs else float("nan")
                rec["cpu_unit"] = "CPU s/GB" if wl.startswith("iperf") else "CPU ms/1k conns"
            extras = {}
            for r in mine:
                for kv in filter(None, (r.get("extra") or "").split(";")):
                    k, _, v = kv.partition("=")
                    extras.setdefault(k, []).append(v)
            rec[f"{path}_extra"] = extras
        t, k = rec["tunstack_median"], rec["kernel_median"]
        rec["ratio"] = t / k if k and not math.isnan(k) and not math.isnan(t) and k > 0 else float("nan")
        if rec["tunstack_n"] or rec["kernel_n"] or rec["tunstack_failed"] or rec["kernel_failed"]:
            rows.append(rec)
    return rows


def write_results_csv(out, rows):
    cols = ["workload", "unit"]
    for p in PATHS:
        cols += [f"{p}_min", f"{p}_median", f"{p}_max", f"{p}_n", f"{p}_failed"]
    cols += ["ratio_tunstack_over_kernel_median", "tunstackd_cpu_median", "tunstackd_cpu_unit"]
    with open(os.path.join(out, "results.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(cols)
        for r in rows:
            line = [r["workload"], r["unit"]]
            for p in PATHS:
                line += [f"{r[f'{p}_min']:.6g}", f"{r[f'{p}_median']:.6g}", f"{r[f'{p}_max']:.6g}",
                         r[f"{p}_n"], r[f"{p}_failed"]]
            line += [f"{r['ratio']:.4g}", f"{r.get('cpu_median', float('nan')):.4g}", r.get("cpu_unit", "")]
            w.writerow(line)


def trio(r, p):
    s = f"{fnum(r[p + '_min'])} / **{fnum(r[p + '_median'])}** / {fnum(r[p + '_max'])}"
    if r[p + "_failed"]:
        s += f" ({r[p + '_failed']} failed)"
    return s


def main_table(rows):
    out = ["| workload | unit | tunstack min / **median** / max | kernel forwarding min / **median** / max "
           "| tunstack / kernel (medians) | tunstackd CPU (median) |",
           "|---|---|---|---|---|---|"]
    for r in rows:
        cpu = f"{fnum(r.get('cpu_median'))} {r.get('cpu_unit', '')}"
        out.append(f"| {r['title']} | {r['unit']} | {trio(r, 'tunstack')} | {trio(r, 'kernel')} "
                   f"| {fnum(r['ratio'])} | {cpu} |")
    return out


def per_run_table(rows):
    out = ["| workload | path | every run, in order | extra (per run) |", "|---|---|---|---|"]
    for r in rows:
        for p in PATHS:
            runs = ", ".join(fnum(v) for v in r[f"{p}_runs"])
            extra = "; ".join(f"{k}: {', '.join(v)}" for k, v in sorted(r[f"{p}_extra"].items()))
            out.append(f"| {r['workload']} | {p} | {runs} | {extra} |")
    return out


def counters_table(out_dir):
    rows = read_csv(os.path.join(out_dir, "counters.csv"))
    if not rows:
        return ["(no counter moved that is listed as a problem sign)"]
    agg = {}
    for r in rows:
        key = (r["workload"], r["counter"])
        agg.setdefault(key, []).append(f"run {r['run']}: {r['delta']}")
    out = ["| workload | counter | delta per run (runs where it moved) |", "|---|---|---|"]
    for (wl, c), v in sorted(agg.items()):
        out.append(f"| {wl} | {c} | {', '.join(v)} |")
    return out


def mem_table(out_dir):
    rows = read_csv(os.path.join(out_dir, "mem.csv"))
    if not rows:
        return ["(memory test not run)"]
    out = ["| measurement | value |", "|---|---|"]
    for r in rows:
        out.append(f"| {r['key']} | {r['value']} |")
    return out


def plot(out, rows):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed (apt-get install python3-matplotlib): no plot written"
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5), gridspec_kw={"width_ratios": [4, 1]})
    for ax, sel in ((axes[0], [r for r in rows if r["workload"].startswith("iperf")]),
                    (axes[1], [r for r in rows if r["workload"] == "cps"])):
        xs = range(len(sel))
        for i, p in enumerate(PATHS):
            med = [r[f"{p}_median"] for r in sel]
            lo = [r[f"{p}_median"] - r[f"{p}_min"] for r in sel]
            hi = [r[f"{p}_max"] - r[f"{p}_median"] for r in sel]
            ax.bar([x + (i - 0.5) * 0.4 for x in xs], med, 0.4, yerr=[lo, hi], capsize=3,
                   label="tunstackd" if p == "tunstack" else "kernel forwarding")
        ax.set_xticks(list(xs))
        ax.set_xticklabels([r["workload"] for r in sel], rotation=15)
        ax.set_ylabel(sel[0]["unit"] if sel else "")
        ax.legend()
    axes[0].set_title("throughput (median, bars = min..max)")
    axes[1].set_title("connections/s")
    fig.tight_layout()
    fig.savefig(os.path.join(out, "results.png"), dpi=110)
    return "plot: " + os.path.join(out, "results.png")


def main():
    out = sys.argv[1]
    rows = summarize(out)
    write_results_csv(out, rows)
    header = ""
    if os.path.exists(os.path.join(out, "header.md")):
        header = open(os.path.join(out, "header.md")).read()
    md = [header, "## Results", ""] + main_table(rows)
    md += ["", "Medians of R runs, interleaved tunstack, kernel, tunstack, kernel... "
           "iperf3 figures are the receiver's (end.sum_received). CPU is tunstackd's utime+stime "
           "over the run divided by the bytes (iperf3) or connections (cps) the run moved.", "",
           "## Every run", ""] + per_run_table(rows)
    md += ["", "## tunstackd counters that moved during the runs (loss, drops, stalls)", ""]
    md += counters_table(out)
    md += ["", "## Memory per idle established connection (tunstackd only)", ""] + mem_table(out)
    md += ["", plot(out, rows), ""]
    text = "\n".join(md)
    with open(os.path.join(out, "results.md"), "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
