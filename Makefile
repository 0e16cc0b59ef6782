# mailblast developer tasks.
#
# Tools installed by this Makefile go into ./.bin/ (repo-local, not on PATH):
#   .bin/golangci-lint -- installed on demand by `make lint` (scripts/test.sh runs it)
#   .bin/goreleaser  -- installed on demand by `make release-check` / `make snapshot`
#                       with `go install` from the Go module proxy (takes a few minutes
#                       the first time). Delete .bin/ to force a reinstall.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c

BINARY            := mailblast
MODULE            := github.com/mailblast/mailblast
GORELEASER_VERSION := v2.15.1
GOLANGCI_VERSION   := v2.15.0
BIN_DIR           := .bin
GORELEASER        := $(BIN_DIR)/goreleaser
GOLANGCI          := $(BIN_DIR)/golangci-lint

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
ifeq ($(strip $(VERSION)),)
VERSION := dev
endif
LDFLAGS := -s -w -X $(MODULE)/cmd.version=$(VERSION)

.PHONY: all build test vet lint release-check snapshot bench demo clean help

all: vet build

help:
	@echo "targets: build test vet lint release-check snapshot bench demo clean"

build:
	go build -ldflags '$(LDFLAGS)' -o $(BINARY) .

test:
	bash .ci/run

vet:
	@out="$$(gofmt -l .)"; \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi
	go vet ./...

$(GOLANGCI):
	GOBIN=$(CURDIR)/$(BIN_DIR) go install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_VERSION)

lint: $(GOLANGCI)
	$(GOLANGCI) run ./...

$(GORELEASER):
	GOBIN=$(CURDIR)/$(BIN_DIR) go install github.com/goreleaser/goreleaser/v2@$(GORELEASER_VERSION)

release-check: $(GORELEASER)
	$(GORELEASER) check

snapshot: $(GORELEASER)
	$(GORELEASER) release --snapshot --clean --skip=publish

bench:
	bash bench/run.sh

demo:
	bash examples/demo.sh

clean:
	rm -rf dist $(BINARY)
