# ctrace build, test and code generation. Run as root where noted:
#   sudo make run     build ctrace and trace this node
#   sudo make test    every test, the privileged ones included

# sudo's secure_path usually lacks Go's directory.
GO ?= $(firstword $(shell command -v go 2>/dev/null) $(wildcard /usr/local/go/bin/go) go)
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT ?= $(shell git rev-parse HEAD 2>/dev/null)
LDFLAGS := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT)
BIN := bin/ctrace
# Arguments for `make run`, e.g. make run ARGS="-e %mount -o json".
ARGS ?=

.PHONY: build run generate vmlinux check-generate deps test lint clean

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/ctrace

run: build
	./$(BIN) run $(ARGS)

# Rebuild the committed bpf2go objects from bpf/ (needs clang-19 and libbpf-dev).
generate:
	scripts/install-deps.sh generate
	cd tracer && $(GO) generate ./...

# Regenerate bpf/vmlinux.h from the running kernel's BTF. CO-RE makes the
# result usable on other kernels; it is only refreshed deliberately.
vmlinux:
	scripts/install-deps.sh generate
	bpftool btf dump file /sys/kernel/btf/vmlinux format c > bpf/vmlinux.h

# CI: the committed objects are what `make generate` produces.
check-generate: generate
	git diff --exit-code --stat -- tracer/ bpf/ || { echo "generated files differ from the committed ones: run make generate and commit"; exit 1; }

deps:
	scripts/install-deps.sh test

# Every test. The integration tests load eBPF programs: run as root.
test: deps
	$(GO) test -count=1 -timeout 20m ./...

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) tool staticcheck ./...

clean:
	rm -rf bin

# Benchmarks (bench/, docs/BENCHMARKS.md). Run as root:
#   sudo make bench         the full run (~10 minutes): writes docs/bench/ and
#                           the results section of docs/BENCHMARKS.md
#   sudo make bench-smoke   a quick check that the harness still works
BENCH_FLAGS ?=
.PHONY: bench bench-smoke bench-tools

bench: build
	bench/setup.sh full
	$(MAKE) bench-tools
	./bin/ctrace-bench $(BENCH_FLAGS)

bench-smoke: build
	bench/setup.sh smoke
	$(MAKE) bench-tools
	./bin/ctrace-bench -smoke $(BENCH_FLAGS)

bench-tools:
	$${CC:-cc} -O2 -Wall -static -pthread -o bin/ctrbench bench/loop/ctrbench.c
	CGO_ENABLED=0 $(GO) build -o bin/ctrace-bench ./bench

# Boot Debian's 5.10, 6.1 and 6.12 kernels under qemu (software emulation)
# and run the tests inside each (test/vm); one line per kernel, the whole
# log of a failing one, and the README's kernel table regenerated from
# each kernel's `ctrace check -o json`. As root. `make vmtest KERNEL=6.1`
# boots one kernel; VMTEST_ARGS passes flags (go run ./test/vm -help).
KERNEL ?=
VMTEST_ARGS ?=
.PHONY: vmtest
vmtest:
	test/vm/deps.sh
	$(GO) run ./test/vm -kernels "$(KERNEL)" $(VMTEST_ARGS)
