#!/usr/bin/env bash
# The destination guard, end to end: a hostile client behind the TUN cannot reach services on the
# gateway's own host. Listeners (TCP and UDP) run in the gateway namespace on its veth address
# 198.19.0.1; from the app namespace, through tunstackd:
#   - TCP connect is refused at once (RST: ECONNREFUSED), UDP gets ICMP admin-prohibited
#     (a connected socket's recv fails), a ping of that address gets no echo, only the error;
#   - guard_denied_self counts each, and no outbound socket reached the listeners;
#   - the server namespace (198.19.0.2) is still reachable;
#   - restarted with --allow 198.19.0.1:7100-7101 the same listeners answer.
# Usage: guard_test.sh TUNSTACKD
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
require_root
TUNSTACKD=$1
source "$here/gateway_env.sh"
T=$(ts_tmp)
gw_up --log-level warn

# A TCP listener that records connections and a UDP echo, both on the gateway's own address.
cat > "$T/listen.py" <<'PY'
import socket, sys, selectors, os
t = sys.argv[1]
tcp = socket.socket(); tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
tcp.bind(("198.19.0.1", 7100)); tcp.listen(16)
udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); udp.bind(("198.19.0.1", 7101))
open(os.path.join(t, "listening"), "w").close()
sel = selectors.DefaultSelector()
sel.register(tcp, selectors.EVENT_READ); sel.register(udp, selectors.EVENT_READ)
for _ in range(1000):  # bounded
    for key, _ in sel.select(timeout=60):
        if key.fileobj is tcp:
            c, _ = tcp.accept()
            with open(os.path.join(t, "accepted"), "a") as f: f.write("x\n")
            c.sendall(b"hello from the gateway\n"); c.close()
        else:
            data, peer = udp.recvfrom(2048)
            with open(os.path.join(t, "udp_got"), "a") as f: f.write("x\n")
            udp.sendto(data, peer)
PY
spawn "$NS_GW" python3 "$T/listen.py" "$T"
wait_for 10 test -e "$T/listening" || { echo "listener did not start"; exit 1; }

# probe KIND: prints what the app saw reaching 198.19.0.1 through the TUN.
probe() {
  app python3 - "$1" <<'PY'
import errno, socket, sys, time
kind = sys.argv[1]
if kind == "tcp":
    s = socket.socket(); s.settimeout(5)
    t0 = time.monotonic()
    try:
        s.connect(("198.19.0.1", 7100)); print("connected", s.recv(100).decode().strip())
    except OSError as e:
        print("error", errno.errorcode.get(e.errno, e.errno), f"{time.monotonic() - t0:.2f}s")
else:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(3)
    s.connect(("198.19.0.1", 7101))
    try:
        s.send(b"ping"); time.sleep(0.3); s.send(b"ping")
        print("reply", s.recv(100).decode())
    except socket.timeout:
        print("timeout")
    except OSError as e:
        print("error", errno.errorcode.get(e.errno, e.errno))
PY
}

out=$(probe tcp); echo "tcp: $out"
check "TCP to the gateway's own address is refused at once (RST)" sh -c "echo '$out' | grep -Eq '^error ECONNREFUSED 0\\.[0-9]+s'"
out=$(probe udp); echo "udp: $out"
check "UDP to the gateway's own address gets an ICMP error (admin prohibited)" sh -c "echo '$out' | grep -Eq '^error (EHOSTUNREACH|ECONNREFUSED|EACCES)'"
out=$(app ping -c 1 -W 2 198.19.0.1 2>&1 || true); echo "ping: $(echo "$out" | head -2 | tail -1)"
check "a ping of the gateway's own address is not answered" sh -c "echo '$out' | grep -q ' 0 received'"
check "no connection reached the listener" test ! -e "$T/accepted"
check "no datagram reached the listener" test ! -e "$T/udp_got"
fresh_stats
check "guard_denied_self counts the refusals (TCP, UDP, ping)" test "$(counter guard_denied_self)" -ge 3
check "ICMP errors were sent for UDP" test "$(counter icmp_errors_sent)" -ge 1
spawn "$NS_SRV" python3 -c "
import socket; s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('198.19.0.2', 7102)); s.listen(4); open('$T/srv_listening', 'w').close()
c, _ = s.accept(); c.sendall(b'server here\n'); c.close()"
wait_for 10 test -e "$T/srv_listening"
check "the server namespace is still reachable" sh -c "ip netns exec $NS_APP python3 -c \"
import socket; s = socket.create_connection(('198.19.0.2', 7102), timeout=3); print(s.recv(100).decode())\" | grep -q 'server here'"

gw_restart --log-level warn --allow "198.19.0.1:7100-7101"
out=$(probe tcp); echo "tcp (allowed): $out"
check "with --allow the TCP listener answers" sh -c "echo '$out' | grep -q 'connected hello from the gateway'"
out=$(probe udp); echo "udp (allowed): $out"
check "with --allow the UDP listener answers" sh -c "echo '$out' | grep -q 'reply ping'"
fresh_stats
check "nothing denied once allowed" test "$(counter guard_denied_self)" -eq 0
finish
