package tracer

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ctrace-dev/ctrace/internal/testing/testenv"
)

func TestTracefsMounts(t *testing.T) {
	tests := []struct {
		name, mountinfo string
		want            []string
	}{
		{"none", "22 1 0:21 / /proc rw,nosuid - proc proc rw\n", nil},
		{"tracefs and debugfs", "22 1 0:21 / /sys/kernel/debug rw - debugfs debugfs rw\n" +
			"23 22 0:12 / /sys/kernel/debug/tracing rw,relatime - tracefs tracefs rw\n" +
			"24 1 0:12 / /sys/kernel/tracing rw shared:9 - tracefs tracefs rw\n",
			[]string{"/sys/kernel/debug/tracing", "/sys/kernel/tracing"}},
		// A bind of a directory inside tracefs is not its root.
		{"bind of a subdirectory", "30 1 0:12 /events /mnt/events rw - tracefs tracefs rw\n", nil},
		{"escaped path", `31 1 0:12 / /host/my\040tracing rw master:3 - tracefs tracefs rw` + "\n",
			[]string{"/host/my tracing"}},
		{"malformed line", "garbage\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "mountinfo")
			if err := os.WriteFile(p, []byte(tt.mountinfo), 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := tracefsMounts(p)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// TestTracefsWays reads the same tracepoint ids through each way of
// reaching tracefs, and checks that the node's mount table is as it was
// and that the private namespace's thread is gone afterwards.
func TestTracefsWays(t *testing.T) {
	testenv.RequireRoot(t, "mounting tracefs")
	names := []string{"sys_exit_openat", "sys_enter_openat", "sys_exit_no_such_syscall"}
	before := testenv.KernelFSMounts(readFile(t, "/proc/self/mountinfo"))
	ownNS, err := os.Readlink("/proc/self/ns/mnt")
	if err != nil {
		t.Fatal(err)
	}
	var first map[string]uint64
	for _, w := range tracefsWays {
		t.Run(w.name, func(t *testing.T) {
			var ev *eventIDs
			var err error
			if w.name == "mounted" {
				// Where the node has no tracefs mounted, and to find it
				// at a path that mountinfo escapes: a mount of the
				// test's own, in a private namespace on one thread.
				ev, err = withOwnTracefsMount(t, filepath.Join(t.TempDir(), "my tracing"), names)
			} else {
				ev, err = syscallEventIDsBy([]tracefsWay{w}, names)
			}
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: %v", ev.how, ev.ids)
			if ev.ids["sys_exit_openat"] == 0 || ev.ids["sys_enter_openat"] == 0 {
				t.Errorf("ids %v: want openat's exit and entry", ev.ids)
			}
			if _, ok := ev.ids["sys_exit_no_such_syscall"]; ok {
				t.Errorf("an id for an event the kernel does not have: %v", ev.ids)
			}
			if first == nil {
				first = ev.ids
			} else if !reflect.DeepEqual(ev.ids, first) {
				t.Errorf("ids %v, another way read %v", ev.ids, first)
			}
		})
	}
	if after := testenv.KernelFSMounts(readFile(t, "/proc/self/mountinfo")); after != before {
		t.Errorf("the mounts of kernel file systems changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	// The Go runtime ends the private namespace's thread once its
	// goroutine has returned; no thread of this process stays there.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		others := threadsOutside(t, ownNS)
		if len(others) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("threads %v are still in another mount namespace", others)
		}
	}
}

// withOwnTracefsMount mounts tracefs at dir in a mount namespace that
// only a locked thread enters, and reads the ids there through the mounted
// way. The thread ends with its goroutine.
func withOwnTracefsMount(t *testing.T, dir string, names []string) (*eventIDs, error) {
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var ev *eventIDs
	err := onDisposableThread(func() error {
		if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
			return err
		}
		if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
			return err
		}
		if err := unix.Mount("tracefs", dir, "tracefs", 0, ""); err != nil {
			return err
		}
		// The kernel escapes the space; the way finds the path.
		points, err := tracefsMounts("/proc/thread-self/mountinfo")
		if err != nil || !slices.Contains(points, dir) {
			return fmt.Errorf("tracefs mounts %q (%v), want %s among them", points, err, dir)
		}
		if ev, err = syscallEventIDsBy(tracefsWays[:1], names); err == nil && !strings.HasPrefix(ev.how, "mounted at /") {
			err = fmt.Errorf("found %q, want mounted at a path", ev.how)
		}
		return err
	})
	return ev, err
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// threadsOutside lists this process's threads whose mount namespace is
// not ns.
func threadsOutside(t *testing.T, ns string) []string {
	t.Helper()
	tids, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range tids {
		l, err := os.Readlink(filepath.Join("/proc/self/task", e.Name(), "ns/mnt"))
		if err == nil && l != ns {
			out = append(out, e.Name())
		}
	}
	return out
}
