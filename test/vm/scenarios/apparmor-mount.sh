#!/bin/sh
# AppArmor denies a mount, and ctrace names AppArmor as the reason: a
# profile that allows everything but mount, a shell that asks to change to
# it on exec and then execs mount, and ctrace run --audit watching it.
# The profile has no mount rule rather than a deny rule: AppArmor does not
# audit what a deny rule refuses, and audit is how the denier is named.
# Prints one go-test-like result line.
set -u
name=apparmor-mount-denied
fail() {
	echo "$*"
	echo "--- FAIL: $name"
	exit 1
}
grep -q apparmor /sys/kernel/security/lsm || fail "AppArmor is not an active LSM: $(cat /sys/kernel/security/lsm)"
cat >/tmp/ctrace-deny-mount <<'PROFILE'
profile ctrace-deny-mount {
  file,
  capability,
  signal,
}
PROFILE
apparmor_parser --skip-cache -r /tmp/ctrace-deny-mount || fail "apparmor_parser could not load the profile"
grep ctrace-deny-mount /sys/kernel/security/apparmor/profiles
mkdir -p /tmp/aa-target
ctrace run --audit -o json -e mount -- \
	/bin/sh -c 'echo "exec ctrace-deny-mount" >/proc/self/attr/exec && exec mount -t tmpfs none /tmp/aa-target' \
	>/tmp/aa.json 2>/tmp/aa.err
echo "ctrace run exited with status $?"
echo "stderr:"
cat /tmp/aa.err
echo "events:"
cat /tmp/aa.json
ev=$(grep '"syscall":"mount"' /tmp/aa.json | grep '"errno":"EACCES"')
[ -n "$ev" ] || fail "no failing mount (EACCES) event"
echo "$ev" | grep -q '"kind":"lsm"' || fail "the mount event has no lsm reason"
echo "$ev" | grep -q '"lsm":"apparmor"' || fail "no lsm reason names AppArmor alone"
# One denial, one reason: the LSM hook seen in the kernel (fexit) and the
# audit record that names AppArmor are merged.
first=$(echo "$ev" | head -n 1)
n=$(echo "$first" | grep -o '"kind":"lsm"' | wc -l)
[ "$n" -eq 1 ] || fail "$n lsm reasons on one denied mount, want 1"
echo "$first" | grep -q 'profile=ctrace-deny-mount' || fail "the reason lacks AppArmor's profile"
echo "--- PASS: $name"
