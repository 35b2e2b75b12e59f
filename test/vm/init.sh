#!/bin/sh
# The guest's init: mounts what ctrace and its tests need, runs
# `ctrace check -o json` and each test binary, and writes the results
# between markers on the second serial port (the first one carries the
# kernel's console). The host parses them (results.go).
export PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin HOME=/root TMPDIR=/tmp CI=true
# Tests that need what the guest lacks and that do not depend on the kernel
# (the OpenTelemetry Collector, built with the Go toolchain) skip on this.
export CTRACE_VM_GUEST=1
# The initramfs is rootfs, which pivot_root cannot move away from (EINVAL):
# move the userland to a tmpfs first, as real systems' roots are mounts.
if [ ! -e /.root-is-tmpfs ]; then
	# A busybox the host could not run to list its applets (another
	# architecture's) comes with /bin/sh alone.
	[ -e /bin/mount ] || /bin/busybox --install -s
	mkdir -p /newroot
	mount -t tmpfs -o mode=0755 tmpfs /newroot
	for e in /* /.[!.]*; do
		[ -e "$e" ] && [ "$e" != /newroot ] && cp -a "$e" /newroot/
	done
	: >/newroot/.root-is-tmpfs
	exec switch_root /newroot /init
fi
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
. /etc/ctrace-vm.conf
# The output port's drivers, where they are modules (arm64's virtio
# console); the port appears once the driver has set it up, which a
# loaded machine under TCG may take well over 10 s to do.
for m in $BOOT_MODULES; do
	insmod "$m" || echo "ctrace-vm: insmod $m failed" >/dev/console
done
# The device node can exist before its port does (opening it then fails
# with ENODEV): wait until it opens, in a subshell, as a failed
# redirection would end this shell.
i=0
until (: >"$OUTPUT") 2>/dev/null || [ $i -ge 600 ]; do
	sleep 0.1
	i=$((i + 1))
done
exec >"$OUTPUT" 2>&1 </dev/null
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
# /tmp stays on the root file system, as on most hosts: tests expect
# pivot_root into a directory under /tmp to fail with EBUSY (same mount as
# the root), and a tmpfs /tmp would make it EINVAL.
mount -t tmpfs tmpfs /run
mount -t tracefs tracefs /sys/kernel/tracing
mount -t debugfs debugfs /sys/kernel/debug
mount -t securityfs securityfs /sys/kernel/security
mount -t bpf bpf /sys/fs/bpf
mount -t cgroup2 cgroup2 /sys/fs/cgroup
# Run in a cgroup of its own with the cpu controller, as services do on a
# node: in the root cgroup, which has no cpu.max, every Go program's
# runtime fails an openat of it at start-up, which tests would then see.
mkdir -p /sys/fs/cgroup/ctrace-vm
echo +cpu >/sys/fs/cgroup/cgroup.subtree_control
echo $$ >/sys/fs/cgroup/ctrace-vm/cgroup.procs
hostname ctrace-vm
ip link set lo up

echo "@@ctrace-vm begin info"
echo "kernel $(uname -r)"
echo "cmdline $(cat /proc/cmdline)"
echo "lsm $(cat /sys/kernel/security/lsm 2>/dev/null)"
echo "cpus $(nproc)"
echo "tools $(command -v promtool apparmor_parser | tr '\n' ' ')"
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

# ctrace check runs with the kernel's default RLIMIT_MEMLOCK, as a user's
# shell has it: before 5.11 the kernel charges eBPF maps to it, and a
# ctrace that does not raise it must show up here as failing.
echo "@@ctrace-vm begin check"
echo "memlock limit: $(ulimit -l) KiB" >&2
ctrace check -o json
echo "@@ctrace-vm end check status=$?"
# The tests run with the limit lifted, as systemd services often have it,
# so that everything else is exercised even where check failed on it.
ulimit -l unlimited

for p in $PACKAGES; do
	name=${p##*/}
	eval "skip=\${SKIP_$(echo "$p" | tr / _):-}"
	# The package's own selection, unless the run names one for all.
	eval "run=\${RUN_$(echo "$p" | tr / _):-}"
	[ -n "$TEST_RUN" ] && run=$TEST_RUN
	echo "@@ctrace-vm begin test $p"
	[ -n "$skip" ] && echo "matrix: skipping $skip: this kernel lacks what they test"
	start=$(date +%s)
	(cd "/ctrace/$p" && exec "./$name.test" -test.v -test.count=1 -test.timeout="$TEST_TIMEOUT" ${run:+-test.run="$run"} ${skip:+-test.skip="$skip"} ${TEST_BENCH:+-test.bench="$TEST_BENCH" -test.benchtime=1x})
	status=$?
	echo "@@ctrace-vm end test $p status=$status seconds=$(($(date +%s) - start))"
done
for sc in $SCENARIOS; do
	echo "@@ctrace-vm begin test scenario/$sc"
	start=$(date +%s)
	/bin/sh "/ctrace/scenarios/$sc.sh"
	echo "@@ctrace-vm end test scenario/$sc status=$? seconds=$(($(date +%s) - start))"
done
echo "@@ctrace-vm done"
sync
poweroff -f
