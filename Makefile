# ghmdet: every target pins the Go toolchain and enables SIMD kernels.
export GOTOOLCHAIN := go1.27.3
export GOEXPERIMENT := simd
export CGO_ENABLED := 0

GO ?= go
BIN := bin/ghmdet

.PHONY: all build build-xla demo test test-short vet fmt bench clean

all: build

## build: the static ghmdet binary in bin/
build:
	$(GO) build -o $(BIN) ./cmd/ghmdet

## build-xla: bin/ghmdet-xla, with GoMLX's XLA backend (PJRT plugins loaded at
## run time, e.g. CUDA) besides the pure-Go one; needs cgo (gcc). The
## default build stays pure Go and static.
build-xla:
	CGO_ENABLED=1 $(GO) build -tags xla -o bin/ghmdet-xla ./cmd/ghmdet

## demo: build, then run the built-in demo (generates data, trains, evaluates)
demo: build
	./$(BIN) demo

## test: vet and run the whole test suite (what CI runs)
test:
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 20m ./...

## test-short: the fast subset
test-short:
	$(GO) test -short -count=1 ./...

## bench: Go benchmarks of losses, geometry and evaluation
bench:
	$(GO) test -run '^$$' -bench . -benchtime 3x ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf bin
