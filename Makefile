# ctrace build, test and code generation. Run as root where noted:
#   sudo make run     build ctrace and trace this node
#   sudo make test    every test, the privileged ones included

# sudo's secure_path usually lacks Go's directory.
GO ?= $(firstword $(shell command -v go 2>/dev/null) $(wildcard /usr/local/go/bin/go) go)
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT ?= $(shell git rev-parse HEAD 2>/dev/null)
# The commit's time, not the build's: rebuilding a commit gives the same
# binaries, man pages and images.
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
DATE := $(shell date -u -d @$(SOURCE_DATE_EPOCH) +%Y-%m-%dT%H:%M:%SZ)
export SOURCE_DATE_EPOCH
LDFLAGS := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT) -X main.buildDate=$(DATE)
BIN := bin/ctrace
# Arguments for `make run`, e.g. make run ARGS="-e %mount -o json".
ARGS ?=

.PHONY: build run generate vmlinux check-generate deps test fuzz lint clean kubenode

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/ctrace
	@# The kubectl plugin (docs/kubernetes.md): kubectl finds it on PATH.
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w" -o bin/kubectl-ctrace ./cmd/kubectl-ctrace

run: build
	./$(BIN) run $(ARGS)

# Regenerate, from the table of traced syscalls (tracer/ops.go), the op
# header bpf/ctrace_ops.h, tracer/syscalls_*.go and the README's list; then
# rebuild the committed bpf2go objects from bpf/ (needs clang-19 and libbpf-dev).
generate:
	build/deps.sh generate
	@# opsgen builds the tracer package, which embeds the objects: a failed
	@# clang run that removed one must not stop the next generate.
	@for o in tracer/bpf_x86_bpfel.o tracer/bpf_arm64_bpfel.o; do [ -f $$o ] || git checkout -- $$o; done
	cd tracer && $(GO) generate ./...

# Regenerate bpf/vmlinux.h from the running kernel's BTF. CO-RE makes the
# result usable on other kernels; it is only refreshed deliberately.
vmlinux:
	build/deps.sh generate
	bpftool btf dump file /sys/kernel/btf/vmlinux format c > bpf/vmlinux.h

# CI: the committed generated files are what `make generate` produces.
check-generate: generate
	git diff --exit-code --stat -- tracer/ bpf/ README.md || { echo "generated files differ from the committed ones: run make generate and commit"; exit 1; }
	@new=$$(git ls-files --others --exclude-standard -- tracer/ bpf/); if [ -n "$$new" ]; then echo "generated files not committed: $$new"; exit 1; fi

deps:
	build/deps.sh test

# A one-node Kubernetes cluster (docs/kubernetes.md): containerd's CRI, CNI,
# a kubelet registered with etcd, kube-apiserver, kube-controller-manager
# and kube-scheduler, all built from the Kubernetes Go modules (cached
# under ~/.cache/ctrace-kubenode), an admin kubeconfig in
# /tmp/kubenode/api/kubeconfig, static pods from /tmp/kubenode/manifests. It
# stays up in the foreground; Ctrl-C tears it down. As root.
kubenode: deps
	$(GO) run ./internal/testing/kubenodetest/kubenode

# Every test. The integration tests load eBPF programs: run as root.
test: deps
	$(GO) test -count=1 -timeout 20m ./...

# Every fuzz target (func Fuzz* in a _test.go file) for FUZZTIME each, one
# after another: about 30 s in all with 100000x. go test runs their seed
# corpora in `make test`; this explores beyond them. A failure leaves its
# input under the package's testdata/fuzz/, to be committed with the fix.
# The default is a count of inputs, not a duration: with a duration, Go's
# fuzzing coordinator can report its own deadline as a failure ("context
# deadline exceeded", no input written) when a loaded machine delays the
# shutdown; a count has no deadline. FUZZTIME=150s still works for long runs.
FUZZTIME ?= 100000x
fuzz:
	@set -e; for f in $$(grep -rl --include='*_test.go' '^func Fuzz' . | sort); do \
		d=$$(dirname $$f); \
		for n in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' $$f); do \
			echo "fuzz $$d $$n ($(FUZZTIME))"; \
			$(GO) test -run '^$$' -fuzz "^$$n\$$" -fuzztime $(FUZZTIME) $$d; \
		done; \
	done

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) tool staticcheck ./...

clean:
	rm -rf bin dist

# Benchmarks (test/bench/, docs/BENCHMARKS.md). Run as root:
#   sudo make bench         the full run (~10 minutes): writes docs/bench/ and
#                           the results section of docs/BENCHMARKS.md
#   sudo make bench-smoke   a quick check that the harness still works
BENCH_FLAGS ?=
.PHONY: bench bench-smoke bench-tools

bench: build
	build/deps.sh bench
	$(MAKE) bench-tools
	./bin/ctrace-bench $(BENCH_FLAGS)

bench-smoke: build
	build/deps.sh bench-smoke
	$(MAKE) bench-tools
	./bin/ctrace-bench -smoke $(BENCH_FLAGS)

bench-tools:
	$${CC:-cc} -O2 -Wall -static -pthread -o bin/ctrbench test/bench/loop/ctrbench.c
	CGO_ENABLED=0 $(GO) build -o bin/ctrace-bench ./test/bench

# Container image and release archives (docs/kubernetes.md).
#   make image      bin/ctrace-image-$(ARCH).tar: an OCI image layout of a
#                   FROM-scratch image holding the static binary; no Docker
#                   daemon, no registry (ctr image import loads it)
#   make release    dist/: static binaries for linux/amd64 and linux/arm64,
#                   their images, man pages, shell completions, SHA256SUMS
ARCH ?= $(shell $(GO) env GOARCH)
RELEASE_ARCHES := amd64 arm64
DIST := dist
.PHONY: image release

# bpf2go's output for an architecture: without it, that build cannot embed
# the eBPF programs.
bpf-objects-%:
	@obj=tracer/bpf_$(if $(filter amd64,$*),x86,$*)_bpfel.o; test -f $$obj || { \
		echo "release: no eBPF objects for $* ($$obj): run make generate once bpf/ builds for $*" >&2; exit 1; }

bin/ctrace-linux-%: bpf-objects-% FORCE
	CGO_ENABLED=0 GOOS=linux GOARCH=$* $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $@ ./cmd/ctrace

image: bin/ctrace-linux-$(ARCH)
	$(GO) run ./build/image -binary bin/ctrace-linux-$(ARCH) -arch $(ARCH) \
		-version $(VERSION) -commit $(COMMIT) -o bin/ctrace-image-$(ARCH).tar

release: $(addprefix bin/ctrace-linux-,$(RELEASE_ARCHES))
	rm -rf $(DIST) && mkdir -p $(DIST)/share
	$(GO) run ./cmd/ctrace gendocs --man $(DIST)/share/man/man8 --completions $(DIST)/share/completions
	set -e; for a in $(RELEASE_ARCHES); do \
		d=ctrace-$(VERSION)-linux-$$a; mkdir -p $(DIST)/$$d; \
		cp bin/ctrace-linux-$$a $(DIST)/$$d/ctrace; cp -r $(DIST)/share/* README.md $(DIST)/$$d/; \
		tar --sort=name --mtime=@$(SOURCE_DATE_EPOCH) --owner=0 --group=0 --numeric-owner \
			-C $(DIST) -czf $(DIST)/$$d.tar.gz $$d; rm -rf $(DIST)/$$d; \
		cp bin/ctrace-linux-$$a $(DIST)/ctrace-linux-$$a; \
		$(GO) run ./build/image -binary bin/ctrace-linux-$$a -arch $$a -version $(VERSION) \
			-commit $(COMMIT) -o $(DIST)/ctrace-image-$(VERSION)-linux-$$a.tar; \
	done
	rm -rf $(DIST)/share
	cd $(DIST) && sha256sum ctrace-* > SHA256SUMS && cat SHA256SUMS

FORCE:

# Boot Debian's 5.10, 6.1 and 6.12 amd64 kernels and the 6.1 and 6.12
# arm64 ones under qemu (software emulation) and run the tests inside each (test/vm);
# one line per kernel, the whole log of a failing one, and the README's
# kernel table regenerated from each kernel's `ctrace check -o json`. As
# root. `make vmtest KERNEL=6.1` (or KERNEL=6.1-arm64) boots one kernel;
# VMTEST_ARGS passes flags (go run ./test/vm -help). The guests run the
# release binaries, built by the rule `make release` uses: a release of the
# same commit is byte for byte what the VMs ran (vmtest prints their
# SHA-256, as dist/SHA256SUMS does).
KERNEL ?=
VMTEST_ARGS ?=
.PHONY: vmtest
vmtest: $(addprefix bin/ctrace-linux-,$(RELEASE_ARCHES))
	build/deps.sh vmtest
	$(GO) run ./test/vm -kernels "$(KERNEL)" -ctrace 'bin/ctrace-linux-{goarch}' $(VMTEST_ARGS)
