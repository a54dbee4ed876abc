#!/usr/bin/env python3
"""TCP peers for the end-to-end benchmark (python3 stdlib only). Every mode is bounded in time.

serve --bind ADDR:PORT [--ready FILE] [--lifetime S]
    Event-driven server. A connection that sends a request line ("GET\\n") gets a 32-byte
    answer and is closed by the server (so TIME_WAIT lands on the server, like HTTP/1.0);
    any other bytes are echoed and the connection is kept open until the peer closes it.
cps   --dst ADDR:PORT --concurrency C --duration S
    Connections per second: C connections in flight, each connect -> "GET\\n" -> read the
    answer to EOF -> close, back to back for S seconds. Prints one JSON line.
hold  --dst ADDR:PORT --count N --ready FILE --stop FILE [--exchange] [--in-flight K]
    Opens N connections (at most K connecting at once, so a SYN queue is never flooded),
    optionally exchanges one byte each way on each, writes a JSON summary to FILE (atomically)
    and keeps them open, idle, until the stop file exists (or --max-hold seconds pass).
"""
import argparse
import errno
import json
import os
import resource
import selectors
import socket
import time

REQUEST = b"GET\n"
ANSWER = b"tunstack-bench-answer-0123456789"[:32]


def endpoint(s):
    host, _, port = s.rpartition(":")
    host = host.strip("[]")
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    return fam, (host, int(port))


def raise_nofile():
    """10000 idle connections need more descriptors than the default soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def write_atomic(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, path)


# ---------------------------------------------------------------------------------------------
def serve(a):
    raise_nofile()
    fam, addr = endpoint(a.bind)
    ls = socket.socket(fam, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(addr)
    ls.listen(a.backlog)
    ls.setblocking(False)
    sel = selectors.DefaultSelector()
    sel.register(ls, selectors.EVENT_READ, None)
    bufs = {}  # socket -> bytes received so far (until we know which kind of peer it is)
    if a.ready:
        write_atomic(a.ready, "ready\n")
    deadline = time.monotonic() + a.lifetime

    def on_data(c):
        try:
            data = c.recv(4096)
        except BlockingIOError:
            return False
        except OSError:
            data = b""
        if not data:
            return close(c)
        got = bufs.get(c, b"") + data
        if got.startswith(REQUEST):
            try:
                c.send(ANSWER)
            except OSError:
                pass
            return close(c)
        if REQUEST.startswith(got):
            bufs[c] = got  # a request split over segments: wait for the rest
            return False
        bufs[c] = b"x"  # an echo peer: never a request any more
        try:
            c.send(data)
        except OSError:
            return close(c)
        return False

    def close(c):
        try:
            sel.unregister(c)
        except (KeyError, ValueError):
            pass
        bufs.pop(c, None)
        c.close()
        return True

    while time.monotonic() < deadline:
        for key, _ in sel.select(timeout=0.5):
            if key.data is None:
                for _ in range(256):  # drain the accept queue, bounded per wake-up
                    try:
                        c, _peer = ls.accept()
                    except (BlockingIOError, InterruptedError):
                        break
                    except OSError:
                        break
                    c.setblocking(False)
                    sel.register(c, selectors.EVENT_READ, 1)
                    on_data(c)  # the request is often there already: answer without a wake-up
            else:
                on_data(key.fileobj)


# ---------------------------------------------------------------------------------------------
def new_conn(fam, dst):
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.setblocking(False)
    rc = s.connect_ex(dst)
    if rc not in (0, errno.EINPROGRESS):
        s.close()
        return None, rc
    return s, 0


def cps(a):
    raise_nofile()
    fam, dst = endpoint(a.dst)
    sel = selectors.DefaultSelector()
    start = time.monotonic()
    end = start + a.duration
    done = 0
    errors = {}
    lat = []
    state = {}  # socket -> [phase, t0]; phase 0 connecting, 1 awaiting the answer

    def fail(why):
        errors[why] = errors.get(why, 0) + 1

    def launch():
        s, rc = new_conn(fam, dst)
        if s is None:
            fail(errno.errorcode.get(rc, str(rc)))
            return
        state[s] = [0, time.monotonic()]
        sel.register(s, selectors.EVENT_WRITE)

    def finish(s, ok, why=""):
        sel.unregister(s)
        _phase, t0 = state.pop(s)
        s.close()
        now = time.monotonic()
        if ok:
            nonlocal done
            if now <= end:
                done += 1
                lat.append(now - t0)
        else:
            fail(why)

    for _ in range(a.concurrency):
        launch()
    hard_stop = end + 5.0  # stragglers get 5 s, then the run is over whatever they do
    while state and time.monotonic() < hard_stop:
        now = time.monotonic()
        for s, (phase, t0) in list(state.items()):
            if now - t0 > a.conn_timeout:
                finish(s, False, "timeout")
                if now < end:
                    launch()
        for key, ev in sel.select(timeout=0.2):
            s = key.fileobj
            phase = state[s][0]
            if phase == 0:
                err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    finish(s, False, errno.errorcode.get(err, str(err)))
                else:
                    try:
                        s.send(REQUEST)
                        state[s][0] = 1
                        sel.modify(s, selectors.EVENT_READ)
                        continue
                    except OSError as e:
                        finish(s, False, errno.errorcode.get(e.errno, str(e.errno)))
            else:
                try:
                    data = s.recv(4096)
                except BlockingIOError:
                    continue
                except OSError as e:
                    finish(s, False, errno.errorcode.get(e.errno, str(e.errno)))
                    data = None
                if data:
                    continue  # the answer; EOF follows
                if data == b"":
                    finish(s, True)
            if time.monotonic() < end:
                launch()
    for s in list(state):
        finish(s, False, "unfinished")
    lat.sort()

    def pct(p):
        return round(lat[min(len(lat) - 1, int(p * len(lat)))] * 1e3, 3) if lat else None

    print(json.dumps({"conns": done, "seconds": a.duration, "rate": done / a.duration,
                      "errors": errors, "lat_ms_p50": pct(0.50), "lat_ms_p99": pct(0.99),
                      "concurrency": a.concurrency}))


# ---------------------------------------------------------------------------------------------
def hold(a):
    limit = raise_nofile()
    if limit < a.count + 64:
        raise SystemExit(f"RLIMIT_NOFILE {limit} is too low for {a.count} connections")
    fam, dst = endpoint(a.dst)
    sel = selectors.DefaultSelector()
    started = 0
    pending = {}  # socket -> [phase, t0]; 0 connecting, 1 awaiting the echoed byte
    ready = []
    errors = {}
    t_start = time.monotonic()
    deadline = t_start + a.max_open

    def fail(s, why):
        sel.unregister(s)
        pending.pop(s)
        s.close()
        errors[why] = errors.get(why, 0) + 1

    while (started < a.count or pending) and time.monotonic() < deadline:
        while started < a.count and len(pending) < a.in_flight:
            s, rc = new_conn(fam, dst)
            started += 1
            if s is None:
                errors[errno.errorcode.get(rc, str(rc))] = errors.get(errno.errorcode.get(rc, str(rc)), 0) + 1
                continue
            pending[s] = [0, time.monotonic()]
            sel.register(s, selectors.EVENT_WRITE)
        now = time.monotonic()
        for s, (_phase, t0) in list(pending.items()):
            if now - t0 > a.conn_timeout:
                fail(s, "timeout")
        for key, _ev in sel.select(timeout=0.2):
            s = key.fileobj
            if s not in pending:
                continue
            if pending[s][0] == 0:
                err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    fail(s, errno.errorcode.get(err, str(err)))
                    continue
                if not a.exchange:
                    sel.unregister(s)
                    pending.pop(s)
                    ready.append(s)
                    continue
                try:
                    s.send(b"x")
                except OSError as e:
                    fail(s, errno.errorcode.get(e.errno, str(e.errno)))
                    continue
                pending[s][0] = 1
                sel.modify(s, selectors.EVENT_READ)
            else:
                try:
                    data = s.recv(16)
                except BlockingIOError:
                    continue
                except OSError as e:
                    fail(s, errno.errorcode.get(e.errno, str(e.errno)))
                    continue
                if data == b"x":
                    sel.unregister(s)
                    pending.pop(s)
                    ready.append(s)
                else:
                    fail(s, "bad-echo")
    for s in list(pending):
        fail(s, "unfinished")
    summary = {"open": len(ready), "requested": a.count, "errors": errors,
               "open_seconds": round(time.monotonic() - t_start, 3), "exchange": a.exchange}
    write_atomic(a.ready, json.dumps(summary) + "\n")
    stop_at = time.monotonic() + a.max_hold
    while not os.path.exists(a.stop) and time.monotonic() < stop_at:
        time.sleep(0.2)
    for s in ready:
        s.close()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve")
    s.add_argument("--bind", required=True)
    s.add_argument("--ready")
    s.add_argument("--backlog", type=int, default=4096)
    s.add_argument("--lifetime", type=float, default=3600)
    c = sub.add_parser("cps")
    c.add_argument("--dst", required=True)
    c.add_argument("--concurrency", type=int, default=8)
    c.add_argument("--duration", type=float, default=5)
    c.add_argument("--conn-timeout", type=float, default=3)
    h = sub.add_parser("hold")
    h.add_argument("--dst", required=True)
    h.add_argument("--count", type=int, required=True)
    h.add_argument("--in-flight", type=int, default=256)
    h.add_argument("--exchange", action="store_true")
    h.add_argument("--ready", required=True)
    h.add_argument("--stop", required=True)
    h.add_argument("--conn-timeout", type=float, default=10)
    h.add_argument("--max-open", type=float, default=180)
    h.add_argument("--max-hold", type=float, default=300)
    a = p.parse_args()
    {"serve": serve, "cps": cps, "hold": hold}[a.cmd](a)


if __name__ == "__main__":
    main()
