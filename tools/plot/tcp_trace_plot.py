#!/usr/bin/python3
"""Draws a tunstackd TCP sender trace (--trace-file, CSV or JSON lines) as three PNGs per flow:

  <out>/<prefix>cwnd.png  cwnd, ssthresh, bytes in flight, SACKed and lost bytes over time,
                          recovery periods shaded;
  <out>/<prefix>rtt.png   RTT samples, smoothed RTT, min RTT and the retransmission timeout;
  <out>/<prefix>seq.png   a time-sequence graph: snd_una, segments sent (grey), retransmissions
                          (red), tail loss probes (orange) and RTOs (black lines).

Usage: tcp_trace_plot.py TRACE [--flow ID] [--out DIR] [--from S] [--to S] [--title TEXT]
Without --flow the flow with the most samples is drawn. Needs python3-matplotlib.
"""
import argparse
import csv
import json
import os
import sys

INT_FIELDS = ("t_us", "flow", "snd_una", "snd_nxt", "seg_seq", "seg_len", "cwnd", "ssthresh",
              "in_flight", "sacked", "lost", "snd_wnd", "pacing_rate", "delivery_rate", "delivered",
              "srtt_us", "rttvar_us", "rto_us", "min_rtt_us", "rtt_us")


def number(v):
    if v is None or v == "":
        return None
    return int(v)


def read_trace(path):
    """Rows as dicts with integer fields (None where the trace has no value)."""
    with open(path, encoding="utf-8") as f:
        first = f.readline()
        f.seek(0)
        if first.lstrip().startswith("{"):
            rows = [json.loads(line) for line in f if line.strip()]
        else:
            rows = list(csv.DictReader(f))
    for r in rows:
        for k in INT_FIELDS:
            if k in r:
                r[k] = number(r[k])
    return rows


def pick_flow(rows, flow):
    counts = {}
    for r in rows:
        counts[r["flow"]] = counts.get(r["flow"], 0) + 1
    if not counts:
        sys.exit("the trace has no samples")
    if flow is None:
        flow = max(counts, key=counts.get)
    elif flow not in counts:
        sys.exit(f"flow {flow} is not in the trace (flows: {sorted(counts)})")
    return flow, [r for r in rows if r["flow"] == flow]


def recovery_spans(rows):
    """(start_s, end_s) of every stretch spent in recovery or loss."""
    spans, start = [], None
    for r in rows:
        t = r["t_us"] / 1e6
        busy = r["recovery"] in ("recovery", "loss")
        if busy and start is None:
            start = t
        elif not busy and start is not None:
            spans.append((start, t))
            start = None
    if start is not None:
        spans.append((start, rows[-1]["t_us"] / 1e6))
    return spans


def shade(ax, spans):
    for i, (a, b) in enumerate(spans):
        ax.axvspan(a, b, color="tab:red", alpha=0.08, lw=0, label="recovery / loss" if i == 0 else None)


def finish(plt, fig, ax, ylabel, title, path):
    """The parts every picture shares: axes labels, legend, grid, the file."""
    ax.set_xlabel("time (s)")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(loc="upper left", fontsize="small")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_cwnd(plt, rows, spans, title, path):
    t = [r["t_us"] / 1e6 for r in rows]
    kib = lambda k: [r[k] / 1024 for r in rows]
    cap = max(max(r["cwnd"] for r in rows), max(r["in_flight"] for r in rows)) * 1.5
    ssthresh = [min(r["ssthresh"], cap) / 1024 for r in rows]  # "infinite" before the first loss
    fig, ax = plt.subplots(figsize=(11, 5))
    shade(ax, spans)
    ax.plot(t, kib("cwnd"), label="cwnd", lw=1.2)
    ax.plot(t, ssthresh, label="ssthresh (clipped)", lw=1, ls="--")
    ax.plot(t, kib("in_flight"), label="bytes in flight", lw=0.5, alpha=0.6)
    ax.plot(t, kib("sacked"), label="SACKed", lw=0.8, alpha=0.8)
    ax.plot(t, kib("lost"), label="lost, not yet retransmitted", lw=0.8, alpha=0.8)
    finish(plt, fig, ax, "KiB", f"{title}: congestion window and bytes in flight", path)


def plot_rtt(plt, rows, spans, title, path):
    fig, ax = plt.subplots(figsize=(11, 5))
    shade(ax, spans)
    samples = [(r["t_us"] / 1e6, r["rtt_us"] / 1000) for r in rows if r.get("rtt_us") is not None]
    if samples:
        ax.scatter(*zip(*samples), s=2, alpha=0.4, label="RTT samples", color="tab:gray")
    t = [r["t_us"] / 1e6 for r in rows]
    ax.plot(t, [r["srtt_us"] / 1000 for r in rows], label="smoothed RTT", lw=1.2)
    mins = [(r["t_us"] / 1e6, r["min_rtt_us"] / 1000) for r in rows if r.get("min_rtt_us") is not None]
    if mins:
        ax.plot(*zip(*mins), label="min RTT", lw=1, ls="--")
    ax.plot(t, [r["rto_us"] / 1000 for r in rows], label="RTO", lw=0.8, alpha=0.7)
    finish(plt, fig, ax, "ms", f"{title}: round-trip time", path)


def seq_window(rows, spans, span_s):
    """The stretch the time-sequence graph shows: a whole trace is too dense to see segments, so
    by default ~25 RTTs around the first recovery after the first fifth of the trace."""
    t_end = rows[-1]["t_us"] / 1e6
    srtt = max(r["srtt_us"] for r in rows[len(rows) // 2:]) / 1e6 or 0.01
    width = span_s if span_s else 25 * srtt
    later = [a for a, _ in spans if a >= t_end / 5] or [a for a, _ in spans] or [rows[0]["t_us"] / 1e6]
    start = max(rows[0]["t_us"] / 1e6, later[0] - width / 5)
    return start, start + width


def plot_seq(plt, rows, spans, title, path, span_s=None):
    lo_t, hi_t = seq_window(rows, spans, span_s)
    rows = [r for r in rows if lo_t <= r["t_us"] / 1e6 <= hi_t]
    spans = [(max(a, lo_t), min(b, hi_t)) for a, b in spans if b >= lo_t and a <= hi_t]
    fig, ax = plt.subplots(figsize=(11, 6))
    shade(ax, spans)
    mib = 1024 * 1024
    acks = [(r["t_us"] / 1e6, r["snd_una"] / mib) for r in rows if r["event"] == "ack"]
    if acks:
        ax.plot(*zip(*acks), lw=1, color="tab:green", label="snd_una (cumulative ACK)")
    for event, color, label in (("send", "tab:gray", "sent"), ("retransmit", "tab:red", "retransmitted"),
                                ("tlp", "tab:orange", "tail loss probe")):
        segs = [r for r in rows if r["event"] == event]
        if not segs:
            continue
        xs = [r["t_us"] / 1e6 for r in segs]
        lo = [r["seg_seq"] / mib for r in segs]
        hi = [(r["seg_seq"] + max(r["seg_len"], 1)) / mib for r in segs]
        if event == "send":
            ax.vlines(xs, lo, hi, colors=color, lw=0.6, label=label)
        else:  # one segment is too short to see at this scale: a marker at its start
            ax.scatter(xs, lo, s=28, marker="x" if event == "retransmit" else "D", color=color,
                       label=label, zorder=3)
    for i, r in enumerate(r for r in rows if r["event"] == "rto"):
        ax.axvline(r["t_us"] / 1e6, color="black", lw=0.8, ls=":", label="RTO" if i == 0 else None)
    finish(plt, fig, ax, "sequence (MiB from the first data byte)",
           f"{title}: time-sequence graph, {lo_t:.2f} to {hi_t:.2f} s", path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("trace")
    ap.add_argument("--flow", type=int, help="flow id (default: the one with the most samples)")
    ap.add_argument("--out", default=".", help="output directory (default .)")
    ap.add_argument("--prefix", default="", help="prefix of the PNG names")
    ap.add_argument("--from", dest="t_from", type=float, default=None, help="start, s after the trace's start")
    ap.add_argument("--to", dest="t_to", type=float, default=None, help="end, s after the trace's start")
    ap.add_argument("--title", default=None)
    ap.add_argument("--seq-span", type=float, default=None,
                    help="seconds the time-sequence graph shows (default: 25 RTTs around a recovery)")
    args = ap.parse_args()
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        sys.exit("python3-matplotlib is not installed (apt-get install python3-matplotlib)")
    flow, rows = pick_flow(read_trace(args.trace), args.flow)
    if args.t_from is not None:
        rows = [r for r in rows if r["t_us"] >= args.t_from * 1e6]
    if args.t_to is not None:
        rows = [r for r in rows if r["t_us"] <= args.t_to * 1e6]
    if not rows:
        sys.exit("no samples in that time range")
    title = args.title or f"flow {flow} {rows[0].get('client', '')} -> {rows[0].get('server', '')}"
    os.makedirs(args.out, exist_ok=True)
    spans = recovery_spans(rows)
    written = []
    for name, fn in (("cwnd", plot_cwnd), ("rtt", plot_rtt), ("seq", plot_seq)):
        path = os.path.join(args.out, f"{args.prefix}{name}.png")
        if fn is plot_seq:
            fn(plt, rows, spans, title, path, args.seq_span)
        else:
            fn(plt, rows, spans, title, path)
        written.append(path)
    print(f"flow {flow}: {len(rows)} samples, {len(spans)} recovery periods -> {' '.join(written)}")


if __name__ == "__main__":
    main()
