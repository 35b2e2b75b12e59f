#!/bin/sh
# Installs, on Debian or Ubuntu, what `make vmtest` needs and is missing:
# qemu, a static busybox for the guests, and dpkg-deb and xz to unpack
# kernel packages. Kernel packages themselves are fetched by the runner
# with a private apt configuration.
set -eu
want=""
command -v qemu-system-x86_64 >/dev/null || want="$want qemu-system-x86"
if ! command -v busybox >/dev/null || ! file -L "$(command -v busybox)" 2>/dev/null | grep -q static; then
	# file may be missing: then trust busybox-static's package.
	dpkg -s busybox-static >/dev/null 2>&1 || want="$want busybox-static"
fi
command -v dpkg-deb >/dev/null || want="$want dpkg"
command -v xz >/dev/null || want="$want xz-utils"
# promtool (package prometheus): the metrics test runs it, in the guests too.
command -v promtool >/dev/null || want="$want prometheus"
[ -f /usr/share/keyrings/debian-archive-keyring.gpg ] || want="$want debian-archive-keyring"
[ -z "$want" ] && exit 0
if ! command -v apt-get >/dev/null || [ "$(id -u)" -ne 0 ]; then
	echo "missing:$want; install them (as root, with apt-get)" >&2
	exit 1
fi
echo "installing:$want"
export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -y -q --no-install-recommends $want; then
	apt-get update -q
	apt-get install -y -q --no-install-recommends $want
fi
