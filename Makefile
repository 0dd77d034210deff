# QuickVibe: `make run` starts the server, `make test` runs every test.
GO      ?= go
BIN     := bin/quickvibe
GOFLAGS ?=

.PHONY: all build run test test-go lint deps-run deps-test generate clean

all: build

build:
	$(GO) build $(GOFLAGS) -o $(BIN) ./cmd/quickvibe

# Installs what the server needs (bubblewrap), builds, and serves on the
# embedded defaults: SQLite in ./data, local bubblewrap sandboxes.
run: deps-run build
	./$(BIN) serve

deps-run:
	@scripts/install-deps.sh run

deps-test:
	@scripts/install-deps.sh test

# Installs what the tests need, then runs them all (sandbox tests included).
test: deps-test lint test-go

lint:
	@unformatted=$$(gofmt -l cmd internal); \
	  if [ -n "$$unformatted" ]; then echo "gofmt needed on:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...

test-go:
	$(GO) test -race -count=1 -timeout 15m ./...

# Regenerates the store's query code from internal/store/queries.sql.
generate:
	$(GO) generate ./internal/store/...

clean:
	rm -rf bin
