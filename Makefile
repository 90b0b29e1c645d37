# EventFlow — everyday commands. `make help` lists them.
SHELL := /bin/bash
GO ?= go
MODULES := pkg services/gateway services/deployer services/invoker services/logstream cmd/eventflow examples
SERVICES := gateway deployer invoker logstream
BIN := $(CURDIR)/bin
# Tests get their own timeout; the whole suite must stay well inside CI's 90 minutes.
TEST_TIMEOUT ?= 20m

.PHONY: help build run test bench bench-k8s lint fmt vet clean k8s-build k8s-up k8s-down

help: ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  %-12s %s\n", $$1, $$2}'

build: ## build bin/eventflow and the four service binaries
	@mkdir -p $(BIN)
	cd cmd/eventflow && $(GO) build -o $(BIN)/eventflow .
	@for s in $(SERVICES); do (cd services/$$s && $(GO) build -o $(BIN)/$$s .) || exit 1; done
	@echo "built: $$(ls $(BIN) | tr '\n' ' ')"

run: build ## run the whole platform on this machine (bin/eventflow dev)
	$(BIN)/eventflow dev

# The Kubernetes tests need the control plane's binaries: built (or found in
# the cache) first, so a cold build (about 15 minutes) is not inside a test's
# timeout.
test: build k8s-build ## run every test: unit, integration (real NATS and Kubernetes) and end to end
	@set -o pipefail; for m in $(MODULES); do \
		echo "=== go test $$m"; \
		(cd $$m && EVENTFLOW_BIN=$(BIN) $(GO) test -count=1 -timeout $(TEST_TIMEOUT) ./...) || exit 1; \
	done

bench: build ## benchmarks: gateway against raw JetStream and direct calls (see docs/BENCHMARKS.md)
	cd cmd/eventflow && EVENTFLOW_BIN=$(BIN) $(GO) test -run '^$$' -bench . -benchtime 1x -timeout 20m ./internal/bench/

k8s-build: ## build (or reuse) the test control plane: etcd, kube-*, kubectl, kwok (cached in ~/.cache/eventflow/k8s)
	hack/k8s.sh build

k8s-up: ## start a real Kubernetes control plane on 127.0.0.1 (kwok nodes); KUBECONFIG=~/.cache/eventflow/k8s/kubeconfig
	hack/k8s.sh up

k8s-down: ## stop and delete the test control plane
	hack/k8s.sh down

bench-k8s: build ## Kubernetes runtime benchmarks on the test control plane (see docs/BENCHMARKS.md)
	cd cmd/eventflow && EVENTFLOW_BIN=$(BIN) $(GO) test -run '^$$' -bench Kubernetes -benchtime 1x -timeout 20m ./internal/k8sbench/

vet: ## go vet every module
	@for m in $(MODULES); do (cd $$m && $(GO) vet ./...) || exit 1; done

fmt: ## gofmt every Go file
	gofmt -w $$(git ls-files '*.go')

lint: vet ## gofmt check and go vet
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed: $$out"; exit 1; fi

clean: ## remove built binaries and the dev data dir
	rm -rf $(BIN) .eventflow test-output
