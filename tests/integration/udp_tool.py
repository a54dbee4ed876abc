#!/usr/bin/env python3
"""Small UDP peers for the namespace tests. Every mode is bounded in time (--lifetime).

serve  --bind ADDR:PORT --mode echo|whoami|big|count [--size N] [--out FILE]
    echo:   send each datagram back
    whoami: answer "HOST PORT" of the sender (what mapping the NAT showed us)
    big:    answer N bytes (a pattern) to every datagram
    count:  only count; the count is written to --out at exit
send   --bind ADDR:PORT --to ADDR:PORT --data TEXT
A served socket that receives "SEND host port text" sends text to host:port from itself (so a
test can make a remote speak first from its own, already bound, address and port).
burst  --src ADDR --ports N --count M --to ADDR:PORT  (M datagrams cycling over N source ports)
"""
import argparse
import os
import signal
import socket
import sys
import time


def endpoint(s):
    host, _, port = s.rpartition(":")
    host = host.strip("[]")
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    return fam, (host, int(port))


def pattern(n):
    return bytes((i * 7 + 3) % 251 for i in range(n))


def serve(a):
    fam, addr = endpoint(a.bind)
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    s.bind(addr)
    count = 0
    deadline = time.monotonic() + a.lifetime
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    s.settimeout(0.2)
    if a.ready:
        open(a.ready, "w").close()
    while not stop and time.monotonic() < deadline:
        try:
            data, peer = s.recvfrom(65535)
        except socket.timeout:
            continue
        count += 1
        if data.startswith(b"SEND "):  # control: "SEND host port text" -> send text from here
            _, host, port, text = data.split(b" ", 3)
            s.sendto(text, (host.decode(), int(port)))
            continue
        if a.mode == "echo":
            s.sendto(data, peer)
        elif a.mode == "whoami":
            s.sendto(f"{peer[0]} {peer[1]}".encode(), peer)
        elif a.mode == "big":
            s.sendto(pattern(a.size), peer)
    if a.out:
        with open(a.out, "w") as f:
            f.write(f"{count}\n")


def send(a):
    fam, bind = endpoint(a.bind)
    _, to = endpoint(a.to)
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.bind(bind)
    s.sendto(a.data.encode(), to)


def burst(a):
    fam, to = endpoint(a.to)
    sent = 0
    socks = []
    for i in range(a.count):
        port = 10000 + i % a.ports
        s = socket.socket(fam, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((a.src, port))
        try:
            s.sendto(b"burst %d" % i, to)
            sent += 1
        except OSError:
            pass
        s.close()
    print(sent)


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("serve")
    p.add_argument("--bind", required=True)
    p.add_argument("--mode", default="echo", choices=["echo", "whoami", "big", "count"])
    p.add_argument("--size", type=int, default=4000)
    p.add_argument("--out")
    p.add_argument("--ready")
    p.add_argument("--lifetime", type=float, default=120)
    p = sub.add_parser("send")
    p.add_argument("--bind", required=True)
    p.add_argument("--to", required=True)
    p.add_argument("--data", required=True)
    p = sub.add_parser("burst")
    p.add_argument("--src", required=True)
    p.add_argument("--ports", type=int, required=True)
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--to", required=True)
    a = ap.parse_args()
    {"serve": serve, "send": send, "burst": burst}[a.cmd](a)


if __name__ == "__main__":
    main()
