#!/usr/bin/env python3
"""TCP peers for the namespace tests (python3 stdlib only). Every mode is bounded in time.

serve    --bind ADDR:PORT [--bind ...] [--backlog N] [--log FILE] [--ready FILE]
    One single-threaded selector loop for all listeners and connections. Each connection starts
    with a one-line header that chooses what the server does with it:
      SINK n seed      read n bytes, check them against the seeded stream, reply
                       "sha256 HEX n COUNT mismatch OFFSET|-1", then close after the client's EOF
      SRC n seed       send n bytes of the seeded stream, then FIN; close after the client's EOF
      ECHO             echo until EOF, then FIN and close
      HCS n seed       half-close by the client: read until EOF, only then send n seeded bytes
      HCR n seed tag   half-close by the server: FIN at once, then read n seeded bytes until EOF
                       and log "HCR tag ok|FAIL ..."
      RST              send "bye", then abort (SO_LINGER 0: the client must see a reset)
      WAIT tag         send "ready", read until EOF or error; log "WAIT tag reset|eof|error"
send     --to ADDR:PORT --bytes N [--seed S]   upload N seeded bytes, compare sha256 end to end
recv     --to ADDR:PORT --bytes N [--seed S]   download N seeded bytes, byte-exact check
many     --to ADDR:PORT --count K [--window W] [--ready FILE --release FILE]
    K connections open at once (non-blocking + selectors, at most W connects in flight): each
    echoes a small message, then all stay open (until --release appears, or --hold seconds),
    then every one half-closes and waits for the server's FIN, then all close.
connect  --to ADDR:PORT [--expect ERRNO,...]   one connect: prints "ERRNO_NAME MS"
halfclose --to ADDR:PORT --who client|server --bytes N [--server-log FILE]
reset    --to ADDR:PORT --who server|client [--server-log FILE]
Clients exit non-zero on any mismatch, error or timeout.
"""
import argparse
import errno
import hashlib
import os
import random
import resource
import selectors
import signal
import socket
import sys
import time

CHUNK = 64 << 10  # the seeded stream is drawn in chunks of this size on both sides


def endpoint(s):
    host, _, port = s.rpartition(":")
    host = host.strip("[]")
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    return fam, (host, int(port))


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


class Seeded:
    """The pseudo-random byte stream both ends derive from a seed (deterministic per chunk)."""

    def __init__(self, seed, n):
        self.rng = random.Random(seed)
        self.left = n
        self.buf = b""
        self.off = 0

    def take(self, k):
        """Up to k next bytes of the stream (b"" at its end)."""
        if self.off == len(self.buf):
            if self.left == 0:
                return b""
            self.buf = self.rng.randbytes(CHUNK)[: min(CHUNK, self.left)]
            self.left -= len(self.buf)
            self.off = 0
        out = self.buf[self.off: self.off + k]
        self.off += len(out)
        return out


class Checker:
    """Compares incoming bytes with a seeded stream; keeps the sha256 and the first mismatch."""

    def __init__(self, seed, n):
        self.expect = Seeded(seed, n)
        self.want = n
        self.count = 0
        self.sha = hashlib.sha256()
        self.mismatch = -1

    def feed(self, data):
        self.sha.update(data)
        if self.mismatch < 0:
            pos = 0
            while pos < len(data):
                exp = self.expect.take(len(data) - pos)
                if not exp:  # more than n bytes
                    self.mismatch = self.count + pos
                    break
                got = data[pos: pos + len(exp)]
                if got != exp:
                    i = next(j for j in range(len(exp)) if got[j] != exp[j])
                    self.mismatch = self.count + pos + i
                    break
                pos += len(exp)
        self.count += len(data)

    def ok(self):
        return self.mismatch < 0 and self.count == self.want


# ------------------------------------------------------------------------------------------------
# Server


class Conn:
    def __init__(self, sock, peer):
        self.sock = sock
        self.peer = peer
        self.hdr = b""
        self.mode = None
        self.out = b""        # bytes queued to send
        self.src = None       # Seeded: more bytes to send after self.out
        self.fin_after = False  # shutdown(SHUT_WR) once everything queued is sent
        self.close_after = False  # close once everything queued is sent
        self.abort_after = False  # abort (RST) once everything queued is sent
        self.fin_sent = False
        self.eof = False
        self.check = None
        self.tag = ""
        self.n = 0
        self.seed = 0


class Server:
    def __init__(self, a):
        self.a = a
        self.sel = selectors.DefaultSelector()
        self.log = open(a.log, "a", buffering=1) if a.log else sys.stdout
        self.accepted = 0
        self.open = 0

    def note(self, line):
        self.log.write(line + "\n")

    def listen(self, spec):
        fam, addr = endpoint(spec)
        s = socket.socket(fam, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if fam == socket.AF_INET6:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        s.bind(addr)
        s.listen(self.a.backlog)
        s.setblocking(False)
        self.sel.register(s, selectors.EVENT_READ, None)

    def run(self):
        raise_nofile()
        for b in self.a.bind:
            self.listen(b)
        if self.a.ready:
            open(self.a.ready, "w").close()
        stop = []
        signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
        deadline = time.monotonic() + self.a.lifetime
        while not stop and time.monotonic() < deadline:
            for key, ev in self.sel.select(0.2):
                if key.data is None:
                    self.accept(key.fileobj)
                    continue
                c = key.data
                try:
                    if ev & selectors.EVENT_READ:
                        self.on_read(c)
                    if ev & selectors.EVENT_WRITE and c.sock.fileno() >= 0:
                        self.flush(c)
                except (OSError, ValueError, IndexError, UnicodeDecodeError) as e:  # this connection only
                    self.fail(c, e)
        self.note(f"server exit accepted {self.accepted} open {self.open}")

    def accept(self, ls):
        for _ in range(256):
            try:
                s, peer = ls.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:  # e.g. EMFILE: leave it in the queue, say so
                self.note(f"accept error {errno.errorcode.get(e.errno, e.errno)}")
                return
            s.setblocking(False)
            self.accepted += 1
            self.open += 1
            self.sel.register(s, selectors.EVENT_READ, Conn(s, peer))

    def interest(self, c):
        ev = 0
        if not c.eof and len(c.out) < (1 << 20):
            ev |= selectors.EVENT_READ
        if c.out or c.src is not None:
            ev |= selectors.EVENT_WRITE
        if ev == 0:
            if c.eof:  # nothing left to do in either direction
                self.close(c)
                return
            ev = selectors.EVENT_READ  # keep watching for errors
        self.sel.modify(c.sock, ev, c)

    def close(self, c, abort=False):
        if c.sock.fileno() < 0:
            return
        self.sel.unregister(c.sock)
        if abort:
            c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        c.sock.close()
        self.open -= 1

    def fail(self, c, e):
        name = errno.errorcode.get(e.errno, str(e)) if isinstance(e, OSError) else repr(e)
        if c.mode == "WAIT":
            self.note(f"WAIT {c.tag} {'reset' if isinstance(e, ConnectionResetError) else 'error ' + name}")
        elif c.mode == "HCR":
            self.note(f"HCR {c.tag} FAIL {name}")
        else:
            self.note(f"conn {c.mode} error {name}")
        self.close(c)

    def on_read(self, c):
        try:
            data = c.sock.recv(256 << 10)
        except (BlockingIOError, InterruptedError):
            return
        if not data:
            c.eof = True
            self.on_eof(c)
            return
        if c.mode is None:
            c.hdr += data
            if b"\n" not in c.hdr:
                if len(c.hdr) > 200:
                    self.note("conn bad header")
                    self.close(c)
                return
            line, _, data = c.hdr.partition(b"\n")
            self.start(c, line.decode().split())
            if c.sock.fileno() < 0 or not data:
                return
        self.on_data(c, data)

    def start(self, c, f):
        c.mode = f[0]
        if c.mode in ("SINK", "SRC", "HCS", "HCR"):
            c.n, c.seed = int(f[1]), int(f[2])
        if c.mode == "SINK":
            c.check = Checker(c.seed, c.n)
        elif c.mode == "SRC":
            c.src = Seeded(c.seed, c.n)
            c.fin_after = True
        elif c.mode == "HCR":
            c.tag = f[3]
            c.check = Checker(c.seed, c.n)
            c.sock.shutdown(socket.SHUT_WR)  # our FIN goes first; the client still sends
            c.fin_sent = True
        elif c.mode == "RST":
            c.out = b"bye\n"
            c.abort_after = True
        elif c.mode == "WAIT":
            c.tag = f[1]
            c.out = b"ready\n"
        elif c.mode not in ("ECHO", "HCS"):
            self.note(f"conn unknown mode {c.mode}")
            self.close(c)
            return
        self.flush(c)

    def on_data(self, c, data):
        if c.mode == "SINK":
            c.check.feed(data)
            if c.check.count >= c.n and not c.out and not c.fin_after:
                c.out = (f"sha256 {c.check.sha.hexdigest()} n {c.check.count} "
                         f"mismatch {c.check.mismatch}\n").encode()
                c.fin_after = True
                self.note(f"SINK {'ok' if c.check.ok() else 'FAIL'} {c.check.count}")
        elif c.mode == "HCR":
            c.check.feed(data)
        elif c.mode == "ECHO":
            c.out += data
        elif c.mode == "HCS":
            self.note(f"HCS FAIL data after the client's FIN? got {len(data)} bytes before EOF")
        self.flush(c)

    def on_eof(self, c):
        if c.mode == "HCS":
            c.src = Seeded(c.seed, c.n)  # only now: the client has already sent its FIN
            c.close_after = True
        elif c.mode == "HCR":
            ok = c.check.ok()
            self.note(f"HCR {c.tag} {'ok' if ok else 'FAIL'} n {c.check.count} mismatch {c.check.mismatch}")
            self.close(c)
            return
        elif c.mode == "WAIT":
            self.note(f"WAIT {c.tag} eof")
            self.close(c)
            return
        elif c.mode == "ECHO":
            c.close_after = True
        elif c.mode == "SINK" and not c.fin_after:
            self.note(f"SINK FAIL eof after {c.check.count} of {c.n}")
            self.close(c)
            return
        else:
            c.close_after = True
        self.flush(c)

    def flush(self, c):
        while True:
            if not c.out and c.src is not None:
                c.out = c.src.take(CHUNK)
                if not c.out:
                    c.src = None
            if not c.out:
                break
            try:
                n = c.sock.send(c.out)
            except BlockingIOError:
                break
            c.out = c.out[n:]
        if not c.out and c.src is None:
            if c.abort_after:
                self.note("RST sent")
                self.close(c, abort=True)
                return
            if c.fin_after and not c.fin_sent:
                c.sock.shutdown(socket.SHUT_WR)
                c.fin_sent = True
            if c.close_after:
                self.close(c)
                return
        self.interest(c)


# ------------------------------------------------------------------------------------------------
# Clients


def dial(a):
    fam, addr = endpoint(a.to)
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(a.timeout)
    s.connect(addr)
    return s


def read_all(s, limit=1 << 16):
    out = b""
    while True:
        b = s.recv(4096)
        if not b:
            return out
        out += b
        if len(out) > limit:
            raise SystemExit("FAIL: reply too long")


def rate(n, secs):
    return f"{n / secs / 1e6:.1f} MB/s ({n * 8 / secs / 1e6:.0f} Mbit/s)"


def do_send(a):
    t0 = time.monotonic()
    s = dial(a)
    s.sendall(f"SINK {a.bytes} {a.seed}\n".encode())
    src, h = Seeded(a.seed, a.bytes), hashlib.sha256()
    while True:
        b = src.take(CHUNK)
        if not b:
            break
        h.update(b)
        s.sendall(b)
    s.shutdown(socket.SHUT_WR)
    reply = read_all(s).decode().split()
    secs = time.monotonic() - t0
    s.close()
    if len(reply) != 6 or reply[1] != h.hexdigest() or int(reply[3]) != a.bytes or reply[5] != "-1":
        raise SystemExit(f"FAIL send: server got {reply}, we sent {a.bytes} bytes sha256 {h.hexdigest()}")
    print(f"send {a.bytes} bytes ok in {secs:.2f} s: {rate(a.bytes, secs)} sha256 {h.hexdigest()[:16]}")


def do_recv(a):
    t0 = time.monotonic()
    s = dial(a)
    s.sendall(f"SRC {a.bytes} {a.seed}\n".encode())
    chk = Checker(a.seed, a.bytes)
    while True:
        b = s.recv(256 << 10)
        if not b:
            break
        chk.feed(b)
        if chk.mismatch >= 0:
            break
    secs = time.monotonic() - t0
    s.close()
    if not chk.ok():
        raise SystemExit(f"FAIL recv: got {chk.count} of {a.bytes} bytes, first mismatch at {chk.mismatch}")
    sha = chk.sha.hexdigest()  # every byte was compared with the seeded stream already
    print(f"recv {a.bytes} bytes ok in {secs:.2f} s: {rate(a.bytes, secs)} sha256 {sha[:16]}")


def do_connect(a):
    fam, addr = endpoint(a.to)
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(a.timeout)
    t0 = time.monotonic()
    try:
        s.connect(addr)
        name = "OK"
    except socket.timeout:
        name = "TIMEOUT"
    except OSError as e:
        name = errno.errorcode.get(e.errno, str(e.errno))
    ms = (time.monotonic() - t0) * 1000
    s.close()
    print(f"{name} {ms:.1f}")
    if a.expect and name not in a.expect.split(","):
        sys.exit(1)


def wait_log(path, prefix, secs=10.0):
    """The server's verdict line for this connection (the server logs it when it is done)."""
    end = time.monotonic() + secs
    while time.monotonic() < end:
        if os.path.exists(path):
            for line in open(path):
                if line.startswith(prefix):
                    return line.strip()
        time.sleep(0.05)
    return None


def do_halfclose(a):
    s = dial(a)
    if a.who == "client":
        # We send our FIN first; the server only starts sending once it has seen it.
        s.sendall(f"HCS {a.bytes} {a.seed}\n".encode())
        s.shutdown(socket.SHUT_WR)
        chk = Checker(a.seed, a.bytes)
        while True:
            b = s.recv(256 << 10)
            if not b:
                break
            chk.feed(b)
        s.close()
        if not chk.ok():
            raise SystemExit(f"FAIL: after our FIN got {chk.count} of {a.bytes}, mismatch at {chk.mismatch}")
        print(f"client FIN first, then received {chk.count} bytes ok")
        return
    tag = f"{os.getpid()}-{random.randrange(1 << 30)}"
    s.sendall(f"HCR {a.bytes} {a.seed} {tag}\n".encode())
    if s.recv(100) != b"":  # the server's FIN comes before any data from us
        raise SystemExit("FAIL: expected the server's FIN")
    src = Seeded(a.seed, a.bytes)
    while True:
        b = src.take(CHUNK)
        if not b:
            break
        s.sendall(b)
    s.shutdown(socket.SHUT_WR)
    verdict = wait_log(a.server_log, f"HCR {tag} ")
    s.close()
    if verdict is None or " ok " not in verdict + " ":
        raise SystemExit(f"FAIL: server verdict {verdict!r}")
    print(f"server FIN first, then sent {a.bytes} bytes: {verdict}")


def do_reset(a):
    s = dial(a)
    if a.who == "server":
        s.sendall(b"RST\n")
        got = b""
        try:
            while True:
                b = s.recv(100)
                if not b:
                    raise SystemExit(f"FAIL: clean EOF (after {got!r}) instead of a reset")
                got += b
        except ConnectionResetError:
            print(f"ECONNRESET after {got!r}")
            return
    tag = f"{os.getpid()}-{random.randrange(1 << 30)}"
    s.sendall(f"WAIT {tag}\n".encode())
    got = b""
    while not got.endswith(b"\n"):
        b = s.recv(100)
        if not b:
            raise SystemExit("FAIL: EOF before ready")
        got += b
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    s.close()  # abort: our kernel sends RST
    verdict = wait_log(a.server_log, f"WAIT {tag} ")
    if verdict is None or not verdict.endswith(" reset"):
        raise SystemExit(f"FAIL: server verdict {verdict!r}")
    print(f"server saw: {verdict}")


# ------------------------------------------------------------------------------------------------
# many: K concurrent connections


def do_many(a):
    limit = raise_nofile()
    if limit < a.count + 64:
        raise SystemExit(f"FAIL: RLIMIT_NOFILE {limit} too small for {a.count} connections")
    fam, addr = endpoint(a.to)
    sel = selectors.DefaultSelector()
    # per connection: [sock, state, buffer]; states: connecting, echoing, open, closing, closed
    conns = {}
    errors = {}
    mismatches = 0
    next_i = 0
    connecting = 0
    phase_done = {"connecting": 0, "echoed": 0, "eof": 0}
    t0 = time.monotonic()
    deadline = t0 + a.timeout

    def err(i, name):
        errors[name] = errors.get(name, 0) + 1
        c = conns.pop(i)
        try:
            sel.unregister(c[0])
        except KeyError:
            pass
        c[0].close()

    def msg(i):
        return f"hello {i:06d} {(i * 2654435761) % 1000003:07d} from the app ns\n".encode()

    while time.monotonic() < deadline:
        while next_i < a.count and connecting < a.window:
            s = socket.socket(fam, socket.SOCK_STREAM)
            s.setblocking(False)
            rc = s.connect_ex(addr)
            i = next_i
            next_i += 1
            conns[i] = [s, "connecting", b""]
            if rc not in (0, errno.EINPROGRESS):
                sel.register(s, selectors.EVENT_WRITE, i)
                err(i, errno.errorcode.get(rc, str(rc)))
                continue
            connecting += 1
            sel.register(s, selectors.EVENT_WRITE, i)
        if next_i == a.count and phase_done["echoed"] + sum(errors.values()) >= a.count:
            break
        for key, ev in sel.select(0.5):
            i = key.data
            c = conns[i]
            s = c[0]
            if c[1] == "connecting":
                connecting -= 1
                e = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if e:
                    err(i, errno.errorcode.get(e, str(e)))
                    continue
                try:
                    s.send(b"ECHO\n" + msg(i))
                except OSError as ex:
                    err(i, errno.errorcode.get(ex.errno, str(ex)))
                    continue
                c[1] = "echoing"
                sel.modify(s, selectors.EVENT_READ, i)
            elif c[1] == "echoing":
                try:
                    b = s.recv(4096)
                except OSError as ex:
                    err(i, errno.errorcode.get(ex.errno, str(ex)))
                    continue
                if not b:
                    err(i, "EOF")
                    continue
                c[2] += b
                m = msg(i)
                if len(c[2]) >= len(m):
                    if c[2] != m:
                        mismatches += 1
                    c[1] = "open"
                    c[2] = b""
                    sel.unregister(s)
                    phase_done["echoed"] += 1
                    if a.progress and phase_done["echoed"] % a.progress == 0:
                        print(f"many: {phase_done['echoed']} echoed after {time.monotonic() - t0:.2f} s",
                              flush=True)
    t_open = time.monotonic() - t0
    opened = sum(1 for c in conns.values() if c[1] == "open")
    print(f"many: {opened} of {a.count} open at once after {t_open:.2f} s "
          f"(errors {errors or 'none'}, mismatches {mismatches})", flush=True)
    if a.ready:
        with open(a.ready + ".tmp", "w") as f:
            f.write(f"{opened}\n")
        os.rename(a.ready + ".tmp", a.ready)
    hold_end = time.monotonic() + a.hold
    while time.monotonic() < hold_end:
        if a.release and os.path.exists(a.release):
            break
        time.sleep(0.05)

    # Close cleanly: our FIN on every connection, then wait for the server's FIN on each.
    t1 = time.monotonic()
    deadline = t1 + a.timeout
    waiting = 0
    for i, c in list(conns.items()):
        if c[1] != "open":
            continue
        try:
            c[0].shutdown(socket.SHUT_WR)
        except OSError as ex:
            err(i, "shutdown " + errno.errorcode.get(ex.errno, str(ex)))
            continue
        c[1] = "closing"
        sel.register(c[0], selectors.EVENT_READ, i)
        waiting += 1
    clean = 0
    while waiting and time.monotonic() < deadline:
        for key, _ in sel.select(0.5):
            i = key.data
            c = conns[i]
            try:
                b = c[0].recv(4096)
            except OSError as ex:
                waiting -= 1
                err(i, "close " + errno.errorcode.get(ex.errno, str(ex)))
                continue
            waiting -= 1
            if b:
                err(i, "data after FIN")
                continue
            clean += 1
            sel.unregister(c[0])
            c[1] = "closed"
    for c in conns.values():
        c[0].close()
    t_close = time.monotonic() - t1
    if waiting:
        errors["close timeout"] = waiting
    print(f"many: {clean} closed cleanly (FIN both ways) in {t_close:.2f} s; errors {errors or 'none'}")
    if opened != a.count or clean != a.count or mismatches or errors:
        sys.exit(1)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("serve")
    p.add_argument("--bind", action="append", required=True)
    p.add_argument("--backlog", type=int, default=4096)
    p.add_argument("--log")
    p.add_argument("--ready")
    p.add_argument("--lifetime", type=float, default=600)
    for name in ("send", "recv", "many", "connect", "halfclose", "reset"):
        p = sub.add_parser(name)
        p.add_argument("--to", required=True)
        p.add_argument("--timeout", type=float, default=60)
        p.add_argument("--bytes", type=int, default=1 << 20)
        p.add_argument("--seed", type=int, default=1)
        if name == "many":
            p.add_argument("--count", type=int, required=True)
            p.add_argument("--window", type=int, default=256, help="connects in flight at most")
            p.add_argument("--ready")
            p.add_argument("--release")
            p.add_argument("--hold", type=float, default=0)
            p.add_argument("--progress", type=int, default=0, help="report every this many connections")
        if name == "connect":
            p.add_argument("--expect", help="comma-separated errno names (or OK) that pass")
        if name in ("halfclose", "reset"):
            p.add_argument("--who", choices=["client", "server"], required=True)
            p.add_argument("--server-log")
    a = ap.parse_args()
    if a.cmd == "serve":
        Server(a).run()
        return
    {"send": do_send, "recv": do_recv, "many": do_many, "connect": do_connect,
     "halfclose": do_halfclose, "reset": do_reset}[a.cmd](a)


if __name__ == "__main__":
    main()
