# kvmirror's Makefile, in kubebuilder's style: `make` or `make help` lists every target.

# Image the deploy and docker-build targets use.
IMG ?= kvmirror:latest

# Every recipe runs in bash with pipefail, so a failing command in a pipe fails the target.
SHELL = /usr/bin/env bash -o pipefail
.SHELLFLAGS = -ec

.DEFAULT_GOAL := help

##@ General

# The help target prints the targets that have a `## ` comment, grouped by the `##@` headings.
.PHONY: help
help: ## Display this help.
	@awk 'BEGIN {FS = ":.*##"; printf "\nUsage:\n  make \033[36m<target>\033[0m\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-15s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) } ' $(MAKEFILE_LIST)

##@ Development

.PHONY: manifests
manifests: controller-gen ## Generate the CRD and RBAC manifests in config/ from the code's markers.
	$(CONTROLLER_GEN) rbac:roleName=manager-role crd webhook paths="./..." output:crd:artifacts:config=config/crd/bases

.PHONY: generate
generate: controller-gen ## Generate the DeepCopy methods (zz_generated.deepcopy.go) of the API types.
	$(CONTROLLER_GEN) object:headerFile="hack/boilerplate.go.txt" paths="./..."

# The Go modules of the checkout: the operator; the kvstore library nested in kvstore/ (a module
# of its own so that library users do not inherit Kubernetes); and its libkv and valkeyrie
# adapters in kvstore/compat (apart, so that the library does not require libkv or valkeyrie).
# `./...` stops at a nested module, so each target that walks the code runs once per module.
MODULES := . kvstore kvstore/compat

# in-modules runs its argument in each module's folder and fails if any run failed, after all ran.
define in-modules
status=0; for m in $(MODULES); do echo "== module $$m"; (cd $$m && $(1)) || status=1; done; exit $$status
endef

.PHONY: fmt
fmt: ## Format the Go code (gofmt).
	@$(call in-modules,go fmt ./...)

.PHONY: fmt-check
fmt-check: ## Fail if a Go file is not gofmt-formatted, listing it.
	@files=$$(gofmt -l $$(git ls-files --cached --others --exclude-standard '*.go')); \
	if [[ -n "$$files" ]]; then echo "not gofmt-formatted (run make fmt):"; echo "$$files"; exit 1; fi

.PHONY: vet
vet: ## Run go vet.
	@$(call in-modules,go vet ./...)

.PHONY: lint
lint: golangci-lint ## Run golangci-lint (.golangci.yml).
	@$(call in-modules,$(GOLANGCI_LINT) run --config $(CURDIR)/.golangci.yml)

.PHONY: lint-fix
lint-fix: golangci-lint ## Run golangci-lint and apply the fixes it can.
	@$(call in-modules,$(GOLANGCI_LINT) run --config $(CURDIR)/.golangci.yml --fix)

.PHONY: test-deps
test-deps: ## Install and build every server the tests run against (cached: a second run does nothing).
	bash hack/test-deps.sh

# KVMIRROR_REQUIRE_SERVERS=1 turns a missing server binary into a test failure instead of a skip.
.PHONY: test
test: test-deps fmt-check vet lint ## Install the test servers, check and lint, then run every test with -race.
	@$(call in-modules,KVMIRROR_REQUIRE_SERVERS=1 go test -race -count=1 -timeout 45m ./...)

.PHONY: bench
bench: test-deps ## Run the benchmarks (against the same real servers as the tests); results are ratios to a baseline of the same run.
	@$(call in-modules,KVMIRROR_REQUIRE_SERVERS=1 go test -run '^$$' -bench . -benchmem -timeout 20m ./...)

# The demo needs no cluster and no KV store: hack/demo starts a control plane from the test
# servers, an etcd inside itself and two bin/manager replicas. DEMO_ONCE=1 reaches it through
# the environment.
.PHONY: demo
demo: test-deps ## Run the demo: a local cluster, an embedded etcd, two replicas mirroring keys live (DEMO_ONCE=1: run once, exit).
	go build -o bin/manager ./cmd/manager
	go run ./hack/demo

##@ Build

.PHONY: build
build: manifests generate fmt vet ## Build the manager binary into bin/manager.
	go build -o bin/manager ./cmd/manager

.PHONY: run
run: manifests generate fmt vet ## Run the manager from your host against the cluster in your kubeconfig.
	go run ./cmd/manager

CONTAINER_TOOL ?= docker

.PHONY: docker-build
docker-build: ## Build the manager's container image (IMG).
	$(CONTAINER_TOOL) build -t $(IMG) .

.PHONY: docker-push
docker-push: ## Push the manager's container image (IMG).
	$(CONTAINER_TOOL) push $(IMG)

##@ Deployment

ifndef ignore-not-found
  ignore-not-found = false
endif

# Where build-installer writes the one-file installer; dist/ is not tracked.
INSTALLER ?= dist/install.yaml

# render-default prints config/default as kubectl's built-in kustomize renders it, with the
# manager's image (controller:latest in config/manager) set to IMG. The image is replaced in the
# stream, not with `kustomize edit set image`, so that deploying leaves the checkout unchanged.
define render-default
$(KUBECTL) kustomize config/default | sed 's|image: controller:latest|image: $(IMG)|'
endef

.PHONY: install
install: manifests ## Install the CRDs into the cluster in your kubeconfig.
	$(KUBECTL) kustomize config/crd | $(KUBECTL) apply --server-side -f -

.PHONY: uninstall
uninstall: manifests ## Uninstall the CRDs: deletes every KVMirror and the ConfigMaps they own. ignore-not-found=true ignores missing ones.
	$(KUBECTL) kustomize config/crd | $(KUBECTL) delete --ignore-not-found=$(ignore-not-found) -f -

# The replicas elect their leader on the store named in config/manager/manager-config.env: set it
# before deploying.
.PHONY: deploy
deploy: manifests ## Deploy the CRDs and the manager (config/default) with image IMG to the cluster in your kubeconfig.
	$(render-default) | $(KUBECTL) apply --server-side -f -

.PHONY: undeploy
undeploy: ## Undeploy the manager and the CRDs: deletes every KVMirror and the ConfigMaps they own. ignore-not-found=true ignores missing ones.
	$(KUBECTL) kustomize config/default | $(KUBECTL) delete --ignore-not-found=$(ignore-not-found) -f -

# The file is written aside and moved into place, so that a failed render leaves no truncated
# installer behind.
.PHONY: build-installer
build-installer: manifests ## Write the CRDs and the manager with image IMG into one file, dist/install.yaml (INSTALLER).
	mkdir -p $(dir $(INSTALLER))
	$(render-default) > $(INSTALLER).tmp
	mv $(INSTALLER).tmp $(INSTALLER)

##@ Dependencies

# Tools are installed into ./bin under a versioned name, with a symlink to it.
LOCALBIN ?= $(shell pwd)/bin
$(LOCALBIN):
	mkdir -p $(LOCALBIN)

KUBECTL ?= kubectl
CONTROLLER_GEN ?= $(LOCALBIN)/controller-gen
GOLANGCI_LINT ?= $(LOCALBIN)/golangci-lint

CONTROLLER_TOOLS_VERSION ?= v0.23.0
GOLANGCI_LINT_VERSION ?= v2.15.0

.PHONY: controller-gen
controller-gen: | $(LOCALBIN) ## Install controller-gen into ./bin if missing.
	$(call go-install-tool,$(CONTROLLER_GEN),sigs.k8s.io/controller-tools/cmd/controller-gen,$(CONTROLLER_TOOLS_VERSION))

.PHONY: golangci-lint
golangci-lint: | $(LOCALBIN) ## Install golangci-lint into ./bin if missing.
	$(call go-install-tool,$(GOLANGCI_LINT),github.com/golangci/golangci-lint/v2/cmd/golangci-lint,$(GOLANGCI_LINT_VERSION))

# go-install-tool installs package $(2) at version $(3) as $(1)-$(3) and points the symlink $(1)
# at it. It builds only when that version's file is missing, so changing a version above
# installs the new one and switching back is instant.
define go-install-tool
@[ -f "$(1)-$(3)" ] && [ "$$(readlink -- "$(1)" 2>/dev/null)" = "$$(basename "$(1)-$(3)")" ] || { \
set -e; \
package=$(2)@$(3) ;\
echo "Downloading $${package}" ;\
rm -f "$(1)" ;\
GOBIN="$(LOCALBIN)" go install $${package} ;\
mv "$(1)" "$(1)-$(3)" ;\
} ;\
ln -sf "$$(basename "$(1)-$(3)")" "$(1)"
endef
