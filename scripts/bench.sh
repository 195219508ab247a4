#!/usr/bin/env bash
# Load figures for docs/BENCHMARKS.md: starts the loopback test world and
# daned (its verdict log going to a file, never a terminal), warms the
# cache with one Validate, then measures cached Validate against the
# empty-handler ceiling grpc.health.v1.Health/Check on the same server,
# with ghz and with the lean Go client (internal/cmd/loadclient), at
# --log-level info and warn. Everything stays on loopback; every run is
# bounded by a call count (-n) and a time limit.
#
# BENCH_N (default 200000) calls per run, each run also bounded by
# BENCH_SECONDS (10); BENCH_REPEAT (3) pairs of lean client runs per log
# level, domain and caller count; BENCH_DOMAINS ("ta.test nullmx.test": a
# DANE verdict with a two-certificate chain, and a small one);
# BENCH_CALLERS ("1 10 50"); BENCH_LEVELS ("info warn"); BENCH_GHZ=0
# skips ghz. The lean client runs with -raw: it keeps each response's
# bytes without decoding them.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${BENCH_N:-200000}
DOMAINS=${BENCH_DOMAINS:-${BENCH_DOMAIN:-ta.test nullmx.test}}
CALLERS=${BENCH_CALLERS:-1 10 50}
LEVELS=${BENCH_LEVELS:-info warn}
SECONDS_PER_RUN=${BENCH_SECONDS:-10}
REPEAT=${BENCH_REPEAT:-3}
GHZ=${GHZ:-$(go env GOPATH)/bin/ghz}
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

echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), $(go version | cut -d' ' -f3)"
for level in $LEVELS; do
	port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	addr=127.0.0.1:$port
	./bin/daned --listen "$addr" --log-level "$level" --probe-timeout 10s --probe-step-timeout 3s 2>"$work/daned-$level.log" &
	dpid=$!
	pids+=($dpid)
	for _ in $(seq 1 100); do ./bin/loadclient -addr "$addr" -call health -n 1 -c 1 -connections 1 >/dev/null 2>&1 && break; sleep 0.1; done
	for DOMAIN in $DOMAINS; do
		# Warm the verdict cache.
		./bin/danectl check --server "$addr" "$DOMAIN" >/dev/null || true
		for c in $CALLERS; do
			echo
			echo "## daned --log-level $level (stderr to a file), $DOMAIN, $c callers"
			# Alternate the two calls BENCH_REPEAT times, so that a
			# neighbour's load on the machine hits both alike; compare
			# pairs, not single runs.
			for _ in $(seq 1 "$REPEAT"); do
				for call in health validate; do
					./bin/loadclient -raw -server-pid "$dpid" -addr "$addr" -call "$call" -domain "$DOMAIN" -n "$N" -c "$c" -connections "$(( c < 4 ? c : 4 ))" -max-time "${SECONDS_PER_RUN}s"
				done
			done
		done
		if [ "${BENCH_GHZ:-1}" != 0 ] && [ -x "$GHZ" ]; then
			for call in health validate; do
				if [ "$call" = health ]; then
					args=(--call grpc.health.v1.Health/Check -d '{}')
				else
					args=(--proto proto/dane/v1/dane.proto --import-paths proto --call dane.v1.DaneService/Validate -d "{\"domain\":\"$DOMAIN\"}")
				fi
				echo "ghz $call:"
				"$GHZ" --insecure -n "$N" -c 50 --connections 4 --timeout 20s "${args[@]}" "$addr" |
					grep -E 'Count:|Requests/sec:|Average:|50 % in|99 % in|responses' | tr -s ' \t' ' ' | paste -sd' ' | sed 's/^/  /'
			done
		fi
	done
	echo "verdict log lines written: $(grep -c 'msg=verdict' "$work/daned-$level.log" || true)"
	kill "$dpid"
	wait "$dpid" 2>/dev/null || true
done
