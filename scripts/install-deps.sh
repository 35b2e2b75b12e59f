#!/bin/sh
# Installs, on Debian or Ubuntu, what a make target needs and is missing.
#   install-deps.sh test       what the test suite uses
#   install-deps.sh generate   clang-19, libbpf headers and bpftool for make generate
# Elsewhere it names the missing commands and stops.
set -eu

want=""

# file_is_dynamic: whether an ELF binary names a program interpreter
# (Debian's busybox package is dynamic; the tests need busybox-static).
file_is_dynamic() {
	grep -q -a -e '/lib64/ld-linux' -e '/lib/ld-' "$1"
}
case "${1:-test}" in
generate)
	command -v clang-19 >/dev/null || want="$want clang-19"
	[ -f /usr/include/bpf/bpf_helpers.h ] || want="$want libbpf-dev"
	command -v bpftool >/dev/null || want="$want bpftool"
	;;
test)
	# bpftool: tests check that no program stays loaded after ctrace exits.
	command -v bpftool >/dev/null || want="$want bpftool"
	# The container tests (correlate/) start a private containerd that
	# runs runc containers from a static busybox rootfs.
	command -v containerd >/dev/null || want="$want containerd"
	command -v containerd-shim-runc-v2 >/dev/null || want="$want containerd"
	command -v runc >/dev/null || want="$want runc"
	[ -x /bin/busybox ] && ! file_is_dynamic /bin/busybox || want="$want busybox-static"
	# promtool (package prometheus): the metrics test checks a real scrape.
	command -v promtool >/dev/null || want="$want prometheus"
	;;
*)
	echo "usage: $0 test|generate" >&2
	exit 2
	;;
esac
[ -z "$want" ] && exit 0

if ! command -v apt-get >/dev/null; then
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
