#!/usr/bin/env bash
# TLS-RPT ingest figures for docs/BENCHMARKS.md: daned with --tlsrpt and
# --tlsrpt-socket (its state store in a temporary directory), then a
# burst of Postfix TLSRPT datagrams from internal/cmd/dgload at a fixed
# rate, then daned's own counts from its metrics: datagrams accepted,
# refused and dropped unparsed, and what the kernel refused at the
# sender. Then the gRPC and aggregation benchmarks.
#
# BENCH_RATE (20000 datagrams/s), BENCH_SECONDS (60). On Linux the
# socket queues net.unix.max_dgram_qlen datagrams (10 by default), which
# docs/TLSRPT.md says to raise on a busy host: BENCH_QLEN=1024 runs the
# whole benchmark (as root) in a network namespace of its own with that
# value, leaving the machine's own setting alone.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -n "${BENCH_QLEN:-}" ] && [ -z "${BENCH_IN_NETNS:-}" ]; then
	exec unshare -n env BENCH_IN_NETNS=1 "$0" "$@"
fi
if [ -n "${BENCH_IN_NETNS:-}" ]; then
	ip link set lo up
	sysctl -qw net.unix.max_dgram_qlen="$BENCH_QLEN"
fi
RATE=${BENCH_RATE:-20000}
SECS=${BENCH_SECONDS:-60}
make -s build >/dev/null
go build -o bin/dgload ./internal/cmd/dgload
work=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT INT TERM
free() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
metrics=127.0.0.1:$(free)
./bin/daned --listen 127.0.0.1:0 --metrics-listen "$metrics" --state-dir "$work/state" --mta-sts=false \
	--tlsrpt --tlsrpt-org Bench --tlsrpt-contact mailto:bench@bench.test --tlsrpt-submitter bench.test \
	--tlsrpt-socket "$work/tlsrpt.sock" 2>"$work/daned.log" &
pids+=($!)
for _ in $(seq 1 100); do [ -S "$work/tlsrpt.sock" ] && break; sleep 0.1; done
echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(nproc) cores, $(go version | cut -d' ' -f3), net.unix.max_dgram_qlen=$(cat /proc/sys/net/unix/max_dgram_qlen), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "## datagrams: $RATE/s for ${SECS}s"
./bin/dgload -socket "$work/tlsrpt.sock" -rate "$RATE" -duration "${SECS}s" -n $((RATE * SECS))
# The collector parses what it read; its counters settle once its queue is empty.
sleep 2
curl -s "http://$metrics/metrics" | grep -E '^dane_tlsrpt_(datagrams|sessions)_total' || true
echo "## gRPC batches and aggregation"
go test ./server -run '^$' -bench BenchmarkReportSessions -benchtime 300x -count 3 | grep Benchmark
go test ./tlsrpt -run '^$' -bench 'BenchmarkAggregator' -benchtime 3x | grep Benchmark
go test ./collector -run '^$' -bench BenchmarkDatagrams -benchtime 200000x | grep Benchmark
