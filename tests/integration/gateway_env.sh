#!/usr/bin/env bash
# The three-namespace topology that the integration tests and the sandbox share. Source after
# lib.sh. gw_up [tunstackd flags...] builds:
#
#   app ns                      gateway ns                       server ns
#   198.18.0.2/24, fd00::2/64   tunstackd (its sockets live here)  198.19.0.2/24 (+ .3), fd00:19::2/64 (+ ::3)
#   default via ts0 (TUN)  ===> TUN fd ... veth gw0 198.19.0.1 <=> veth srv0
#
# The TUN is created by tunstackd in the gateway namespace and then moved into the app namespace,
# so the daemon's own sockets can never loop back into it. No namespace has a route off the box.
: "${TUNSTACKD:?set TUNSTACKD to the tunstackd binary}"

gw_up() {
  ns_add app NS_APP
  ns_add gw NS_GW
  ns_add srv NS_SRV
  veth_pair "$NS_GW" gw0 198.19.0.1/24 "$NS_SRV" srv0 198.19.0.2/24 fd00:19::1/64 fd00:19::2/64
  ip -n "$NS_SRV" addr add 198.19.0.3/24 dev srv0
  ip -n "$NS_SRV" addr add fd00:19::3/64 dev srv0 nodad
  # Forwarded pings leave through ping sockets; allow them for root in our own namespace only.
  ip netns exec "$NS_GW" sysctl -qw net.ipv4.ping_group_range="0 2147483647"
  GW_STATS="$(ts_tmp)/stats.prom"
  GW_LOG="$(ts_tmp)/tunstackd.log"
  gw_start "$@"
}

# gw_start [tunstackd flags...]: starts tunstackd in the gateway namespace and moves its TUN
# into the app namespace, addressed and routed (gw_up calls it; gw_restart reuses it).
gw_start() {
  spawn "$NS_GW" "$TUNSTACKD" --tun ts0 --stats-file "$GW_STATS" --stats-interval 100ms "$@"
  GW_PID=$SPAWNED_PID
  if ! wait_for 10 ip -n "$NS_GW" link show ts0; then
    echo "tunstackd did not create ts0"; return 1
  fi
  ip -n "$NS_GW" link set ts0 netns "$NS_APP"
  ip -n "$NS_APP" link set ts0 up
  ip -n "$NS_APP" addr add 198.18.0.2/24 dev ts0
  ip -n "$NS_APP" addr add fd00::2/64 dev ts0 nodad
  ip -n "$NS_APP" route add default dev ts0
  ip -n "$NS_APP" -6 route add default dev ts0
  wait_for 15 test -s "$GW_STATS"
}

# gw_restart [tunstackd flags...]: ends the running daemon (by its PID) and starts a new one
# with these flags on the same namespaces.
gw_restart() {
  kill -TERM "$GW_PID" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$GW_PID" 2>/dev/null || break; sleep 0.1; done
  wait "$GW_PID" 2>/dev/null || true
  rm -f "$GW_STATS"
  gw_start "$@"
}

# counter NAME: the current value of tunstack_NAME in the stats file (0 if absent).
counter() {
  local v
  v=$(awk -v n="tunstack_$1" '$1 == n { print $2 }' "$GW_STATS" 2>/dev/null)
  echo "${v:-0}"
}

# snapshot; snap NAME: freeze the counters once, so related values come from the same instant.
snapshot() { cp "$GW_STATS" "$(ts_tmp)/snap.prom"; }
snap() {
  local v
  v=$(awk -v n="tunstack_$1" '$1 == n { print $2 }' "$(ts_tmp)/snap.prom")
  echo "${v:-0}"
}

# fresh_stats: give the daemon time to rewrite the stats file (it does so every 100 ms).
fresh_stats() { sleep 0.4; }

# app CMD...: run a command in the app namespace.
app() { ip netns exec "$NS_APP" "$@"; }
srv() { ip netns exec "$NS_SRV" "$@"; }
