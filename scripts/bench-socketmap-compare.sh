#!/usr/bin/env bash
# Compares daned's socketmap with another socketmap policy server on the
# same machine, the same test world and the same load client: the
# popular Go plugin postfix-tlspol, built from its source tree
# (go build -mod=vendor), whose binary is the first argument. Both
# servers run at once with the same log level, warmed with one lookup;
# each round drives BENCH_N cached lookups of ee-spki.test (a DANE
# domain: "OK dane-only" from both) through one server, then the other,
# at each connection count, so that a slow moment of the machine falls
# on both alike. Prints one line per run with the rate, p50, p99 and the
# server's CPU time per lookup (from /proc), then the medians.
#
#   scripts/bench-socketmap-compare.sh /path/to/postfix-tlspol
#
# BENCH_LEVEL (warn), BENCH_ROUNDS (5), BENCH_CONNS ("1 50"), BENCH_N
# (150000; each run also stops after 10 s). Everything stays on loopback.
set -euo pipefail
cd "$(dirname "$0")/.."
other=${1:?usage: $0 /path/to/postfix-tlspol}
level=${BENCH_LEVEL:-warn}
N=${BENCH_N:-150000}
make -s build >/dev/null
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
export DANED_STATE_DIR="$work/state"
free() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
other_addr=127.0.0.1:$(free)
daned_addr=127.0.0.1:$(free)
cat >"$work/other.yaml" <<YAML
server:
  address: $other_addr
  log-level: $level
  log-format: text
  prefetch: true
  cache-file: $work/other-cache.db
dns:
  address: $DANED_RESOLVER
YAML
"$other" -config "$work/other.yaml" >"$work/other.log" 2>&1 &
other_pid=$!
pids+=($other_pid)
./bin/daned --listen 127.0.0.1:0 --socketmap-listen "$daned_addr" --log-level "$level" --metrics-listen "" 2>"$work/daned.log" &
daned_pid=$!
pids+=($daned_pid)
for a in "$other_addr" "$daned_addr"; do
	for _ in $(seq 1 100); do ./bin/smload -addr "$a" -domains ee-spki.test -n 1 -c 1 >/dev/null 2>&1 && break; sleep 0.1; done
done
cpu() { awk '{print $14+$15}' "/proc/$1/stat"; } # clock ticks
tick=$(getconf CLK_TCK)
echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(nproc) cores, $(go version | cut -d' ' -f3), log level $level"
for round in $(seq 1 "${BENCH_ROUNDS:-5}"); do
	for c in ${BENCH_CONNS:-1 50}; do
		for s in "other $other_addr $other_pid" "daned $daned_addr $daned_pid"; do
			read -r name addr pid <<<"$s"
			c0=$(cpu "$pid")
			out=$(./bin/smload -addr "$addr" -domains ee-spki.test -n "$N" -c "$c" -max-time 10s)
			c1=$(cpu "$pid")
			n=$(sed 's/.*requests=\([0-9]*\).*/\1/' <<<"$out")
			echo "$name c=$c $(sed 's/.*rate=\([0-9]*\)\/s p50=\([^ ]*\) p90=[^ ]* p99=\([^ ]*\).*/rate=\1 p50=\2 p99=\3/' <<<"$out") cpu_per_lookup_us=$(( (c1 - c0) * 1000000 / tick / n ))"
		done
	done
done | tee "$work/runs"
echo "# medians"
for name in other daned; do
	for c in ${BENCH_CONNS:-1 50}; do
		grep "^$name c=$c " "$work/runs" | python3 -c '
import sys, statistics, re
rows = [dict(kv.split("=") for kv in l.split()[2:]) for l in sys.stdin]
us = lambda v: float(re.sub("[^0-9.]", "", v)) * (1000 if v.endswith("ms") else 1)
print(sys.argv[1], "c=" + sys.argv[2], "rate=%d/s" % statistics.median(int(r["rate"]) for r in rows),
      "p50=%.0fµs" % statistics.median(us(r["p50"]) for r in rows), "p99=%.0fµs" % statistics.median(us(r["p99"]) for r in rows),
      "cpu_per_lookup=%dµs" % statistics.median(int(r["cpu_per_lookup_us"]) for r in rows))' "$name" "$c"
	done
done
