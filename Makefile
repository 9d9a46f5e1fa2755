# orderflow — `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

GO ?= go
GOBIN := $(shell $(GO) env GOPATH 2>/dev/null)/bin
export PATH := $(GOBIN):$(PATH)
STRIPE_MOCK_VERSION := v0.203.0
# Whole-suite budget: CI allows far more, but a hang should fail fast and loudly.
TEST_TIMEOUT ?= 12m

.PHONY: help run test bench fuzz lint build prereqs tools clean

help: ## list the targets
	@grep -hE '^[a-zA-Z_%-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([^:]+):.*## (.*)/  \1\t\2/' | expand -t 36

run: prereq-go ## run the whole pipeline locally on SQLite (ingress, workers, cleanup schedule)
	ORDERFLOW_DEV_ADMIN_TOKEN=$${ORDERFLOW_DEV_ADMIN_TOKEN:-true} $(GO) run ./cmd/orderflow serve --log-format $${ORDERFLOW_LOG_FORMAT:-console}

# go test also runs every fuzz target on its seed corpus
# (<package>/testdata/fuzz/<FuzzName>), so `make test` covers the seeds.
test: prereqs prereq-chromium tools ## run every test, emulators included (installs dynalite, stripe-mock and chromium first)
	$(GO) vet ./...
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) ./...
	$(GO) test -count=1 -tags nosqlite ./infra/backend

BENCH_PKGS := ./ingress ./workers ./infra/sqlite
BENCH_TIME ?= 1s

bench: prereq-go ## run the benchmarks and print a table; ratios compare variants measured in the same run
	@set -o pipefail; $(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCH_TIME) $(BENCH_PKGS) | tee .bench.out | awk -f bench.awk

.PHONY: load
LOAD_FLAGS ?=
load: prereq-go ## measure serve on SQLite against this machine's limits, one table (LOAD_SECONDS=5 per phase; LOAD_FLAGS for more)
	$(GO) run ./cmd/load $(LOAD_FLAGS)

# Each target as package:FuzzName; go test fuzzes one target per run.
FUZZ_TARGETS := ./ingress:FuzzSignatureHeader ./domain:FuzzParseEvent ./domain:FuzzQueueID ./domain:FuzzDecodeStrict
FUZZ_TIME ?= 1m

fuzz: prereq-go ## fuzz the signature header, event envelope, routing key and strict JSON, FUZZ_TIME (1m) each; failures land in testdata/fuzz
	@set -e; for t in $(FUZZ_TARGETS); do \
		echo "fuzzing $${t#*:} in $${t%%:*} for $(FUZZ_TIME)"; \
		$(GO) test -run '^$$' -fuzz "^$${t#*:}\$$" -fuzztime $(FUZZ_TIME) -fuzzminimizetime 10s $${t%%:*}; \
	done

lint: prereq-go ## gofmt and go vet
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change: $$out"; exit 1; fi
	$(GO) vet ./...

build: prereq-go lambda-build ## build bin/orderflow and every Lambda bootstrap (linux/arm64)
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/orderflow ./cmd/orderflow

clean: ## remove build output and the local database
	rm -rf bin .aws-sam .orderflow

console-screenshots: prereq-go prereq-chromium ## regenerate the console screenshots in testdata/console (headless Chromium)
	ORDERFLOW_CONSOLE_SCREENSHOTS=1 $(GO) test -count=1 -run '^TestConsoleInChromium$$' ./admin

# --- prerequisites: one clear line when something is missing -------------
.PHONY: prereq-go prereq-node prereq-chromium console-screenshots
CHROMIUM := /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)
prereq-go:
	@command -v $(GO) >/dev/null 2>&1 || { echo "orderflow needs Go 1.26+ (https://go.dev/dl/): 'go' is not on PATH" >&2; exit 1; }

prereq-node:
	@command -v node >/dev/null 2>&1 || { echo "orderflow's tests need Node.js 20+ for the DynamoDB emulator (dynalite): 'node' is not on PATH" >&2; exit 1; }
	@major=$$(node -p 'process.versions.node.split(".")[0]'); [ "$$major" -ge 20 ] || { echo "orderflow's tests need Node.js 20+, found $$(node --version)" >&2; exit 1; }
	@command -v npm >/dev/null 2>&1 || { echo "orderflow's tests need npm (it comes with Node.js 20+): 'npm' is not on PATH" >&2; exit 1; }

# The console's browser tests drive Debian's chromium headless (chromedp).
prereq-chromium:
	@[ -x $(CHROMIUM) ] || { echo "installing chromium for the console's browser tests (apt-get)"; \
		{ $(SUDO) apt-get update -qq && $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } >/dev/null 2>&1 || \
		echo "could not install chromium (apt-get install -y chromium, as root on Debian); the console browser test will fail until $(CHROMIUM) exists" >&2; }

prereqs: prereq-go prereq-node node_modules/.installed

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

tools: prereq-go ## install stripe-mock (the Stripe API stand-in the tests start)
	@if ! $(GO) version -m "$(GOBIN)/stripe-mock" 2>/dev/null | grep -qE 'mod[[:space:]]+github.com/stripe/stripe-mock[[:space:]]+$(STRIPE_MOCK_VERSION)'; then \
		echo "installing stripe-mock $(STRIPE_MOCK_VERSION)"; \
		$(GO) install github.com/stripe/stripe-mock@$(STRIPE_MOCK_VERSION); fi

-include lambda.mk
