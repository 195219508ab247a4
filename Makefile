# daned — run `make run` to start the service, `make test` for everything.
SHELL := /bin/bash
GO ?= go
GOBIN := $(shell $(GO) env GOPATH)/bin
export PATH := $(GOBIN):$(PATH)

BUF_VERSION := v1.75.0
PROTOC_GEN_GO_VERSION := v1.36.12
PROTOC_GEN_GO_GRPC_VERSION := v1.6.2
# staticcheck 2026.2.2 is the first release that knows Go 1.26.
STATICCHECK_VERSION := v0.8.2
# Fuzzing runs each target for an execution count (-fuzztime Nx), never a
# duration: Go 1.26's fuzz coordinator races its own wall-clock deadline and
# fails a loaded run with "context deadline exceeded" and no crasher
# (golang/go#75804, fixed only in Go 1.27). A count has no deadline to race,
# so a fuzz failure in `make test` is always a real finding.
# FUZZ_TARGETS are PACKAGE:TARGET:COUNT, each count sized to about 8 s on
# this 2-core machine kind (measured execs/s: Normalize ~7k, ReadReply ~18k,
# Assess ~18k, VerifyDER ~31k, ParseRecord ~18k, ParseReply ~12k, ParsePolicy
# ~20k, ReadNetstring ~18k, ParseDatagram ~22k, ParseRUA ~6k, tlsrpt
# ParseRecord ~11k under load; the codecs under load: engine
# UnmarshalResult ~6k, resolver UnmarshalAnswer ~7k, probe UnmarshalResult
# ~8k; the diagnostics page: a whole page rendered per input, Page ~0.8k,
# API ~8k). A crasher fails the run and lands in
# PACKAGE/testdata/fuzz/TARGET; once committed it runs as a regression case
# in every plain `go test`.
# FUZZTIME, when set (say FUZZTIME=2000000x), replaces every target's count.
FUZZTIME ?=
FUZZ_TARGETS := ./dnsname:FuzzNormalize:60000x ./probe:FuzzReadReply:150000x \
	./dane:FuzzAssess:150000x ./dane:FuzzVerifyDER:250000x ./dane:FuzzParseRecord:150000x \
	./resolver:FuzzParseReply:100000x ./mtasts:FuzzParsePolicy:150000x \
	./socketmap:FuzzReadNetstring:150000x ./tlsrpt:FuzzParseDatagram:175000x \
	./tlsrpt:FuzzParseRUA:50000x ./tlsrpt:FuzzParseRecord:100000x \
	./engine:FuzzUnmarshalResult:40000x ./resolver:FuzzUnmarshalAnswer:60000x \
	./probe:FuzzUnmarshalResult:50000x ./web:FuzzPage:6000x ./web:FuzzAPI:40000x

# Debian packages, as KIND:WHAT:PACKAGE (see scripts/apt-deps.sh).
# The build: embedded DNSSEC validation links libunbound.
BUILD_DEPS := file:/usr/include/unbound.h:libunbound-dev
# The tests: Unbound (the validating resolver of the test world), Postfix's
# posttls-finger, iproute2 and unshare (the conformance test), protoc and the
# gRPC Python plugin (client generation), Debian's Python gRPC modules and
# Node with npm (the Python and Node client examples), aiosmtpd (the SMTP
# relay of the TLS report delivery tests), systemd-analyze (the offline
# check of the systemd units in packaging/), redis-server (the shared store
# of several replicas), headless Chromium (the diagnostics page's browser
# test).
TEST_DEPS := bin:unbound:unbound bin:posttls-finger:postfix bin:ip:iproute2 bin:unshare:util-linux \
	bin:systemd-analyze:systemd \
	file:/usr/bin/protoc:protobuf-compiler file:/usr/bin/grpc_python_plugin:protobuf-compiler-grpc \
	py:grpc:python3-grpcio py:google.protobuf:python3-protobuf bin:node:nodejs bin:npm:npm \
	py:aiosmtpd:python3-aiosmtpd bin:redis-server:redis-server bin:chromium:chromium
# The TypeScript client's npm packages (protoc-gen-es for generation, the
# runtime for its tests), installed from its package-lock.json.
TS_CLIENT := clients/typescript
PY_GEN := clients/python/daned_client/_gen

.PHONY: all build run demo screenshots test unit node-test lint vet staticcheck buflint fuzz soak generate checkgenerate tools build-deps debian-tools node-modules clean

all: build

build: build-deps
	$(GO) build -o bin/daned ./cmd/daned
	$(GO) build -o bin/danectl ./cmd/danectl

# The diagnostics page of `make run` (daned's own default is off).
RUN_HTTP_LISTEN ?= 127.0.0.1:8080

## run: start daned with its defaults (gRPC on 127.0.0.1:8053, metrics on 127.0.0.1:9464, embedded DNSSEC validation) and the diagnostics page on $(RUN_HTTP_LISTEN).
run: build
	@echo "diagnostics page: http://$(RUN_HTTP_LISTEN)/"
	exec ./bin/daned --http-listen $(RUN_HTTP_LISTEN)

## demo: a loopback DNSSEC test world + Unbound + daned, and danectl reports for its domains.
demo: build debian-tools
	$(GO) build -o bin/demo ./internal/cmd/demo
	./scripts/demo.sh

## screenshots: the diagnostics page in headless Chromium against the test world, saved as docs/img/*.png.
screenshots: debian-tools
	DANED_SCREENSHOTS=$(CURDIR)/docs/img $(GO) test -count=1 -run '^TestBrowser$$' -v ./cmd/daned/

## test: everything CI runs.
test: tools debian-tools node-modules lint checkgenerate unit node-test fuzz

unit:
	$(GO) test -race -count=1 -timeout 20m ./...

## node-test: the Node client's own tests (node's test runner, a loopback gRPC server).
node-test: node-modules
	cd $(TS_CLIENT) && npm test

lint: vet staticcheck buflint

vet:
	$(GO) vet ./...
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi

## staticcheck: honnef.co/go/tools at a pinned version (installed by `make tools`).
staticcheck: tools
	staticcheck ./...

## fuzz: each native fuzz target for its execution count (about 8 s each); a crasher fails the run and is kept in testdata/fuzz.
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; rest=$${t#*:}; name=$${rest%%:*}; count=$${rest#*:}; \
		override="$(FUZZTIME)"; count=$${override:-$$count}; \
		case "$$count" in *x) ;; *) echo "FUZZTIME must be an execution count such as 100000x, not $$count (golang/go#75804)"; exit 2;; esac; \
		echo "fuzz $$pkg $$name ($$count)"; \
		$(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $$count $$pkg; \
	done

## soak: a bounded soak (3 minutes) of daned over real gRPC against the test world with faults injected; figures in docs/RELIABILITY.md.
soak:
	$(GO) test -tags soak -count=1 -run '^TestSoak$$' -timeout 10m -v ./internal/soak/

buflint: tools
	buf lint

generate: tools debian-tools node-modules
	buf generate
	clients/python/fiximports.sh $(PY_GEN)

## checkgenerate: fails when the committed generated code differs from a fresh `buf generate`.
checkgenerate: tools debian-tools node-modules
	@tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	buf generate -o "$$tmp" || exit 1; \
	clients/python/fiximports.sh "$$tmp/$(PY_GEN)"; \
	for d in proto $(PY_GEN) $(TS_CLIENT)/gen; do \
		if ! diff -r -x '*.proto' -x __pycache__ "$$tmp/$$d" $$d >/dev/null 2>&1; then \
			diff -r -x '*.proto' -x __pycache__ "$$tmp/$$d" $$d | head -40; \
			echo "generated code in $$d is stale: run 'make generate' and commit the result"; exit 1; \
		fi; \
	done; echo "generated code is up to date"

## tools: the Go tools the build needs, pinned (installed with go install when missing or of another version).
tools:
	@if ! buf --version 2>/dev/null | grep -qx '$(BUF_VERSION:v%=%)'; then echo "installing buf $(BUF_VERSION) (a few minutes)"; $(GO) install github.com/bufbuild/buf/cmd/buf@$(BUF_VERSION); fi
	@if ! protoc-gen-go --version 2>/dev/null | grep -q '$(PROTOC_GEN_GO_VERSION)'; then $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION); fi
	@if ! protoc-gen-go-grpc --version 2>/dev/null | grep -q '$(PROTOC_GEN_GO_GRPC_VERSION:v%=%)'; then $(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC_VERSION); fi
	@if ! staticcheck -version 2>/dev/null | grep -q '($(STATICCHECK_VERSION:v%=%))'; then $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION); fi

## build-deps: what the build needs (libunbound-dev), installed with apt-get when missing and running as root.
build-deps:
	@scripts/apt-deps.sh "building daned (embedded DNSSEC validation; CGO_ENABLED=0 builds without it)" $(BUILD_DEPS)

## debian-tools: what the tests need, installed with apt-get when missing and running as root.
debian-tools: build-deps
	@scripts/apt-deps.sh "the tests" $(TEST_DEPS)

## node-modules: the TypeScript client's npm packages, from its package-lock.json (npm ci) when missing.
node-modules: $(TS_CLIENT)/node_modules/.package-lock.json

$(TS_CLIENT)/node_modules/.package-lock.json: $(TS_CLIENT)/package-lock.json
	cd $(TS_CLIENT) && npm ci --no-audit --no-fund

clean:
	rm -rf bin

## bench: the Go benchmarks of docs/BENCHMARKS.md (about a minute; the ghz and lean-client load runs against a running daned are scripts/bench.sh).
.PHONY: bench
bench:
	$(GO) test -run '^$$' -bench 'CachedValidate|GRPC' -benchmem -benchtime 2s ./server/
	$(GO) test -run '^$$' -bench 'CacheFill' -benchtime 1x ./server/
	$(GO) test -run '^$$' -bench 'ColdParallel' -benchtime 5x ./engine/
	$(GO) test -run '^$$' -bench 'ColdSTS' -benchtime 300x ./server/
