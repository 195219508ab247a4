#!/usr/bin/env bash
# Figures of the shared store (Redis) for docs/BENCHMARKS.md, on loopback
# only: the test world (internal/cmd/demo, with Unbound), one
# redis-server of its own (no persistence) and daned replicas.
#
# 1. Cached throughput of one replica with --redis against without: a
#    warm verdict is a local hit, which should not touch Redis at all.
#    The lean client (internal/cmd/loadclient) alternates the two
#    replicas BENCH_REPEAT times per caller count, so that a neighbour's
#    load hits both alike: compare pairs.
# 2. Latency the second level adds on a local miss: one caller asks two
#    domains in turn of a replica whose verdict cache holds one entry
#    (--cache-size 1), so that every call misses locally and is answered
#    from Redis (GET, HMAC check, decoding); against the same two domains
#    on a replica with a large cache (every call a local hit).
# 3. Cold-request cost across 3 replicas: the end-to-end test that sends
#    300 concurrent cold requests over three replicas and counts the
#    probes per address and queries per RRset at the destination.
# 4. What the second level adds to a miss at both levels: one replica
#    validates a domain it has just invalidated, alone and with Redis
#    (BenchmarkColdValidate in cmd/daned).
#
# BENCH_N (200000) calls per run, each run also bounded by BENCH_SECONDS
# (10); BENCH_REPEAT (3); BENCH_CALLERS ("1 50"); BENCH_DOMAIN (ta.test);
# BENCH_MISS_DOMAINS (ta.test,ee-spki.test); BENCH_COLD=0 skips 3 and 4.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${BENCH_N:-200000}
SECONDS_PER_RUN=${BENCH_SECONDS:-10}
REPEAT=${BENCH_REPEAT:-3}
CALLERS=${BENCH_CALLERS:-1 50}
DOMAIN=${BENCH_DOMAIN:-ta.test}
MISS_DOMAINS=${BENCH_MISS_DOMAINS:-ta.test,ee-spki.test}
REDIS=${REDIS_SERVER:-/usr/bin/redis-server}
[ -x "$REDIS" ] || { echo "$REDIS is missing: apt-get install redis-server"; exit 1; }
work=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT INT TERM
free() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

go build -o "$work/daned" ./cmd/daned
go build -o "$work/demo" ./internal/cmd/demo
go build -o "$work/loadclient" ./internal/cmd/loadclient

"$work/demo" -env "$work/world.env" >"$work/world.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 300); do [ -s "$work/world.env" ] && break; sleep 0.1; done
[ -s "$work/world.env" ] || { echo "the test world did not start:"; cat "$work/world.log"; exit 1; }
# shellcheck disable=SC1091
source "$work/world.env"
export DANED_RESOLVER DANED_PROBE_PORT DANED_PROBE_ALLOW DANED_MTA_STS_PORT SSL_CERT_FILE
export DANED_STATE_DIR=""

rport=$(free)
"$REDIS" --bind 127.0.0.1 --port "$rport" --save '' --appendonly no --daemonize no --dir "$work" --logfile "$work/redis.log" &
pids+=($!)
for _ in $(seq 1 100); do python3 -c "import socket; socket.create_connection(('127.0.0.1',$rport),1)" 2>/dev/null && break; sleep 0.1; done
head -c 32 /dev/urandom | base64 >"$work/secret"
shared=(--redis "redis://127.0.0.1:$rport" --shared-secret "$work/secret")

# start NAME ARGS...: a daned on a free port, its address in $addr and
# its pid in $dpid once it answers.
start() {
	local name=$1
	shift
	addr=127.0.0.1:$(free)
	metrics=127.0.0.1:$(free)
	"$work/daned" --listen "$addr" --metrics-listen "$metrics" --log-level warn --probe-timeout 10s --probe-step-timeout 3s "$@" 2>"$work/daned-$name.log" &
	dpid=$!
	pids+=($dpid)
	for _ in $(seq 1 100); do "$work/loadclient" -addr "$addr" -call health -n 1 -c 1 -connections 1 >/dev/null 2>&1 && return; sleep 0.1; done
	echo "daned $name did not start:"
	cat "$work/daned-$name.log"
	exit 1
}
start alone
alone=$addr alone_pid=$dpid
start shared "${shared[@]}"
shared_addr=$addr shared_pid=$dpid
start miss "${shared[@]}" --cache-size 1
miss=$addr miss_pid=$dpid miss_metrics=$metrics

echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), $(go version | cut -d' ' -f3), $("$REDIS" --version | cut -d' ' -f1-3), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "## 1. cached Validate of $DOMAIN: one replica without Redis, and with --redis"
for c in $CALLERS; do
	echo "### $c callers"
	for _ in $(seq 1 "$REPEAT"); do
		for which in alone shared; do
			if [ $which = alone ]; then a=$alone p=$alone_pid; else a=$shared_addr p=$shared_pid; fi
			printf '%-7s ' $which
			"$work/loadclient" -raw -server-pid "$p" -addr "$a" -call validate -domain "$DOMAIN" -n "$N" -c "$c" -connections "$((c < 4 ? c : 4))" -max-time "${SECONDS_PER_RUN}s"
		done
	done
done

echo
echo "## 2. a local miss answered from Redis: one caller, $MISS_DOMAINS in turn"
for _ in $(seq 1 "$REPEAT"); do
	printf '%-11s ' local-hit
	"$work/loadclient" -raw -server-pid "$shared_pid" -addr "$shared_addr" -call validate -domain "$MISS_DOMAINS" -n "$((N / 10))" -c 1 -connections 1 -max-time "${SECONDS_PER_RUN}s"
	printf '%-11s ' redis-hit
	"$work/loadclient" -raw -server-pid "$miss_pid" -addr "$miss" -call validate -domain "$MISS_DOMAINS" -n "$((N / 10))" -c 1 -connections 1 -max-time "${SECONDS_PER_RUN}s"
done
echo "the miss replica's shared-store counters (every call should be a hit):"
curl -s "http://$miss_metrics/metrics" | grep -E '^dane_shared_(lookups|errors|skipped)_total' |
	sed -E 's/otel_scope_[a-z_]+="[^"]*",?//g; s/\{\}//; s/^/  /' || true
printf 'redis-server round trip (redis-cli --latency for 1 s: min max avg in ms, samples): '
if command -v redis-cli >/dev/null; then
	timeout 30 redis-cli -p "$rport" --latency -i 1 --raw 2>/dev/null | head -1 || true
else
	echo "redis-cli missing"
fi

if [ "${BENCH_COLD:-1}" != 0 ]; then
	echo
	echo "## 3. 300 concurrent cold requests over 3 replicas sharing Redis: cost at the destination"
	go test -count=1 -run 'TestReplicasShareColdRequests|TestReplicasWithoutRedisEachValidate' -v ./cmd/daned/ 2>&1 |
		grep -E '^(--- |ok|FAIL)|RRsets asked' | sed 's/^ *//'
	echo
	echo "## 4. a miss at both levels: Invalidate, then Validate on one replica, alone and with Redis"
	go test -run '^$' -bench ColdValidate -benchtime 200x -count 3 ./cmd/daned/ 2>&1 | grep -E '^Benchmark'
fi
