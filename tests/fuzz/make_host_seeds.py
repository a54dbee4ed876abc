#!/usr/bin/env python3
"""Writes seed inputs for fuzz_host: records of [u16 length][u8 time step][packet], each packet a
valid one (checksums right) so that the fuzzer starts past the parsers: UDP over IPv4 and IPv6,
pings, a datagram in IPv4 fragments, and an IPv6 fragment."""
import os
import struct
import sys


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def ip4(src, dst, proto, payload, ident=1, flags_off=0):
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident, flags_off, 64, proto, 0,
                    bytes(src), bytes(dst))
    return h[:10] + struct.pack("!H", csum(h)) + h[12:] + payload


def udp4(src, dst, sp, dp, data):
    u = struct.pack("!HHHH", sp, dp, 8 + len(data), 0) + data
    ph = bytes(src) + bytes(dst) + struct.pack("!BBH", 0, 17, len(u))
    c = csum(ph + u) or 0xFFFF
    return u[:6] + struct.pack("!H", c) + u[8:]


def ip6(src, dst, nh, payload):
    return struct.pack("!IHBB16s16s", 6 << 28, len(payload), nh, 64, bytes(src), bytes(dst)) + payload


def l4_6(src, dst, nh, seg, off):
    ph = bytes(src) + bytes(dst) + struct.pack("!IxxxB", len(seg), nh)
    c = csum(ph + seg[:off] + b"\0\0" + seg[off + 2:])
    return seg[:off] + struct.pack("!H", c or 0xFFFF) + seg[off + 2:]


def rec(pkt, step=0):
    return struct.pack("!HB", len(pkt), step) + pkt


A4, B4 = [198, 18, 0, 2], [198, 19, 0, 1]
A6 = [0xFD] + [0] * 14 + [2]
B6 = [0xFD, 0, 0, 0x19] + [0] * 11 + [1]

seeds = {}
seeds["udp4"] = rec(ip4(A4, B4, 17, udp4(A4, B4, 5000, 53, b"query")))
u6 = struct.pack("!HHHH", 5000, 53, 8 + 5, 0) + b"query"
seeds["udp6"] = rec(ip6(A6, B6, 17, l4_6(A6, B6, 17, u6, 6)))
echo = struct.pack("!BBHHH", 8, 0, 0, 77, 1) + b"ping"
seeds["ping4"] = rec(ip4(A4, B4, 1, echo[:2] + struct.pack("!H", csum(echo)) + echo[4:]))
e6 = struct.pack("!BBHHH", 128, 0, 0, 77, 1) + b"ping"
seeds["ping6"] = rec(ip6(A6, B6, 58, l4_6(A6, B6, 58, e6, 2)))
big = udp4(A4, B4, 5000, 53, bytes(range(256)) * 8)
frags = b""
for off in range(0, len(big), 1000):
    part = big[off:off + 1000]
    more = 0x2000 if off + 1000 < len(big) else 0
    frags += rec(ip4(A4, B4, 17, part, ident=9, flags_off=more | (off // 8)))
seeds["frag4"] = frags
fh = struct.pack("!BBHI", 17, 0, (0 << 3) | 1, 0x1234)
seeds["frag6"] = rec(ip6(A6, B6, 44, fh + u6 + b"\0" * 3), step=1)
seeds["mixed"] = seeds["udp4"] + seeds["ping6"] + seeds["frag4"] + rec(b"\x45" + b"\0" * 30, 3) + seeds["udp6"]

out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "corpus", "host")
os.makedirs(out, exist_ok=True)
for name, data in seeds.items():
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)
