#!/usr/bin/env python3
"""UDP client for tun_loop_test.sh: talks to tun_echo through the TUN and checks its answers.

check: sends COUNT datagrams one at a time and expects each one back, from the address it was
       sent to, with the same payload (tun_echo swaps addresses and ports). Exit 0 iff all came back.
burst: sends COUNT datagrams as fast as the socket allows while a thread collects the echoes;
       prints one JSON line {"sent", "received", "bad", "seconds"}. Exit 0 iff nothing came back
       altered (losses are legitimate under a burst; the caller checks the counters).
Every wait is bounded: the script always ends within its --deadline.
"""
import argparse
import json
import socket
import struct
import sys
import threading
import time

SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)


def make_socket(family):
    s = socket.socket(socket.AF_INET if family == 4 else socket.AF_INET6, socket.SOCK_DGRAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 32 << 20)
    except OSError:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    s.bind(("0.0.0.0" if family == 4 else "::", 0))
    return s


def payload(seq, size):
    head = b"tunstack" + struct.pack("!I", seq)
    return head + bytes((seq + i) & 0xFF for i in range(max(0, size - len(head))))


def check(args):
    s = make_socket(args.family)
    end = time.monotonic() + args.deadline
    ok = 0
    for seq in range(args.count):
        p = payload(seq, args.size)
        s.sendto(p, (args.dst, args.port))
        while time.monotonic() < end:
            s.settimeout(max(0.01, min(1.0, end - time.monotonic())))
            try:
                data, src = s.recvfrom(65535)
            except socket.timeout:
                break
            if data == p and src[0] == args.dst and src[1] == args.port:
                ok += 1
                break
        if time.monotonic() >= end:
            break
    print(f"check family={args.family} ok={ok}/{args.count}")
    return 0 if ok == args.count else 1


def burst(args):
    s = make_socket(args.family)
    expected = {}
    lock = threading.Lock()
    state = {"received": 0, "bad": 0, "last": time.monotonic(), "done": False}

    def receiver():
        s.settimeout(0.2)
        while True:
            try:
                data, src = s.recvfrom(65535)
            except socket.timeout:
                with lock:
                    quiet = time.monotonic() - state["last"]
                    if state["done"] and quiet > args.quiet:
                        return
                if time.monotonic() > end:
                    return
                continue
            with lock:
                state["last"] = time.monotonic()
                seq = struct.unpack("!I", data[8:12])[0] if len(data) >= 12 else -1
                if expected.get(seq) == data and src[0] == args.dst and src[1] == args.port:
                    state["received"] += 1
                    del expected[seq]
                else:
                    state["bad"] += 1

    end = time.monotonic() + args.deadline
    t = threading.Thread(target=receiver)
    t.start()
    start = time.monotonic()
    sent = 0
    for seq in range(args.count):
        p = payload(seq, args.size)
        with lock:
            expected[seq] = p
        try:
            s.sendto(p, (args.dst, args.port))
            sent += 1
        except OSError:
            with lock:
                del expected[seq]
        if time.monotonic() > end:
            break
    seconds = time.monotonic() - start
    with lock:
        state["done"] = True
        state["last"] = time.monotonic()
    t.join()
    print(json.dumps({"sent": sent, "received": state["received"], "bad": state["bad"],
                      "seconds": round(seconds, 3)}))
    return 0 if state["bad"] == 0 else 1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["check", "burst"])
    ap.add_argument("--family", type=int, choices=[4, 6], default=4)
    ap.add_argument("--dst", required=True)
    ap.add_argument("--port", type=int, default=7)
    ap.add_argument("--count", type=int, default=100)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--deadline", type=float, default=20.0)
    ap.add_argument("--quiet", type=float, default=1.0, help="burst: stop after this much silence")
    args = ap.parse_args()
    return check(args) if args.mode == "check" else burst(args)


if __name__ == "__main__":
    sys.exit(main())
