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

.PHONY: all demo test deps wasm build images manifests vet fuzz bench-authz bench-ha bench-eaas bench-xds bench-recon bench-agent eval-agent dataset kube-apiserver etcd nmap bpf proto generate clean

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

# OCI images (OCI layouts under build/images, digests in build/images/images.json):
# static binaries on an empty base, and the filter in both forms Istio's WasmPlugin pulls.
# The commit and its time make the digests; the same commit gives the same digests.
images: wasm
	@mkdir -p $(BUILD)/static
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w -buildid=" -o $(BUILD)/static/ ./extauthz/cmd/extauthz ./xds/cmd/xds ./ebpf-agent/cmd/ebpf-agent
	$(GO) run ./internal/images/cmd/meshward-images -bin $(BUILD)/static -wasm $(WASM) -out $(BUILD)/images \
	  -revision $$(git rev-parse HEAD) -created $$(git log -1 --format=%ct)

# The install, rendered with every image pinned to the digests `make images` wrote.
manifests: images
	@mkdir -p $(BUILD)/manifests
	@for t in overlays/minimal overlays/ha mesh/wasmplugin mesh/envoyfilter; do \
	  out=$(BUILD)/manifests/$$(echo $$t | tr / -).yaml; \
	  $(GO) run ./internal/install/cmd/meshward-install -images $(BUILD)/images/images.json -target $$t > $$out || exit 1; \
	  echo "rendered $$out"; done

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

# nmap for the reconnaissance tests and benchmark (Debian's package).
nmap:
	$(call apt_need,nmap,nmap)

# Every test: unit, fuzz seeds, the filter's proxytest tests, and end-to-end
# tests over the built .wasm, real gRPC, grpc-go's xDS client, a real
# kube-apiserver and (as root) real eBPF programs.
test: vet wasm kube-apiserver etcd nmap
	$(GO) build -o $(BUILD)/extauthz ./extauthz/cmd/extauthz
	$(GO) build -o $(BUILD)/xds ./xds/cmd/xds
	cd wasm-filter && $(GOTEST) -mod=mod ./...
	MESHWARD_WASM=$(WASM) MESHWARD_KUBE_APISERVER=$(KUBE_APISERVER) MESHWARD_EXTAUTHZ=$(BUILD)/extauthz MESHWARD_XDS=$(BUILD)/xds $(GOTEST) ./...

# Run every fuzz target for FUZZTIME each.
fuzz: deps
	@for t in api/check:FuzzDecodeRequest extauthz/policy:FuzzParse xds/catalog:FuzzParse e2e/proxywasm:FuzzDecodePairs \
	  ebpf-agent/trace:FuzzReadADFA ebpf-agent/trace:FuzzReadJSONL ebpf-agent/trace:FuzzReadNative \
	  ebpf-agent/ngram:FuzzUnmarshal ebpf-agent/profile:FuzzDecode ebpf-agent/agent:FuzzParseContainers ebpf-agent/collector:FuzzDecode internal/pathnorm:FuzzNormalize xds/server:FuzzAdminVerify extauthz/policy:FuzzPatterns api/check:FuzzDecodeEpoch extauthz/workloads:FuzzParse internal/yamlstrict:FuzzAppendJSON extauthz/policy:FuzzDecodeByRule \
	  api/eaas:FuzzDecode api/eaas:FuzzSplitFrames api/eaas:FuzzParseEnvelope api/eaas:FuzzDecodeEnrolment \
	  extauthz/eaas/coordinator:FuzzProcess extauthz/eaas/rpc:FuzzServers extauthz/eaas/cryptor:FuzzOpen \
	  extauthz/eaas/keymanager:FuzzParseMaterial extauthz/eaas/keymanager:FuzzParseKeyset \
	  xds/envoy:FuzzBuild xds/envoy:FuzzParseTemplate xds/server:FuzzAdminAPI xds/server:FuzzParseAddrPool xds/bench:FuzzParseProfile xds/bench:FuzzParseStatm extauthz/policy:FuzzReachableConsistent api/xdsevent:FuzzDecodeEvent e2e/sidecar:FuzzInboundSockets e2e/sidecar:FuzzOutboundXDS e2e/recon:FuzzParseNmapXML extauthz/sharedstate:FuzzDecodeEntry xds/catalog:FuzzParseRotations internal/install:FuzzParseImages internal/monitoring:FuzzSelectors extauthz/kube:FuzzQuarantineOf xds/placementlog:FuzzDecode; do \
	  pkg=$${t%%:*}; fn=$${t##*:}; echo "fuzz $$pkg $$fn"; \
	  $(GO) test -run '^$$' -fuzz "^$$fn$$" -fuzztime $(FUZZTIME) ./$$pkg || exit 1; done
	@for fn in FuzzParseConfig FuzzDescribe FuzzEncodedLen FuzzParseAnswers FuzzUnbindResponse; do echo "fuzz wasm-filter/filter $$fn"; \
	  (cd wasm-filter && $(GO) test -mod=mod -run '^$$' -fuzz "^$$fn$$" -fuzztime $(FUZZTIME) ./filter) || exit 1; done

# The authorizer's benchmarks: gRPC Check with a 10,000-rule set vs allow-all
# (same code, same load client, interleaved in one run), and in-process
# evaluation latency at 10, 1,000 and 10,000 rules.
bench-authz: deps
	$(GO) build -o $(BUILD)/extauthz ./extauthz/cmd/extauthz
	$(GO) run ./extauthz/cmd/authz-bench -extauthz $(BUILD)/extauthz
	$(GO) test -run '^$$' -bench . -benchmem ./extauthz/bench/

# Authorizer replicas on a 3-member etcd (issue 11), about a minute: quarantine
# propagation p50/p99 across replicas, gRPC Check etcd-backed vs in-memory
# (interleaved rounds), a replica loading 100,000 quarantined workloads.
bench-ha: deps
	@command -v etcd >/dev/null || { echo "etcd is missing: make etcd"; exit 1; }
	$(GO) run ./extauthz/cmd/ha-bench

# EaaS (issue 9), interleaved in one run, about three minutes: round trips per
# cipher and replica scenario (α, β, λ), the cryptor ÷ raw Tink, a dropped
# fake ÷ a real decryption, and legitimate traffic under floods of fakes from
# attacker processes. `go run ./extauthz/cmd/eaas-bench -h` lists the knobs.
bench-eaas: wasm
	@mkdir -p $(BUILD)
	$(GO) build -o $(BUILD)/eaas-bench ./extauthz/cmd/eaas-bench
	$(GO) build -o $(BUILD)/eaas-hop-bench ./e2e/cmd/eaas-hop-bench
	$(BUILD)/eaas-bench
	$(BUILD)/eaas-hop-bench -wasm $(WASM)

# The xDS server under 1,000 then 5,000 ADS clients in one process (issue 10),
# state of the world then delta, about a minute: ramp, convergence of 20
# rotations (p50/p90/p99/max, last ACK), CPU and memory per client, and the
# goal p99 <= 1 s at 1,000 clients. `go run ./xds/cmd/xds-bench -h` lists the knobs.
bench-xds: deps
	@mkdir -p $(BUILD)
	$(GO) build -o $(BUILD)/xds-bench ./xds/cmd/xds-bench
	$(BUILD)/xds-bench -mode sotw
	$(BUILD)/xds-bench -mode delta

# Reconnaissance half-life (issue 10), about 7 minutes: orders every 10 s,
# 60 s and 300 s side by side (timed moves, an e2e sidecar following LDS,
# callers following EDS); the connect scanner and nmap map the pools 12
# times, 10 s apart, and probe each finding again 0, 10, 60 and 300 s later.
# Writes build/recon-half-life.{png,csv,json}. `go run ./e2e/cmd/recon-bench -h`
# lists the knobs (a smoke run: -intervals 2s,4s -deltas 0s,3s,8s -scans 4 -scan-every 1s).
bench-recon: wasm nmap
	@mkdir -p $(BUILD)
	$(GO) build -o $(BUILD)/recon-bench ./e2e/cmd/recon-bench
	$(BUILD)/recon-bench -wasm $(WASM) -out $(BUILD)/recon-half-life

# What collection costs a workload (root): getppid and 1-byte read loops,
# untraced vs agent attached vs strace, interleaved in one run.
bench-agent: deps
	$(call apt_need,strace,strace)
	$(GO) run ./ebpf-agent/cmd/agent-bench

# The agent's detection on the project's dataset (ebpf-agent/dataset: nginx,
# redis and postgres from Debian under load, attacks inside their cgroups;
# recorded by ebpf-agent/dataset/record.sh). Scenarios: base (learn v1, score
# v1), base-frozen (the same without online learning: the offline baseline),
# update-first (the first round after an image update: v1's model scores
# v2), update-later and update-cold (later rounds, from v1's model or from
# scratch); ~surprise: the other scorer, at its threshold chosen on postgres
# v1 as STIDE's was.
DATASET := ebpf-agent/dataset/dataset.tar.gz
eval-agent: deps
	@rm -rf $(BUILD)/eval $(BUILD)/eval-dataset && mkdir -p $(BUILD)/eval $(BUILD)/eval-dataset
	@tar -xzf $(DATASET) -C $(BUILD)/eval-dataset
	@$(GO) build -o $(BUILD)/ebpf-agent ./ebpf-agent/cmd/ebpf-agent
	@cd $(BUILD)/eval-dataset && for w in nginx redis postgres; do \
	  ev() { s=$$1; shift; $(BUILD)/ebpf-agent eval "$$@" > $(BUILD)/eval/$$w.$$s.json || exit 1; }; \
	  ev base         --train $$w/v1/train --normal $$w/v1/normal --attack $$w/v1/attack; \
	  ev base-frozen  --train $$w/v1/train --normal $$w/v1/normal --attack $$w/v1/attack --frozen; \
	  ev update-first --train $$w/v1/train --normal $$w/v2/first --attack $$w/v2/attack; \
	  ev update-later --train $$w/v1/train --train $$w/v2/first --normal $$w/v2/normal --attack $$w/v2/attack; \
	  ev update-cold  --train $$w/v2/first --normal $$w/v2/normal --attack $$w/v2/attack; \
	  ev base~surprise         --train $$w/v1/train --normal $$w/v1/normal --attack $$w/v1/attack --model surprise --threshold 0.7; \
	  ev update-first~surprise --train $$w/v1/train --normal $$w/v2/first --attack $$w/v2/attack --model surprise --threshold 0.7; \
	done
	@$(GO) run ebpf-agent/dataset/summary.go $$(ls $(BUILD)/eval/*.json)

# Record the dataset anew (root; installs the servers and load generators).
dataset:
	$(call apt_need,nginx-light redis-server redis-tools postgresql wrk,nginx redis-server redis-benchmark pgbench wrk)
	ebpf-agent/dataset/record.sh $(BUILD)/dataset
	tar -czf $(DATASET) --sort=name --owner=0 --group=0 --mtime=@0 -C $(BUILD)/dataset nginx redis postgres

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
	  --go-grpc_out=. --go-grpc_opt=module=github.com/meshward/meshward api/verdict/v1/verdict.proto api/eaas/v1/eaas.proto

generate: bpf proto

clean:
	rm -rf $(BUILD) wasm-filter/vendor
