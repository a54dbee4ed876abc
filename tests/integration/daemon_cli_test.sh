#!/usr/bin/env bash
# tunstackd's front door: bad flags and bad config lines exit 2 with a message naming the
# problem; a missing device or missing privileges exit 3 with a message that says what to do.
# Usage: daemon_cli_test.sh TUNSTACKD
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
D=$1
T=$(ts_tmp)

expect_exit() {  # expect_exit CODE PATTERN CMD...: exit code and a stderr line matching PATTERN
  local code=$1 pattern=$2; shift 2
  local rc=0
  "$@" >"$T/out" 2>&1 || rc=$?
  if [ "$rc" -ne "$code" ]; then echo "exit $rc, wanted $code:"; cat "$T/out"; return 1; fi
  grep -qE -- "$pattern" "$T/out" || { echo "no line matching '$pattern' in:"; cat "$T/out"; return 1; }
}

check "unknown flag" expect_exit 2 "--frobnicate" "$D" --frobnicate
check "bad number" expect_exit 2 "--mtu .* 576 to 65535" "$D" --tun x --mtu 12
check "bad duration" expect_exit 2 "udp-idle-timeout.*duration" "$D" --tun x --udp-idle-timeout soon
printf '[nat]\nmax_mapings = 5\n' >"$T/typo.toml"
check "config typo names file, line and key" expect_exit 2 "typo.toml:2: unknown setting 'nat.max_mapings'" \
  "$D" --config "$T/typo.toml"
check "unknown outbound lists the choices" expect_exit 2 "unknown outbound 'nope'; available:.*direct" \
  "$D" --tun-fd 0 --outbound nope --check-config
check "check-config accepts the example" expect_exit 0 "settings OK" \
  "$D" --config "$here/../../tools/tunstackd/examples/tunstackd.toml" --check-config
check "list outbounds" expect_exit 0 "^direct .*kernel sockets" "$D" --list-outbounds
check "adopting a closed fd" expect_exit 3 "cannot open the TUN device" "$D" --tun-fd 987
if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null; then
  check "no CAP_NET_ADMIN says so" expect_exit 3 "CAP_NET_ADMIN" \
    setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all "$D" --tun tsnopriv0
fi
finish
