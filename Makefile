# cutoverbot: see README.md. `make demo` runs a whole cutover in a local sandbox;
# `make test` runs the tests. Both install what they need first (scripts/setup.sh).
GO       ?= go
PKGS     := ./...
BIN      := bin/cutoverbot
STAMP    := .setup.stamp

.PHONY: setup demo test e2e bench fuzz lint build build-static image clean

$(STAMP): scripts/setup.sh go.mod go.sum
	./scripts/setup.sh
	@touch $@

setup: $(STAMP)

demo: $(STAMP)
	$(GO) run ./cmd/cutoverbot demo

test: $(STAMP)
	$(GO) vet $(PKGS)
	$(GO) test -count=1 -timeout 20m $(PKGS)

# The slower end-to-end and reliability suites.
e2e: $(STAMP)
	CUTOVERBOT_E2E=1 $(GO) test -count=1 -timeout 60m -run 'E2E|Reliability' -v ./... 2>&1 | tee e2e.log | grep -E '^(=== RUN|--- |PASS|FAIL|ok|\|)' || true
	@! grep -q '^--- FAIL' e2e.log

bench: $(STAMP)
	CUTOVERBOT_BENCH=1 $(GO) test -count=1 -timeout 60m -run '^$$' -bench . -benchmem $(PKGS)

FUZZTIME ?= 20s
fuzz: $(STAMP)
	$(GO) test -run '^$$' -fuzz '^FuzzLoad$$' -fuzztime $(FUZZTIME) ./ops/config/

lint: $(STAMP)
	$(GO) vet $(PKGS)
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 $(PKGS)

build:
	$(GO) build -o $(BIN) ./cmd/cutoverbot

build-static:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '-s -w' -o $(BIN) ./cmd/cutoverbot

image:
	docker build -t cutoverbot:dev .

clean:
	rm -rf bin $(STAMP) e2e.log
