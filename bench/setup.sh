#!/bin/sh
# Installs, on Debian or Ubuntu, what `make bench` needs and is missing:
#   setup.sh full    the peers (strace, perf, bpftrace, opensnoop), bpftool,
#                    and a C compiler with a static libc for bench/loop
#   setup.sh smoke   only what the smoke run needs (compiler, static libc)
# and mounts tracefs, which bpftrace and perf trace need, when it is absent.
set -eu

want=""
have() { command -v "$1" >/dev/null 2>&1; }
have cc || want="$want gcc"
[ -f /usr/lib/x86_64-linux-gnu/libc.a ] || [ -f /usr/lib/aarch64-linux-gnu/libc.a ] || [ -f /usr/lib/libc.a ] || want="$want libc6-dev"
if [ "${1:-full}" = full ]; then
	have strace || want="$want strace"
	have perf || want="$want linux-perf"
	have bpftrace || want="$want bpftrace"
	have opensnoop || [ -x /usr/sbin/opensnoop ] || want="$want libbpf-tools"
	have bpftool || want="$want bpftool"
fi
if [ -n "$want" ]; then
	if ! have apt-get; then
		echo "missing:$want; install them with your package manager" >&2
		exit 1
	fi
	if [ "$(id -u)" -ne 0 ]; then
		echo "missing:$want; run as root (sudo make bench) to install them with apt-get" >&2
		exit 1
	fi
	echo "installing:$want"
	export DEBIAN_FRONTEND=noninteractive
	if ! apt-get install -y -q --no-install-recommends $want; then
		apt-get update -q
		apt-get install -y -q --no-install-recommends $want
	fi
fi
if [ "$(id -u)" -eq 0 ] && [ ! -e /sys/kernel/tracing/events ]; then
	mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null || true
fi
