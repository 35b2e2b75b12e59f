package busy_test

import "golang.org/x/sys/unix"

// sysRmdir is rmdir(2), which arm64 lacks (sys_arm64_test.go).
const sysRmdir = unix.SYS_RMDIR
