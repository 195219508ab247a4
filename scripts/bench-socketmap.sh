#!/usr/bin/env bash
# Socketmap figures for docs/BENCHMARKS.md: starts the loopback test world
# and daned with --socketmap-listen (its log going to a file), warms the
# decision layer's cache with one lookup per key, then measures cached
# QUERY lookups with the project's socketmap load client
# (internal/cmd/smload), one request in flight per connection as Postfix
# sends them, at 1, 50 and 2,000 connections, for each log level.
# Everything stays on loopback; every run is bounded by a request count
# and a time limit.
#
# BENCH_N (default 200000) requests per run, each run also bounded by
# BENCH_SECONDS (10); BENCH_CONNS ("1 50 2000"); BENCH_LEVELS ("info
# warn"); BENCH_KEYS ("ee-spki.test": a DANE domain, OK dane-only).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${BENCH_N:-200000}
CONNS=${BENCH_CONNS:-1 50 2000}
LEVELS=${BENCH_LEVELS:-info warn}
KEYS=${BENCH_KEYS:-ee-spki.test}
SECONDS_PER_RUN=${BENCH_SECONDS:-10}
go build -o bin/smload ./internal/cmd/smload
work=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT INT TERM

./bin/demo -env "$work/world.env" >"$work/world.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 300); do [ -s "$work/world.env" ] && break; sleep 0.1; done
[ -s "$work/world.env" ] || { echo "the test world did not start:"; cat "$work/world.log"; exit 1; }
# shellcheck disable=SC1091
source "$work/world.env"
export DANED_RESOLVER DANED_PROBE_PORT DANED_PROBE_ALLOW DANED_MTA_STS_PORT SSL_CERT_FILE
# The state store (MTA-STS policies) of the daned under test, not the system's.
export DANED_STATE_DIR="$work/state"
ulimit -n 65536 2>/dev/null || true

echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), $(go version | cut -d' ' -f3)"
for level in $LEVELS; do
	free() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
	grpc=127.0.0.1:$(free)
	sm=127.0.0.1:$(free)
	./bin/daned --listen "$grpc" --socketmap-listen "$sm" --log-level "$level" --metrics-listen "" 2>"$work/daned-$level.log" &
	dpid=$!
	pids+=($dpid)
	for _ in $(seq 1 100); do ./bin/smload -addr "$sm" -domains "$KEYS" -n 1 -c 1 >/dev/null 2>&1 && break; sleep 0.1; done
	for c in $CONNS; do
		echo
		echo "## daned --log-level $level (stderr to a file), $KEYS, $c connections"
		./bin/smload -addr "$sm" -domains "$KEYS" -n "$N" -c "$c" -max-time "${SECONDS_PER_RUN}s"
	done
	kill "$dpid"
	wait "$dpid" 2>/dev/null || true
done
