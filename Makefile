# meshward — see README.md. `make demo` and `make test` are the two commands.

GO        ?= go
BUILD     := $(CURDIR)/build
WASM      := $(BUILD)/meshward-filter.wasm
GOTEST    := $(GO) test -count=1 -timeout 20m
FUZZTIME  ?= 30s

# apt-get install the Debian packages named in $(1) when a command in $(2) is missing.
define apt_need
	@missing=""; for c in $(2); do command -v $$c >/dev/null 2>&1 || missing=1; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian packages: $(1)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(1) >/dev/null; \
	  else \
	    echo "missing $(2): install the Debian packages '$(1)' (sudo apt-get install $(1))"; exit 1; \
	  fi; \
	fi
endef

.PHONY: all demo test deps wasm build vet fuzz bench-authz bench-agent kube-apiserver etcd bpf proto generate clean

all: build wasm

deps:
	@command -v $(GO) >/dev/null || { echo "Go is missing: install Go 1.26 or later (https://go.dev/doc/install)"; exit 1; }
	@$(GO) mod download && (cd wasm-filter && $(GO) mod download)

# The filter is its own module, built with standard Go for wasip1 through an
# overlay of ABI glue that targets a vendor/ copy of the proxy-wasm SDK.
wasm: deps
	@mkdir -p $(BUILD)
	cd wasm-filter && $(GO) mod vendor && \
	  GOOS=wasip1 GOARCH=wasm $(GO) build -mod=vendor -tags meshward_overlay -overlay overlay.json \
	    -buildmode=c-shared -trimpath -o $(WASM) .
	@echo "built $(WASM) ($$(du -h $(WASM) | cut -f1))"

build: deps
	$(GO) build -o $(BUILD)/ ./extauthz/cmd/extauthz ./xds/cmd/xds ./ebpf-agent/cmd/ebpf-agent ./e2e/cmd/demo

demo: wasm
	$(GO) run ./e2e/cmd/demo -wasm $(WASM)

vet: deps
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }
	$(GO) vet ./...
	cd wasm-filter && $(GO) vet -mod=mod ./...

# A real kube-apiserver for the Kubernetes tests, built from k8s.io/kubernetes
# (its own small module; about 9 minutes cold, seconds with the build cache).
KUBE_APISERVER := $(BUILD)/kube-apiserver
kube-apiserver: $(KUBE_APISERVER)
$(KUBE_APISERVER): e2e/kube/apiserver/go.mod e2e/kube/apiserver/go.sum e2e/kube/apiserver/main.go
	@mkdir -p $(BUILD)
	cd e2e/kube/apiserver && $(GO) build -o $(KUBE_APISERVER) .

etcd:
	$(call apt_need,etcd-server,etcd)

# Every test: unit, fuzz seeds, the filter's proxytest tests, and end-to-end
# tests over the built .wasm, real gRPC, grpc-go's xDS client, a real
# kube-apiserver and (as root) real eBPF programs.
test: vet wasm kube-apiserver etcd
	cd wasm-filter && $(GOTEST) -mod=mod ./...
	MESHWARD_WASM=$(WASM) MESHWARD_KUBE_APISERVER=$(KUBE_APISERVER) $(GOTEST) ./...

# Run every fuzz target for FUZZTIME each.
fuzz: deps
	@for t in api/check:FuzzDecodeRequest extauthz/policy:FuzzParse xds/catalog:FuzzParse e2e/proxywasm:FuzzDecodePairs \
	  ebpf-agent/trace:FuzzReadADFA ebpf-agent/trace:FuzzReadJSONL ebpf-agent/trace:FuzzReadNative; do \
	  pkg=$${t%%:*}; fn=$${t##*:}; echo "fuzz $$pkg $$fn"; \
	  $(GO) test -run '^$$' -fuzz "^$$fn$$" -fuzztime $(FUZZTIME) ./$$pkg || exit 1; done
	cd wasm-filter && $(GO) test -mod=mod -run '^$$' -fuzz '^FuzzParseConfig$$' -fuzztime $(FUZZTIME) ./filter

# The authorizer's benchmarks: gRPC Check with a 10,000-rule set vs allow-all
# (same code, same load client, interleaved in one run), and in-process
# evaluation latency at 10, 1,000 and 10,000 rules.
bench-authz: deps
	$(GO) run ./extauthz/cmd/authz-bench
	$(GO) test -run '^$$' -bench . -benchmem ./extauthz/bench/

# What collection costs a workload (root): getppid and 1-byte read loops,
# untraced vs agent attached vs strace, interleaved in one run.
bench-agent: deps
	$(call apt_need,strace,strace)
	$(GO) run ./ebpf-agent/cmd/agent-bench

# Regenerate the committed bpf2go output (needs clang and libbpf headers).
bpf:
	$(call apt_need,clang llvm libbpf-dev linux-libc-dev,clang llvm-strip)
	$(GO) generate ./ebpf-agent/collector/ ./ebpf-agent/isolate/

# Regenerate the committed protobuf code.
proto:
	$(call apt_need,protobuf-compiler,protoc)
	GOBIN=$(BUILD)/bin $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
	GOBIN=$(BUILD)/bin $(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.2
	PATH=$(BUILD)/bin:$$PATH protoc --go_out=. --go_opt=module=github.com/meshward/meshward \
	  --go-grpc_out=. --go-grpc_opt=module=github.com/meshward/meshward api/verdict/v1/verdict.proto

generate: bpf proto

clean:
	rm -rf $(BUILD) wasm-filter/vendor
