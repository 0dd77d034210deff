# QuickVibe: `make run` starts the server, `make test` runs every test.
GO      ?= go
BIN     := bin/quickvibe
GOFLAGS ?=

.PHONY: all build toolbox ui run test test-go test-web bench lint deps-run deps-test generate check-generated clean

all: build

build: toolbox
	$(GO) build $(GOFLAGS) -o $(BIN) ./cmd/quickvibe

# The sandbox toolbox as a small static executable, which the server embeds
# (internal/toolbox/embedded): sandboxes start faster and use less memory
# than with the whole server binary as their toolbox.
TOOLBOX := internal/toolbox/embedded/dist/qv-toolbox
toolbox:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags='-s -w' -o $(TOOLBOX) ./cmd/qv-toolbox

# Installs what the server needs (bubblewrap), builds, and serves on the
# embedded defaults: SQLite in ./data, local bubblewrap sandboxes.
run: deps-run ui build
	./$(BIN) serve

deps-run:
	@scripts/install-deps.sh run

deps-test:
	@scripts/install-deps.sh test

# Installs what the tests need, then runs them all (sandbox tests included).
test: deps-test lint ui toolbox test-web test-go

lint:
	@unformatted=$$(gofmt -l cmd internal); \
	  if [ -n "$$unformatted" ]; then echo "gofmt needed on:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) tool -modfile=tools/go.mod staticcheck ./...
	@$(MAKE) --no-print-directory check-generated

# Builds the browser app (web/) into internal/web/dist/app, which the Go
# binary embeds; needs Node.js 20+ and npm.
ui:
	cd web && npm ci --no-audit --no-fund && npm run build

test-web:
	cd web && npm test

test-go: toolbox
	$(GO) test -race -count=1 -timeout 15m ./...

# Sandbox benchmark: create-to-ready latency p50/p99 over 100 creates, cold
# and from a warm pool, and memory per idle sandbox over 50 serving a static
# site, against the targets (needs bubblewrap).
bench: deps-run
	$(GO) test -run '^$$' -bench '^BenchmarkSandbox$$' -benchtime 1x -timeout 20m ./internal/sandbox/bwrap/

# Regenerates the store's query code from internal/store/queries.sql.
generate:
	$(GO) generate ./internal/store/...

# Fails when the committed query code is not what sqlc makes of queries.sql.
check-generated: generate
	@if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then \
	  git diff --exit-code --stat -- internal/store || { echo "internal/store: run make generate and commit the result"; exit 1; }; \
	fi

clean:
	rm -rf bin
