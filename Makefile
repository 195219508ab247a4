# daned — run `make run` to start the service, `make test` for everything.
SHELL := /bin/bash
GO ?= go
GOBIN := $(shell $(GO) env GOPATH)/bin
export PATH := $(GOBIN):$(PATH)

BUF_VERSION := v1.75.0
PROTOC_GEN_GO_VERSION := v1.36.12
PROTOC_GEN_GO_GRPC_VERSION := v1.6.2

# Packages the end-to-end tests need from Debian, as "binary:package".
DEBIAN_TOOLS := unbound:unbound posttls-finger:postfix ip:iproute2 unshare:util-linux

.PHONY: all build run demo test unit lint vet buflint generate checkgenerate tools debian-tools clean

all: build

build:
	$(GO) build -o bin/daned ./cmd/daned
	$(GO) build -o bin/danectl ./cmd/danectl

## run: start daned with its defaults (gRPC on 127.0.0.1:8053, resolver 127.0.0.1:53).
run: build
	./bin/daned

## demo: a loopback DNSSEC test world + Unbound + daned, and danectl reports for its domains.
demo: build debian-tools
	$(GO) build -o bin/demo ./internal/cmd/demo
	./scripts/demo.sh

## test: everything CI runs.
test: tools debian-tools lint checkgenerate unit

unit:
	$(GO) test -race -count=1 -timeout 20m ./...

lint: vet buflint

vet:
	$(GO) vet ./...
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi

buflint: tools
	buf lint

generate: tools
	buf generate

## checkgenerate: fails when the committed generated code differs from a fresh `buf generate`.
checkgenerate: tools
	@tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	buf generate -o "$$tmp"; \
	if ! diff -r -x '*.proto' "$$tmp/proto" proto >/dev/null 2>&1; then \
		diff -r -x '*.proto' "$$tmp/proto" proto | head -40; \
		echo "generated code is stale: run 'make generate' and commit the result"; exit 1; \
	fi; echo "generated code is up to date"

## tools: the Go tools the build needs, pinned (installed with go install when missing or of another version).
tools:
	@if ! buf --version 2>/dev/null | grep -qx '$(BUF_VERSION:v%=%)'; then echo "installing buf $(BUF_VERSION) (a few minutes)"; $(GO) install github.com/bufbuild/buf/cmd/buf@$(BUF_VERSION); fi
	@if ! protoc-gen-go --version 2>/dev/null | grep -q '$(PROTOC_GEN_GO_VERSION)'; then $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION); fi
	@if ! protoc-gen-go-grpc --version 2>/dev/null | grep -q '$(PROTOC_GEN_GO_GRPC_VERSION:v%=%)'; then $(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC_VERSION); fi

## debian-tools: Unbound, Postfix (posttls-finger, installed with "No configuration": no daemon), iproute2 and unshare for the end-to-end and conformance tests; installed with apt-get when missing and running as root.
debian-tools:
	@missing=""; for t in $(DEBIAN_TOOLS); do bin=$${t%%:*}; pkg=$${t##*:}; \
		command -v $$bin >/dev/null 2>&1 || [ -x /usr/sbin/$$bin ] || missing="$$missing $$pkg"; done; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "installing$$missing with apt-get"; \
			echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections 2>/dev/null || true; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
			if [ -x /usr/sbin/postfix ] && /usr/sbin/postfix status >/dev/null 2>&1; then /usr/sbin/postfix stop; fi; \
		else \
			echo "the end-to-end tests need these Debian packages:$$missing"; \
			echo "install them with: sudo apt-get install$$missing"; exit 1; \
		fi; \
	fi

clean:
	rm -rf bin
