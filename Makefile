# trellis — see README.md.
#   make run    build what is missing, then start a local cluster with trellis (trellis up)
#   make test   every test, integration tests on a real local control plane included
#   make e2e    kro's chainsaw e2e cases against trellis, also with the chart's identity (run by `make test`)
#   make manifests / make image   dist/install*.yaml from charts/trellis; the image without Docker

GO      ?= go
BIN     := bin/trellis
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X github.com/trellis-dev/trellis/pkg/version.Version=$(VERSION)
# Extra arguments for `trellis up`, e.g. make run ARGS="--data-dir ./.trellis-data"
ARGS    ?=

.PHONY: all build prepare prepare-kro run test test-kroswitch-full unit e2e vet clean generate manifests image release-test

all: build

## build: the trellis binary (bin/trellis) and its kubectl plugin name (bin/kubectl-trellis)
build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/trellis
	ln -sf trellis bin/kubectl-trellis

## prepare: build the local control plane into the cache (once; ~10-15 min on 2 cores)
prepare: build
	$(BIN) up --build-only

## run: start etcd, kube-apiserver, controller-manager, scheduler, kwok and trellis's controllers
run: build
	$(BIN) up $(ARGS)

## test: all tests of the main module, integration tests included, then kro's e2e cases
##   (-p 4: the integration packages mostly wait on their control planes, so four
##   at a time halve the wall time on 2 cores; the whole run passed with -p 8 here)
test: prepare prepare-kro
	TRELLIS_BIN=$(CURDIR)/$(BIN) $(GO) test -p 4 -count=1 -timeout 30m ./...
	$(MAKE) release-test
	$(MAKE) fuzz FUZZTIME=3s
	$(MAKE) e2e

## prepare-kro: build kro's controller (tools/kro, the switch tests' peer) into the cache (once)
prepare-kro: build
	$(BIN) up --build-only --build-kro

## test-kroswitch-full: the switch from kro with the issue's 200 BenchApps (make test runs 20)
test-kroswitch-full: prepare prepare-kro
	TRELLIS_BIN=$(CURDIR)/$(BIN) TRELLIS_KROSWITCH_N=200 $(GO) test -count=1 -timeout 60m -v ./pkg/kroswitch/

## unit: tests without a control plane
unit:
	TRELLIS_SKIP_INTEGRATION=1 $(GO) test ./...

## e2e: chainsaw over test/e2e/kro, twice: trellis with admin credentials, then installed
##   by dist/install.yaml (rbac.mode=aggregation) and running with the chart's identity
##   (~70 s more; report and logs in _output/e2e and _output/e2e/chart-identity)
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

## demo: the seed examples on a local cluster with a local AWS (moto), each to ACTIVE
##   make demo DEMO_ARGS="--delete"   (see bin/trellis demo --help)
DEMO_ARGS ?=
.PHONY: demo
demo: prepare
	BIN=$(BIN) DEMO_ARGS="$(DEMO_ARGS)" hack/demo.sh

## bench: floor vs trellis on a local control plane (issue 6); results in bench/results/
##   make bench BENCH_ARGS="-n 100,1000 --scale-n 1000"   (see bin/trellis bench --help)
BENCH_ARGS ?=
.PHONY: bench
bench: prepare
	$(BIN) bench $(BENCH_ARGS)

## chaos: kills, restarts and throttling against a live workload, checked (issue 16);
##   the report in bench/results/chaos-<date>.md   make chaos CHAOS_ARGS="-n 500 --seeds 1,2,3"
CHAOS_ARGS ?=
.PHONY: chaos
chaos: prepare
	$(BIN) chaos $(CHAOS_ARGS)

## bench-quick: every phase of the benchmark on N=200, a few minutes
.PHONY: bench-quick
bench-quick: prepare
	$(BIN) bench --quick $(BENCH_ARGS)

## manifests: copy the CRDs into charts/trellis, render dist/install.yaml and
##   dist/install-with-ack.yaml from the chart (Helm SDK, tools/release)
manifests:
	cp config/crd/bases/*.yaml charts/trellis/crds/
	cp config/crd/ack/*.yaml charts/trellis/files/ack/
	cd tools/release && $(GO) run . manifests -chart ../../charts/trellis -out ../../dist
	cd tools/release && $(GO) run . lint -chart ../../charts/trellis

## release-test: tools/release's tests: stale dist/ or chart CRDs, chart lint, the image
release-test:
	cd tools/release && $(GO) test -count=1 -timeout 20m ./...

## image: the controller image for linux/amd64 and linux/arm64 as an OCI layout
##   (_output/image) and OCI archive (_output/image.tar), built without Docker;
##   CA certificates from this machine's /etc/ssl/certs/ca-certificates.crt
IMAGE_PLATFORMS ?= linux/amd64 linux/arm64
IMAGE_REF       ?= ghcr.io/trellis-dev/trellis:$(VERSION)
image:
	@set -e; bins=""; for p in $(IMAGE_PLATFORMS); do \
		os=$${p%/*}; arch=$${p#*/}; out=bin/$${os}_$${arch}/trellis; \
		echo "building $$out"; \
		CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build -trimpath -ldflags "-s -w $(LDFLAGS)" -o $$out ./cmd/trellis; \
		bins="$$bins -bin $$p=$(CURDIR)/$$out"; \
	done; \
	cd tools/release && $(GO) run . image $$bins -version $(VERSION) -revision "$$(git rev-parse HEAD 2>/dev/null)" \
		-ref $(IMAGE_REF) -out $(CURDIR)/_output/image

## fuzz: every Go fuzz target for FUZZTIME each, one after another (make test: 3s each);
##   crashers land in the package's testdata/fuzz/<Target>/ — commit them with the fix
FUZZTIME ?= 10s
FUZZ_TARGETS := simpleschema:FuzzToOpenAPI crd:FuzzBuild cel:FuzzParseTemplate cel:FuzzCompileTemplate \
	graph:FuzzBuild cli:FuzzRender ack/runtime:FuzzPolicyDocuments
.PHONY: fuzz
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		echo "== ./pkg/$${t%%:*} $${t#*:}"; \
		$(GO) test -run='^$$' -fuzz="^$${t#*:}\$$" -fuzztime=$(FUZZTIME) ./pkg/$${t%%:*}; \
	done
