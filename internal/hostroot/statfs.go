package hostroot

import "golang.org/x/sys/unix"

// isCgroup2 reports whether p is a cgroup v2 mount.
func isCgroup2(p string) bool {
	var st unix.Statfs_t
	return unix.Statfs(p, &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC
}
