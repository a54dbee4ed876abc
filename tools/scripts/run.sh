#!/usr/bin/env bash
# The run command: installs what is missing, builds, and runs the gateway in a network-namespace
# sandbox with real traffic through it (see tools/scripts/sandbox.sh). Extra arguments go to the
# sandbox, e.g. `run.sh --hold 60` to keep it up for a minute.
set -euo pipefail
cd "$(dirname "$0")/../.."
tools/scripts/deps.sh run
[ -d build ] || meson setup build -Dbuildtype=release >/dev/null
ninja -C build tools/tunstackd
exec bash tools/scripts/sandbox.sh "$PWD/build/tools/tunstackd" "$@"
