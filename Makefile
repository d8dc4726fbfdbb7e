# cutoverbot: see README.md. `make demo` runs a whole cutover in a local sandbox;
# `make test` runs the tests. Both install what they need first (scripts/setup.sh).
SHELL    := /bin/bash
GO       ?= go
PKGS     := ./...
BIN      := bin/cutoverbot
STAMP    := .setup.stamp
IMAGE    ?= ghcr.io/nycmeshnet/cutoverbot

# `cutoverbot version` and cutoverbot_build_info say which build runs: stamped from git.
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT   ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
DATE     ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
BUILDPKG := github.com/nycmeshnet/cutoverbot/buildinfo
LDFLAGS  := -s -w -X $(BUILDPKG).version=$(VERSION) -X $(BUILDPKG).commit=$(COMMIT) -X $(BUILDPKG).date=$(DATE)

.PHONY: setup demo test e2e e2e-kube kube-binaries bench fuzz lint build build-static image clean

$(STAMP): scripts/setup.sh go.mod go.sum
	./scripts/setup.sh
	@touch $@

setup: $(STAMP)

demo: $(STAMP)
	$(GO) run ./cmd/cutoverbot-sandbox

# The tests build as the image's binary does (CGO_ENABLED=0, -trimpath), so the static-build
# test finds every package in the build cache: on a cold cache that saves about three minutes
# of compiling on two cores.
test: $(STAMP)
	CGO_ENABLED=0 $(GO) vet -trimpath $(PKGS)
	CGO_ENABLED=0 $(GO) test -trimpath -count=1 -timeout 20m $(PKGS)

# The end-to-end and reliability suites alone (they also run in `make test`), verbosely;
# the reliability table is printed at the end.
e2e: $(STAMP)
	$(GO) test -count=1 -timeout 30m -v ./e2e/ 2>&1 | grep -vE '^(=== (RUN|PAUSE|CONT)|E[0-9]{4} )'; exit $${PIPESTATUS[0]}

# Real Kubernetes control planes (see README): etcd, kube-apiserver and kube-controller-manager
# built from their Go modules into a cache outside the repository, kwok for the node. The first
# run builds them (tens of minutes on 2 cores); later runs reuse the cache. Not part of `make test`.
kube-binaries:
	./scripts/kube-binaries.sh

KUBE_TESTS := TestExec|TestStdin|TestContract|TestKube|TestManifestsAppliedToARealAPIServer|TestE2EKube
e2e-kube: $(STAMP)
	dir=$$(./scripts/kube-binaries.sh) && \
	CUTOVERBOT_E2E_KUBE=1 CUTOVERBOT_KUBE_DIR=$$dir $(GO) test -p 1 -count=1 -timeout 40m -v -run '$(KUBE_TESTS)' \
		./sandbox/realkube/ ./ops/kube/ ./ops/store/ ./deploy/ ./e2e/ 2>&1 | grep -vE '^(=== (RUN|PAUSE|CONT)|E[0-9]{4} )'; exit $${PIPESTATUS[0]}

# Benchmarks print tables of ratios measured side by side; they assert no times. They run one
# package at a time (-p 1): two benchmarks at once on two cores would measure each other.
# BENCH_INSTALLS sets the database sizes of the dump/restore benchmark (installs; 80000 is
# about 50 MB of dump, 800000 about 500 MB), BENCH_ROUNDS its interleaved rounds and
# BENCH_VARIANTS other bot configurations to measure beside the defaults (jobs1 z6 z0 server serial).
BENCH_INSTALLS ?= 80000 800000
BENCH_ROUNDS ?= 2
BENCH_VARIANTS ?=
bench: $(STAMP)
	@command -v pgcopydb >/dev/null 2>&1 || { echo "bench: installing Debian's pgcopydb (the dump/restore benchmark compares with it)"; \
		SUDO=""; [ "$$(id -u)" -eq 0 ] || SUDO=sudo; DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq pgcopydb >/dev/null; }
	CUTOVERBOT_BENCH=1 CUTOVERBOT_BENCH_INSTALLS="$(BENCH_INSTALLS)" CUTOVERBOT_BENCH_ROUNDS=$(BENCH_ROUNDS) CUTOVERBOT_BENCH_VARIANTS="$(BENCH_VARIANTS)" $(GO) test -p 1 -count=1 -timeout 120m -v -run 'TestBenchmark' \
		./ops/steps/ ./ops/snapshot/ ./e2e/ 2>&1 | grep -vE '^(=== RUN|E[0-9]{4} )'
	$(GO) test -count=1 -run '^$$' -bench ExecStream -benchtime 1x ./ops/kube/

FUZZTIME ?= 20s
fuzz: $(STAMP)
	$(GO) test -run '^$$' -fuzz '^FuzzLoad$$' -fuzztime $(FUZZTIME) ./ops/config/
	$(GO) test -run '^$$' -fuzz '^FuzzDiff$$' -fuzztime $(FUZZTIME) ./ops/snapshot/
	$(GO) test -run '^$$' -fuzz '^FuzzEditDNSAnswer$$' -fuzztime $(FUZZTIME) ./ops/github/
	$(GO) test -run '^$$' -fuzz '^FuzzEditFQDNList$$' -fuzztime $(FUZZTIME) ./ops/github/
	$(GO) test -run '^$$' -fuzz '^FuzzCommandText$$' -fuzztime $(FUZZTIME) ./handlers/
	$(GO) test -run '^$$' -fuzz '^FuzzCleanUserText$$' -fuzztime $(FUZZTIME) ./handlers/

# actionlint checks every GitHub Actions workflow here, so a broken one fails before it
# reaches GitHub.
ACTIONLINT := github.com/rhysd/actionlint/cmd/actionlint@v1.7.12
lint: $(STAMP)
	$(GO) vet $(PKGS)
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 $(PKGS)
	$(GO) run $(ACTIONLINT) .github/workflows/*.yml

build:
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/cutoverbot

build-static:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/cutoverbot

# A local image for this machine's platform; the release workflow builds and pushes the
# multi-arch one on a version tag (.github/workflows/release.yml).
image:
	docker build --build-arg VERSION=$(VERSION) --build-arg COMMIT=$(COMMIT) --build-arg DATE=$(DATE) \
		-t $(IMAGE):$(VERSION) .

clean:
	rm -rf bin $(STAMP) e2e.log
