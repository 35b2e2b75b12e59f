package testenv

import "testing"

func TestKernelFSMounts(t *testing.T) {
	const mi = `22 27 0:21 / /proc rw,relatime - proc proc rw
23 27 0:22 / /sys rw,relatime - sysfs sysfs rw
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
45 27 254:0 /run/netns /run/netns rw,relatime shared:1 - ext4 /dev/vda rw
68 45 0:4 net:[4026532175] /run/netns/x rw shared:2 - nsfs nsfs rw
70 27 0:50 / /tmp/my\040tracing rw,relatime - tracefs tracefs rw
71 27 0:51 / /mnt/sec rw,relatime - securityfs securityfs rw
72 27 0:52 / /run/containerd/x/rootfs rw,relatime - overlay overlay rw,lowerdir=/a
`
	want := `23 27 0:22 / /sys rw,relatime - sysfs sysfs rw
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
70 27 0:50 / /tmp/my\040tracing rw,relatime - tracefs tracefs rw
71 27 0:51 / /mnt/sec rw,relatime - securityfs securityfs rw`
	if got := KernelFSMounts(mi); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}
