#!/bin/sh
# Installs, on Debian or Ubuntu, what a make target needs and is missing.
#   deps.sh test          the test suite: bpftool, containerd, runc,
#                         busybox-static, promtool, the CNI plugins and
#                         iproute2 of the Kubernetes node, and its kubelet
#                         (built from Go modules and cached: test/kubenode)
#   deps.sh generate      make generate: clang-19, llvm-strip-19, libbpf
#                         headers, bpftool
#   deps.sh bench         make bench: a static C toolchain for the loops and
#                         the peers (strace, perf, bpftrace, opensnoop)
#   deps.sh bench-smoke   make bench-smoke: only the static C toolchain
#   deps.sh vmtest        make vmtest: qemu for x86_64 and aarch64,
#                         busybox-static, dpkg-deb, xz, the Debian archive
#                         keyring (kernels, and the arm64 guests' userland,
#                         are fetched by the VM runner with its own private
#                         apt state)
# Elsewhere it names the missing packages and stops.
set -eu

want=""
have() { command -v "$1" >/dev/null 2>&1; }
need() { want="$want $1"; }

# Debian's busybox package is dynamic; the tests and the guests need
# busybox-static (a libc-less container rootfs, the VM's initramfs).
static_busybox() {
	[ -x /bin/busybox ] && ! grep -q -a -e '/lib64/ld-linux' -e '/lib/ld-' /bin/busybox
}
static_libc() {
	[ -f /usr/lib/x86_64-linux-gnu/libc.a ] || [ -f /usr/lib/aarch64-linux-gnu/libc.a ] || [ -f /usr/lib/libc.a ]
}

mode="${1:-test}"
case "$mode" in
generate)
	have clang-19 || need clang-19
	# bpf2go strips the objects with the llvm-strip of clang's version.
	have llvm-strip-19 || need llvm-19
	[ -f /usr/include/bpf/bpf_helpers.h ] || need libbpf-dev
	have bpftool || need bpftool
	;;
test)
	# bpftool: tests check that no program stays loaded after ctrace exits.
	have bpftool || need bpftool
	# The container tests start a private containerd that runs runc
	# containers from a static busybox rootfs.
	have containerd || need containerd
	have containerd-shim-runc-v2 || need containerd
	have runc || need runc
	static_busybox || need busybox-static
	# promtool (package prometheus): the metrics test checks a real scrape.
	have promtool || need prometheus
	# The Kubernetes node (internal/testing/kubenodetest): pod networks from
	# the bridge, host-local and loopback plugins; ip removes its bridge.
	[ -x /usr/lib/cni/bridge ] || need containernetworking-plugins
	have ip || need iproute2
	;;
bench | bench-smoke)
	have cc || need gcc
	static_libc || need libc6-dev
	if [ "$mode" = bench ]; then
		have strace || need strace
		have perf || need linux-perf
		have bpftrace || need bpftrace
		have opensnoop || [ -x /usr/sbin/opensnoop ] || need libbpf-tools
		have bpftool || need bpftool
	fi
	;;
vmtest)
	have qemu-system-x86_64 || need qemu-system-x86
	# arm64 kernels boot on -machine virt straight from their Image: no
	# firmware package is needed.
	have qemu-system-aarch64 || need qemu-system-arm
	static_busybox || need busybox-static
	have dpkg-deb || need dpkg
	have xz || need xz-utils
	# promtool: the metrics test runs it in the guests too.
	have promtool || need prometheus
	[ -f /usr/share/keyrings/debian-archive-keyring.gpg ] || need debian-archive-keyring
	;;
*)
	echo "usage: $0 test|generate|bench|bench-smoke|vmtest" >&2
	exit 2
	;;
esac

if [ -n "$want" ]; then
	if ! have apt-get; then
		echo "missing:$want; install them with your package manager" >&2
		exit 1
	fi
	if [ "$(id -u)" -ne 0 ]; then
		echo "missing:$want; run as root (sudo make ...) to install them with apt-get" >&2
		exit 1
	fi
	echo "installing:$want"
	export DEBIAN_FRONTEND=noninteractive
	# A fresh machine may have no package lists yet.
	if ! apt-get install -y -q --no-install-recommends $want; then
		apt-get update -q
		apt-get install -y -q --no-install-recommends $want
	fi
fi

# The Kubernetes node's kubelet, and the control plane's kube-apiserver,
# etcd, kube-controller-manager and kube-scheduler: built once (about 11
# minutes in all on 2 cores), then cached under ~/.cache/ctrace-kubenode/
# by their version and go.sum.
if [ "$mode" = test ]; then
	"$(dirname "$0")/../test/kubenode/build.sh" kubelet kube-apiserver etcd kube-controller-manager kube-scheduler >/dev/null
fi
