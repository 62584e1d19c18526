# trellis — see README.md.
#   make run    build what is missing, then start a local cluster with trellis (trellis up)
#   make test   every test, integration tests on a real local control plane included
#   make e2e    kro's chainsaw e2e cases against trellis (also run by `make test`)

GO      ?= go
BIN     := bin/trellis
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X github.com/trellis-dev/trellis/pkg/version.Version=$(VERSION)
# Extra arguments for `trellis up`, e.g. make run ARGS="--data-dir ./.trellis-data"
ARGS    ?=

.PHONY: all build prepare run test unit e2e vet clean generate

all: build

## build: the trellis binary (bin/trellis)
build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/trellis

## prepare: build the local control plane into the cache (once; ~10-15 min on 2 cores)
prepare: build
	$(BIN) up --build-only

## run: start etcd, kube-apiserver, controller-manager, scheduler, kwok and trellis's controllers
run: build
	$(BIN) up $(ARGS)

## test: all tests of the main module, integration tests included, then kro's e2e cases
test: prepare
	$(GO) test -count=1 -timeout 30m ./...
	$(MAKE) e2e

## unit: tests without a control plane
unit:
	TRELLIS_SKIP_INTEGRATION=1 $(GO) test ./...

## e2e: chainsaw over test/e2e/kro (report and logs in _output/e2e)
e2e: prepare
	TRELLIS_BIN=$(CURDIR)/$(BIN) $(GO) test -tags e2e -count=1 -timeout 40m -v ./test/e2e/

## generate: deepcopy code and CRDs of trellis's own API from api/ (controller-gen)
generate:
	$(GO) run sigs.k8s.io/controller-tools/cmd/controller-gen@v0.20.0 object paths=./api/v1alpha1/... paths=./api/graphrevision/...
	$(GO) run sigs.k8s.io/controller-tools/cmd/controller-gen@v0.20.0 crd paths=./api/v1alpha1/... paths=./api/graphrevision/... output:crd:dir=./config/crd/bases

vet:
	$(GO) vet ./...
	$(GO) vet -tags e2e ./test/e2e/

clean:
	rm -rf bin _output

## bench: floor vs trellis on a local control plane (issue 6); results in bench/results/
##   make bench BENCH_ARGS="-n 100,1000 --scale-n 1000"   (see bin/trellis bench --help)
BENCH_ARGS ?=
.PHONY: bench
bench: prepare
	$(BIN) bench $(BENCH_ARGS)
