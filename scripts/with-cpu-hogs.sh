#!/usr/bin/env bash
# Run a command with N CPU-bound processes beside it (default 2), stopped afterwards
# whatever the command does: `scripts/with-cpu-hogs.sh 2 make test`.
set -uo pipefail
n=${1:?usage: with-cpu-hogs.sh N COMMAND...}
shift
pids=()
for _ in $(seq "$n"); do
    python3 -c 'while True: pass' &
    pids+=($!)
done
trap 'kill "${pids[@]}" 2>/dev/null' EXIT
echo "with-cpu-hogs: $n busy processes beside: $*" >&2
"$@"
