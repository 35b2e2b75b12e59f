package mountref

import (
	"reflect"
	"strconv"
	"strings"
	"testing"
)

func TestParseMountinfo(t *testing.T) {
	for _, tc := range []struct {
		name, line string
		want       []Mount // nil: the line is skipped
	}{
		{name: "no optional fields",
			line: `25 1 0:22 / /sys rw,nosuid - sysfs sysfs rw`,
			want: []Mount{{ID: 25, Parent: 1, Dev: "0:22", Root: "/", Point: "/sys", FSType: "sysfs", Source: "sysfs"}}},
		{name: "shared",
			line: `30 20 0:31 / /run/netns rw shared:3 - tmpfs tmpfs rw`,
			want: []Mount{{ID: 30, Parent: 20, Dev: "0:31", Root: "/", Point: "/run/netns", FSType: "tmpfs", Source: "tmpfs", Shared: 3}}},
		{name: "master",
			line: `130 120 0:31 / /run/netns rw master:3 - tmpfs tmpfs rw`,
			want: []Mount{{ID: 130, Parent: 120, Dev: "0:31", Root: "/", Point: "/run/netns", FSType: "tmpfs", Source: "tmpfs", Master: 3}}},
		{name: "shared slave, propagate_from and unbindable beside",
			line: `430 420 0:31 /sub /mnt rw shared:9 master:3 propagate_from:2 unbindable - tmpfs tmpfs rw`,
			want: []Mount{{ID: 430, Parent: 420, Dev: "0:31", Root: "/sub", Point: "/mnt", FSType: "tmpfs", Source: "tmpfs", Shared: 9, Master: 3}}},
		{name: "nsfs",
			line: `812 30 0:4 net:[4026532301] /run/netns/cni-8d1c rw shared:410 - nsfs nsfs rw`,
			want: []Mount{{ID: 812, Parent: 30, Dev: "0:4", Root: "net:[4026532301]", Point: "/run/netns/cni-8d1c", FSType: "nsfs", Source: "nsfs", Shared: 410}}},
		{name: "octal escapes in root, point and source",
			line: `90 1 8:1 /a\040b /mnt/x\040y\011z\134w rw - ext4 /dev/disk\040one rw`,
			want: []Mount{{ID: 90, Parent: 1, Dev: "8:1", Root: "/a b", Point: "/mnt/x y\tz\\w", FSType: "ext4", Source: "/dev/disk one"}}},
		{name: "not an escape: too short, not octal, over a byte",
			line: `91 1 8:1 / /m\04 rw - ext4 /dev/\9x\777 rw`,
			want: []Mount{{ID: 91, Parent: 1, Dev: "8:1", Root: "/", Point: `/m\04`, FSType: "ext4", Source: `/dev/\9x\777`}}},
		{name: "a mount point named -",
			line: `92 1 0:40 / - rw shared:5 - tmpfs none rw`,
			want: []Mount{{ID: 92, Parent: 1, Dev: "0:40", Root: "/", Point: "-", FSType: "tmpfs", Source: "none", Shared: 5}}},
		{name: "no separator", line: `93 1 0:40 / /x rw shared:5 tmpfs none rw`},
		{name: "nothing after the separator", line: `94 1 0:40 / /x rw - tmpfs`},
		{name: "empty", line: ``},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseMountinfo(strings.NewReader(tc.line + "\n"))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ParseMountinfo(%q)\n got %+v\nwant %+v", tc.line, got, tc.want)
			}
		})
	}
}

func TestNSInode(t *testing.T) {
	for root, want := range map[string]uint64{
		"net:[4026532301]": 4026532301,
		"mnt:[5]":          5,
		"/":                0,
		"/net:[1]/x":       0,
		"net:[x]":          0,
		"net:[12":          0,
	} {
		if got := NSInode(root); got != want {
			t.Errorf("NSInode(%q) = %d, want %d", root, got, want)
		}
	}
}

// The node's namespace (inode 1): / and /run shared, /run/netns shared
// (peer group 3) with a network namespace file on it, mount 40, and a
// bind of that file under /run, outside /run/netns.
const nodeNS = `1 0 8:1 / / rw shared:1 - ext4 /dev/sda1 rw
20 1 0:30 / /run rw shared:2 - tmpfs tmpfs rw
30 20 0:31 / /run/netns rw shared:3 - tmpfs tmpfs rw
40 30 0:4 net:[100] /run/netns/a rw shared:4 - nsfs nsfs rw
41 30 0:4 net:[101] /run/netns/b rw shared:5 - nsfs nsfs rw
42 20 0:4 net:[100] /run/a-bind rw shared:6 - nsfs nsfs rw
43 30 0:31 /sub /run/netns/c rw shared:3 - tmpfs tmpfs rw
`

// copyOf is a whole mount namespace made from the node's: the same
// mounts, numbered from base, with each mount's propagation fields given
// by opt (mount id in the node's numbering to its optional fields).
func copyOf(base int, opt func(id int) string) string {
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimSpace(nodeNS), "\n") {
		fs := strings.Fields(l)
		id, _ := strconv.Atoi(fs[0])
		parent, _ := strconv.Atoi(fs[1])
		np := 0
		if parent != 0 {
			np = base + parent
		}
		b.WriteString(strings.Join(append([]string{strconv.Itoa(base + id), strconv.Itoa(np), fs[2], fs[3], fs[4], fs[5], opt(id)}, fs[len(fs)-4:]...), " "))
		b.WriteString("\n")
	}
	return b.String()
}

// private gives a copy no propagation (unshare --propagation private).
func private(int) string { return "" }

// tablesOf makes Tables from mountinfo texts, one namespace each, with
// inodes 1, 2, ...
func tablesOf(t *testing.T, nss ...string) *Tables {
	t.Helper()
	tb := &Tables{Mounts: map[uint64][]Mount{}}
	for i, s := range nss {
		ms, err := ParseMountinfo(strings.NewReader(s))
		if err != nil {
			t.Fatal(err)
		}
		ns := &Namespace{Inode: uint64(i + 1), Procs: []Process{{PID: 1000 + i, Comm: "p"}}}
		tb.NS = append(tb.NS, ns)
		tb.Mounts[ns.Inode] = ms
	}
	return tb
}

// TestCopies: which copies of the node's /run/netns/a (mount 40) an
// unmount of it reaches, decided by the parent's (/run/netns, group 3)
// peers and slaves, transitively, and not by the copy's own group.
func TestCopies(t *testing.T) {
	// The node's peer group of each mount.
	group := map[int]int{1: 1, 20: 2, 30: 3, 40: 4, 41: 5, 42: 6, 43: 3}
	slave := func(id int) string { return "master:" + strconv.Itoa(group[id]) }
	peer := func(id int) string { return "shared:" + strconv.Itoa(group[id]) }
	for _, tc := range []struct {
		name string
		nss  []string
		want map[int]bool // copy's mount id: Propagated
	}{
		{name: "node alone: a bind outside the parent is not reached",
			nss:  []string{nodeNS},
			want: map[int]bool{42: false}},
		{name: "private namespace",
			nss:  []string{nodeNS, copyOf(100, private)},
			want: map[int]bool{42: false, 140: false, 142: false}},
		{name: "slave namespace",
			nss:  []string{nodeNS, copyOf(100, slave)},
			want: map[int]bool{42: false, 140: true, 142: false}},
		{name: "peer namespace",
			nss:  []string{nodeNS, copyOf(100, peer)},
			want: map[int]bool{42: false, 140: true, 142: false}},
		{name: "the copy's own group does not decide: a private parent with a slave copy",
			nss: []string{nodeNS, copyOf(100, func(id int) string {
				if id == 40 {
					return "master:4"
				}
				return ""
			})},
			want: map[int]bool{42: false, 140: false, 142: false}},
		{name: "slave of a shared slave",
			nss: []string{nodeNS,
				copyOf(100, func(id int) string {
					if id == 30 {
						return "shared:9 master:3"
					}
					return ""
				}),
				copyOf(200, func(id int) string {
					if id == 30 {
						return "master:9"
					}
					return ""
				}),
				copyOf(300, private)},
			want: map[int]bool{42: false, 140: true, 142: false, 240: true, 242: false, 340: false, 342: false}},
		{name: "the node's parent not shared: nothing is reached",
			nss:  []string{strings.Replace(nodeNS, "/run/netns rw shared:3", "/run/netns rw", 1), copyOf(100, slave)},
			want: map[int]bool{42: false, 140: false, 142: false}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tb := tablesOf(t, tc.nss...)
			m, ns, ok := tb.Find(40)
			if !ok || ns.Inode != 1 {
				t.Fatalf("Find(40): %+v %v %v", m, ns, ok)
			}
			got := map[int]bool{}
			for _, c := range tb.Copies(m) {
				if c.Mount.Root != m.Root || tb.Namespace(c.NS.Inode) != c.NS {
					t.Errorf("copy %+v in %+v", c.Mount, c.NS)
				}
				got[c.Mount.ID] = c.Propagated
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Copies(40): got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestChildren(t *testing.T) {
	tb := tablesOf(t, nodeNS, copyOf(100, private))
	for id, want := range map[int][]int{30: {40, 41, 43}, 20: {30, 42}, 40: nil, 130: {140, 141, 143}} {
		m, _, ok := tb.Find(id)
		if !ok {
			t.Fatalf("Find(%d): none", id)
		}
		var got []int
		for _, c := range tb.Children(m) {
			got = append(got, c.ID)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("Children(%d) = %v, want %v", id, got, want)
		}
	}
	if _, _, ok := tb.Find(999); ok {
		t.Error("Find(999) found a mount")
	}
	if tb.Namespace(3) != nil {
		t.Error("Namespace(3) found one")
	}
}
