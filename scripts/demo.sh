#!/usr/bin/env bash
# Starts the loopback test world (a DNSSEC hierarchy, SMTP servers, MTA-STS
# policy hosts and a validating Unbound), starts daned pointed at it, and
# prints danectl reports for a handful of its domains. Everything stays on
# loopback.
set -euo pipefail
cd "$(dirname "$0")/.."
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
if [ ! -s "$work/world.env" ]; then echo "the test world did not start:"; cat "$work/world.log"; exit 1; fi
# shellcheck disable=SC1091
source "$work/world.env"
# SSL_CERT_FILE makes the world's CA daned's WebPKI (system roots) for the
# MTA-STS scenarios; their policies are kept in a state dir of the demo's.
export DANED_RESOLVER DANED_PROBE_PORT DANED_PROBE_ALLOW DANED_MTA_STS_PORT SSL_CERT_FILE

./bin/daned --listen 127.0.0.1:0 --probe-timeout 10s --probe-step-timeout 3s --state-dir "$work/state" >"$work/daned.log" 2>&1 &
pids+=($!)
addr=""
for _ in $(seq 1 100); do
	addr=$(grep 'daned serving' "$work/daned.log" | sed -n 's/.* listen=\([^ ]*\).*/\1/p' | head -n1 || true)
	[ -n "$addr" ] && break
	sleep 0.1
done
if [ -z "$addr" ]; then echo "daned did not start:"; cat "$work/daned.log"; exit 1; fi
echo "test world: resolver $DANED_RESOLVER, SMTP port $DANED_PROBE_PORT, probes allowed to $DANED_PROBE_ALLOW"
echo "daned:      $addr"
echo
# A handful of telling cases; DEMO_PICK="a.test b.test" chooses others
# (the world's whole catalogue is in $DEMO_DOMAINS).
pick=${DEMO_PICK:-"ee-spki.test ta.test two-mx.test mismatch.test ta-expired.test nostarttls.test expired-rrsig.test tlsa-servfail.test unsigned.test nullmx.test sts-enforce.test sts-untrusted.test sts-dane-fail.test"}
echo "catalogue: $DEMO_DOMAINS"
echo
for d in $pick; do
	echo "\$ danectl check --server $addr $d"
	./bin/danectl check --server "$addr" "$d" || true
	echo
done
