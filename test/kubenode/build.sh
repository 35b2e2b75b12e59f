#!/bin/sh
# Builds the Kubernetes binaries of the tests' one-node cluster from the
# Go modules this directory's go.mod pins, once each: the kubelet
# (internal/testing/kubenodetest), kube-apiserver, etcd,
# kube-controller-manager and kube-scheduler (internal/testing/kubeapitest).
# Arguments name the binaries (kubelet when none); each is cached under
# ${CTRACE_KUBENODE_CACHE:-~/.cache/ctrace-kubenode}/NAME-VERSION-HASH/,
# HASH naming go.mod, go.sum and etcd/main.go, and later runs only print
# their paths, one a line. First builds on 2 cores, downloads included:
# the kubelet about 3 minutes, kube-apiserver about 3 more, etcd about 1;
# all five, kube-controller-manager and kube-scheduler included, took 11
# minutes of wall time on the development machine.
set -eu
cd "$(dirname "$0")"
GO="${GO:-$(command -v go || echo /usr/local/go/bin/go)}"
version=$(sed -n 's/^[[:space:]]*k8s.io\/kubernetes \(v[0-9.]*\).*/\1/p' go.mod | head -1)
[ -n "$version" ] || { echo "build.sh: no k8s.io/kubernetes version in go.mod" >&2; exit 1; }
hash=$(cat go.mod go.sum etcd/main.go | sha256sum | cut -c1-12)
cache="${CTRACE_KUBENODE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ctrace-kubenode}"
major=${version#v}; major=${major%%.*}
minor=${version#v*.}; minor=${minor%%.*}
# Without these the binaries report v0.0.0, and the version checks
# between them (and the node's status) with it.
ldflags="-s -w"
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
	ldflags="$ldflags -X $p.gitVersion=$version -X $p.gitMajor=$major -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
done
[ $# -gt 0 ] || set -- kubelet
for name in "$@"; do
	case "$name" in
	kubelet | kube-apiserver | kube-controller-manager | kube-scheduler) pkg=k8s.io/kubernetes/cmd/$name ;;
	etcd) pkg=./etcd ;;
	*) echo "build.sh: unknown binary $name; allowed: kubelet, kube-apiserver, kube-controller-manager, kube-scheduler, etcd" >&2; exit 2 ;;
	esac
	dir="$cache/$name-$version-$hash"
	bin="$dir/$name"
	mkdir -p "$dir"
	# Test binaries and make may ask at once: one builds, the others wait.
	exec 9>"$dir/lock"
	flock 9
	if [ ! -x "$bin" ]; then
		echo "building $name $version into $dir" >&2
		GOWORK=off CGO_ENABLED=0 "$GO" build -trimpath -ldflags "$ldflags" -o "$bin.tmp" "$pkg"
		mv "$bin.tmp" "$bin"
	fi
	exec 9>&-
	echo "$bin"
done
