#!/bin/sh
# The guest's init: mounts what ctrace and its tests need, runs
# `ctrace check -o json` and each test binary, and writes the results
# between markers on the second serial port (the first one carries the
# kernel's console). The host parses them (results.go).
export PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin HOME=/root TMPDIR=/tmp CI=true
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
exec >/dev/ttyS1 2>&1 </dev/null
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
mount -t tracefs tracefs /sys/kernel/tracing
mount -t debugfs debugfs /sys/kernel/debug
mount -t securityfs securityfs /sys/kernel/security
mount -t bpf bpf /sys/fs/bpf
mount -t cgroup2 cgroup2 /sys/fs/cgroup
hostname ctrace-vm
ip link set lo up
. /etc/ctrace-vm.conf

echo "@@ctrace-vm begin info"
echo "kernel $(uname -r)"
echo "cmdline $(cat /proc/cmdline)"
echo "lsm $(cat /sys/kernel/security/lsm 2>/dev/null)"
echo "cpus $(nproc)"
for m in /lib/modules/*.ko; do
	[ -e "$m" ] || continue
	insmod "$m" && echo "module $(basename "$m" .ko) loaded" || echo "module $(basename "$m" .ko) FAILED"
done
echo "@@ctrace-vm end info status=0"

if [ -x /etc/ctrace-vm.d/setup.sh ]; then
	echo "@@ctrace-vm begin setup"
	/etc/ctrace-vm.d/setup.sh
	echo "@@ctrace-vm end setup status=$?"
fi

echo "@@ctrace-vm begin check"
ctrace check -o json
echo "@@ctrace-vm end check status=$?"

for p in $PACKAGES; do
	name=${p##*/}
	eval "skip=\${SKIP_$(echo "$p" | tr / _):-}"
	echo "@@ctrace-vm begin test $p"
	[ -n "$skip" ] && echo "matrix: skipping $skip: this kernel lacks what they test"
	start=$(date +%s)
	(cd "/ctrace/$p" && exec "./$name.test" -test.v -test.count=1 -test.timeout="$TEST_TIMEOUT" ${TEST_RUN:+-test.run="$TEST_RUN"} ${skip:+-test.skip="$skip"})
	status=$?
	echo "@@ctrace-vm end test $p status=$status seconds=$(($(date +%s) - start))"
done
echo "@@ctrace-vm done"
sync
poweroff -f
