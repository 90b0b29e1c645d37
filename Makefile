# EventFlow — everyday commands. `make help` lists them.
SHELL := /bin/bash
GO ?= go
MODULES := pkg services/gateway services/deployer services/invoker services/logstream cmd/eventflow cmd/probe examples deploy test/packaging
SERVICES := gateway deployer invoker logstream
BIN := $(CURDIR)/bin
# Tests get their own timeout; the whole suite must stay well inside CI's 90 minutes.
TEST_TIMEOUT ?= 20m

# Images, clusters and tools for the deployment targets.
REGISTRY ?= ghcr.io/eventflow
VERSION ?= dev
DOCKER ?= docker
KIND ?= kind
KIND_CLUSTER ?= eventflow
OVERLAY ?= dev
NAMESPACE ?= eventflow
URL ?= http://127.0.0.1:8080
CACHE := $(HOME)/.cache/eventflow
# A kubectl or helm on PATH wins; otherwise the ones `make test` builds.
KUBECTL ?= $(shell command -v kubectl 2>/dev/null || echo $(CACHE)/k8s/bin/kubectl)
HELM ?= $(shell command -v helm 2>/dev/null || echo $(CACHE)/helm/bin/helm)

# The web console (web/) is built with npm and embedded by the gateway.
CONSOLE_DIST := services/gateway/internal/console/dist
WEB_DEPS := web/node_modules/.package-lock.json
WEB_SRC := $(shell find web -path web/node_modules -prune -o -path web/dist -prune -o -type f -print 2>/dev/null)
# Playwright drives Debian's Chromium; it must never download a browser.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD := 1

.PHONY: help build run test fuzz bench bench-k8s lint fmt vet clean k8s-build k8s-up k8s-down web web-test \
	helm-build images compose-up compose-down k8s-deploy helm-install kind-setup kind-clean test-function logs

help: ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  %-14s %s\n", $$1, $$2}'

$(WEB_DEPS): web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund
	@touch $@

$(CONSOLE_DIST)/index.html: $(WEB_DEPS) $(WEB_SRC)
	cd web && npm run build
	find $(CONSOLE_DIST) -mindepth 1 ! -name .gitkeep -delete
	cp -R web/dist/. $(CONSOLE_DIST)/

web: $(CONSOLE_DIST)/index.html ## build the web console (npm ci + vite build) into the gateway's embedded files

web-test: $(WEB_DEPS) ## the console's type check and component tests (Vitest)
	cd web && npm test

# Stamps the release into pkg/version (GET /version, the CLI); the commit
# comes from the go command's VCS stamping.
LDFLAGS := -X github.com/eventflow/eventflow/pkg/version.Version=$(VERSION)

build: web ## build bin/eventflow and the four service binaries (console embedded)
	@mkdir -p $(BIN)
	cd cmd/eventflow && $(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/eventflow .
	@for s in $(SERVICES); do (cd services/$$s && $(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/$$s .) || exit 1; done
	@echo "built: $$(ls $(BIN) | tr '\n' ' ')"

run: build ## run the whole platform on this machine (bin/eventflow dev)
	$(BIN)/eventflow dev

# The Kubernetes tests need the control plane's binaries: built (or found in
# the cache) first, so a cold build (about 15 minutes) is not inside a test's
# timeout.
test: build k8s-build helm-build web-test ## run every test: unit, integration (real NATS, Kubernetes, Chromium), end to end, then a minute of fuzzing
	@set -o pipefail; for m in $(MODULES); do \
		echo "=== go test $$m"; \
		(cd $$m && EVENTFLOW_BIN=$(BIN) $(GO) test -count=1 -timeout $(TEST_TIMEOUT) ./...) || exit 1; \
	done
	@# Then every fuzz target, FUZZ_BUDGET seconds in all (each at least 2 s).
	@echo "=== fuzz"
	hack/fuzz.sh --budget $(FUZZ_BUDGET)

# Fuzzing (hack/fuzz.sh): make test gives all targets FUZZ_BUDGET seconds
# together; make fuzz gives each FUZZTIME (a go test -fuzztime value).
FUZZ_BUDGET ?= 60
FUZZTIME ?= 1m

fuzz: ## run every Go fuzz target, one after another, FUZZTIME each (default 1m)
	hack/fuzz.sh --fuzztime $(FUZZTIME)

bench: build ## benchmarks: the platform against raw JetStream and direct calls, each path against a minimal program (see docs/BENCHMARKS.md)
	cd cmd/eventflow && EVENTFLOW_BIN=$(BIN) $(GO) test -run '^$$' -bench . -benchtime 1x -timeout 20m ./internal/bench/

k8s-build: ## build (or reuse) the test control plane: etcd, kube-*, kubectl, kwok (cached in ~/.cache/eventflow/k8s)
	hack/k8s.sh build

k8s-up: ## start a real Kubernetes control plane on 127.0.0.1 (kwok nodes); KUBECONFIG=~/.cache/eventflow/k8s/kubeconfig
	hack/k8s.sh up

k8s-down: ## stop and delete the test control plane
	hack/k8s.sh down

helm-build: ## build (or reuse) helm from the Go module proxy (cached in ~/.cache/eventflow/helm)
	hack/helm.sh build

test-function: ## smoke-test the user journey against a running gateway: make test-function URL=http://...
	scripts/test-function.sh $(URL)

images: ## build the container images (REGISTRY/<service>:VERSION, default ghcr.io/eventflow/...:dev) with Docker
	@for s in $(SERVICES); do \
		echo "=== $(REGISTRY)/$$s:$(VERSION)"; \
		$(DOCKER) build --build-arg VERSION=$(VERSION) --build-arg SERVICE=$$s -f services/Dockerfile -t $(REGISTRY)/$$s:$(VERSION) . || exit 1; \
	done
	$(DOCKER) build --build-arg VERSION=$(VERSION) -f cmd/eventflow/Dockerfile -t $(REGISTRY)/eventflow:$(VERSION) .

compose-up: ## run NATS and the four services as containers (docker compose), console on http://127.0.0.1:8080
	$(DOCKER) compose up -d --build --wait
	@echo "EventFlow is up: $(URL). Smoke test: FUNCTION_SHELL=/functions/sh make test-function (a static shell in .eventflow/functions, see docs/CONTAINERS.md); logs: make logs FROM=compose"

compose-down: ## stop the docker compose platform (add -v by hand to drop its data)
	$(DOCKER) compose down

k8s-deploy: ## apply deploy/k8s/overlays/OVERLAY (default dev) to the current kubectl context and wait for it
	$(KUBECTL) apply --server-side -k deploy/k8s/overlays/$(OVERLAY)
	$(KUBECTL) -n $(NAMESPACE) rollout status statefulset/eventflow-nats --timeout 5m
	$(KUBECTL) -n $(NAMESPACE) wait deployment -l app.kubernetes.io/part-of=eventflow --for condition=Available --timeout 5m

helm-install: helm-build ## install or upgrade the Helm chart as release eventflow (HELM_ARGS="--set ..." to customise)
	$(HELM) upgrade --install eventflow deploy/helm/eventflow --namespace $(NAMESPACE) --create-namespace --wait $(HELM_ARGS)

kind-setup: images ## for Docker users: a kind cluster with the images loaded and the dev overlay deployed
	$(KIND) get clusters | grep -qx $(KIND_CLUSTER) || $(KIND) create cluster --name $(KIND_CLUSTER)
	@for i in $(SERVICES) eventflow; do $(KIND) load docker-image --name $(KIND_CLUSTER) $(REGISTRY)/$$i:$(VERSION) || exit 1; done
	$(MAKE) k8s-deploy KUBECTL="$(KUBECTL) --context kind-$(KIND_CLUSTER)"
	@echo "then: $(KUBECTL) --context kind-$(KIND_CLUSTER) -n $(NAMESPACE) port-forward svc/eventflow-gateway 8080:80"

kind-clean: ## delete the kind cluster
	$(KIND) delete cluster --name $(KIND_CLUSTER)

logs: ## follow EventFlow's logs on the cluster (FROM=compose: of docker compose)
ifeq ($(FROM),compose)
	$(DOCKER) compose logs -f
else
	@# Without a context kubectl falls back to localhost:8080, which is
	@# EventFlow's own API under make run: say what is missing instead.
	@$(KUBECTL) config current-context >/dev/null 2>&1 || { echo "make logs: kubectl has no current context (set KUBECONFIG, or FROM=compose for docker compose; under make run the logs are in its terminal)" >&2; exit 1; }
	$(KUBECTL) -n $(NAMESPACE) logs -f --prefix --all-containers --max-log-requests 20 -l app.kubernetes.io/part-of=eventflow
endif

bench-k8s: build ## Kubernetes runtime benchmarks on the test control plane (see docs/BENCHMARKS.md)
	cd cmd/eventflow && EVENTFLOW_BIN=$(BIN) $(GO) test -run '^$$' -bench Kubernetes -benchtime 1x -timeout 20m ./internal/k8sbench/

vet: ## go vet every module
	@for m in $(MODULES); do (cd $$m && $(GO) vet ./...) || exit 1; done

fmt: ## gofmt every Go file
	gofmt -w $$(git ls-files '*.go')

lint: vet ## gofmt check and go vet
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed: $$out"; exit 1; fi

clean: ## remove built binaries, the console's build and the dev data dir
	rm -rf $(BIN) .eventflow test-output web/dist
	find $(CONSOLE_DIST) -mindepth 1 ! -name .gitkeep -delete
