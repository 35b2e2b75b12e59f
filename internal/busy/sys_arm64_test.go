package busy_test

// sysRmdir: arm64 has no rmdir(2), only unlinkat(2) with AT_REMOVEDIR.
const sysRmdir = 0
