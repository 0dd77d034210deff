# QuickVibe: `make run` starts the server, `make test` runs every test.
GO      ?= go
BIN     := bin/quickvibe
GOFLAGS ?=

.PHONY: all build ui run test test-go test-web bench lint deps-run deps-test generate clean

all: build

build:
	$(GO) build $(GOFLAGS) -o $(BIN) ./cmd/quickvibe

# Installs what the server needs (bubblewrap), builds, and serves on the
# embedded defaults: SQLite in ./data, local bubblewrap sandboxes.
run: deps-run ui build
	./$(BIN) serve

deps-run:
	@scripts/install-deps.sh run

deps-test:
	@scripts/install-deps.sh test

# Installs what the tests need, then runs them all (sandbox tests included).
test: deps-test lint ui test-web test-go

lint:
	@unformatted=$$(gofmt -l cmd internal); \
	  if [ -n "$$unformatted" ]; then echo "gofmt needed on:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...

# Builds the browser app (web/) into internal/web/dist/app, which the Go
# binary embeds; needs Node.js 20+ and npm.
ui:
	cd web && npm ci --no-audit --no-fund && npm run build

test-web:
	cd web && npm test

test-go:
	$(GO) test -race -count=1 -timeout 15m ./...

# Sandbox benchmark: create-to-ready latency p50/p99 over 100 creates and
# memory per idle sandbox over 50 serving a static site (needs bubblewrap).
bench:
	$(GO) test -run '^$$' -bench '^BenchmarkSandbox$$' -benchtime 1x -timeout 20m ./internal/sandbox/bwrap/

# Regenerates the store's query code from internal/store/queries.sql.
generate:
	$(GO) generate ./internal/store/...

clean:
	rm -rf bin
