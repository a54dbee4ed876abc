#!/usr/bin/env bash
# Shared helpers for namespace integration tests. Source it, then use ns_add / spawn / expect_*.
# Safety: hosts live only in namespaces this test creates, on 198.18.0.0/15 and fd00::/8; none gets
# a route out of the machine. Everything created is torn down on exit, pass or fail; processes are
# ended by the PIDs we started (never by name).
set -euo pipefail

# A short, unique suffix so parallel or leftover runs never collide: ts<pid%100000>
TS_ID=${TS_ID:-t$(( $$ % 100000 ))}
_ns_list=()
_pid_list=()
_tmp_dir=$(mktemp -d "/tmp/tunstack-it.${TS_ID}.XXXX")
TS_FAILS=0

ts_tmp() { echo "$_tmp_dir"; }

cleanup() {
  local rc=$?
  set +e
  for pid in "${_pid_list[@]}"; do
    kill -TERM "$pid" 2>/dev/null
  done
  for pid in "${_pid_list[@]}"; do
    for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
  for ns in "${_ns_list[@]}"; do
    ip netns pids "$ns" 2>/dev/null | while read -r p; do kill -KILL "$p" 2>/dev/null; done
    ip netns del "$ns" 2>/dev/null
  done
  rm -rf "$_tmp_dir"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ns_add NAME [VAR]: creates namespace "${TS_ID}-NAME" with lo up, records it for cleanup, and
# stores its full name in VAR (and echoes it). Call it in this shell, never as $(ns_add ...): a
# subshell's record is lost and the namespace would outlive the test.
ns_add() {
  local ns="${TS_ID}-$1"
  ip netns add "$ns"
  _ns_list+=("$ns")
  ip -n "$ns" link set lo up
  if [ -n "${2:-}" ]; then printf -v "$2" '%s' "$ns"; else echo "$ns"; fi
}

# veth_pair NS_A IF_A ADDR_A NS_B IF_B ADDR_B [ADDR6_A ADDR6_B]: a link between two namespaces.
veth_pair() {
  local na=$1 ia=$2 aa=$3 nb=$4 ib=$5 ab=$6 a6=${7:-} b6=${8:-}
  ip link add "$ia" netns "$na" type veth peer name "$ib" netns "$nb"
  ip -n "$na" addr add "$aa" dev "$ia"
  ip -n "$nb" addr add "$ab" dev "$ib"
  if [ -n "$a6" ]; then
    ip -n "$na" addr add "$a6" dev "$ia" nodad
    ip -n "$nb" addr add "$b6" dev "$ib" nodad
  fi
  ip -n "$na" link set "$ia" up
  ip -n "$nb" link set "$ib" up
}

# spawn NS CMD...: start a background process in a namespace ("-" = this one); sets SPAWNED_PID.
spawn() {
  local ns=$1; shift
  if [ "$ns" = "-" ]; then "$@" & else ip netns exec "$ns" "$@" & fi
  SPAWNED_PID=$!
  _pid_list+=("$SPAWNED_PID")
}

# wait_for SECONDS CMD...: retry CMD every 0.1 s until it succeeds or time runs out.
wait_for() {
  local secs=$1; shift
  local end=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -ge $end ] && return 1
    sleep 0.1
  done
}

# check NAME CMD...: run one assertion; prints "ok NAME" or "FAIL NAME" and counts failures.
check() {
  local name=$1; shift
  if "$@"; then echo "ok   $name"; else echo "FAIL $name"; TS_FAILS=$((TS_FAILS + 1)); fi
}

# finish: exit non-zero if any check failed.
finish() {
  if [ "$TS_FAILS" -ne 0 ]; then echo "$TS_FAILS check(s) failed"; exit 1; fi
  echo "all checks passed"
}

require_root() {
  if [ "$(id -u)" -ne 0 ]; then echo "SKIP: needs root (network namespaces)"; exit 77; fi
}
