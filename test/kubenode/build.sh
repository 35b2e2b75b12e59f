#!/bin/sh
# Builds the kubelet of the tests' Kubernetes node from the Kubernetes Go
# modules this directory's go.mod pins, once: the binary is cached under
# ${CTRACE_KUBENODE_CACHE:-~/.cache/ctrace-kubenode}/kubelet-VERSION-HASH/,
# HASH naming go.mod and go.sum, and later runs only print its path. The
# first build takes about 3 minutes on 2 cores (downloads included).
set -eu
cd "$(dirname "$0")"
GO="${GO:-$(command -v go || echo /usr/local/go/bin/go)}"
version=$(sed -n 's/^[[:space:]]*k8s.io\/kubernetes \(v[0-9.]*\).*/\1/p' go.mod | head -1)
[ -n "$version" ] || { echo "build.sh: no k8s.io/kubernetes version in go.mod" >&2; exit 1; }
hash=$(cat go.mod go.sum | sha256sum | cut -c1-12)
cache="${CTRACE_KUBENODE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ctrace-kubenode}"
dir="$cache/kubelet-$version-$hash"
bin="$dir/kubelet"
mkdir -p "$dir"
# Test binaries and make may ask at once: one builds, the others wait.
exec 9>"$dir/lock"
flock 9
if [ ! -x "$bin" ]; then
	echo "building kubelet $version into $dir (about 3 minutes the first time)" >&2
	major=${version#v}; major=${major%%.*}
	minor=${version#v*.}; minor=${minor%%.*}
	# Without these the kubelet reports v0.0.0, and its version checks
	# (and the node's status) with it.
	ldflags="-s -w"
	for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
		ldflags="$ldflags -X $p.gitVersion=$version -X $p.gitMajor=$major -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
	done
	GOWORK=off CGO_ENABLED=0 "$GO" build -trimpath -ldflags "$ldflags" -o "$bin.tmp" k8s.io/kubernetes/cmd/kubelet
	mv "$bin.tmp" "$bin"
fi
echo "$bin"
