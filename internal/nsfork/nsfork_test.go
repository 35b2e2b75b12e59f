package nsfork

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ctrace-dev/ctrace/internal/testing/testenv"
)

// TestReadInUserNS reads max_user_namespaces in ctrace's own user
// namespace and in a child's whose root lowered it: each reader sees
// its own namespace's value.
func TestReadInUserNS(t *testing.T) {
	testenv.RequireRoot(t, "entering user namespaces")
	own, err := os.ReadFile("/proc/sys/user/max_user_namespaces")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		cmd := exec.Command("/bin/sh", "-c", "echo 7 > /proc/sys/user/max_user_namespaces && echo ok && read x")
		cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWUSER,
			UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 1}},
			GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 1}}}
		in, _ := cmd.StdinPipe()
		out, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		b := make([]byte, 3)
		if _, err := out.Read(b); err != nil {
			t.Fatal(err)
		}
		fd, err := unix.Open(fmt.Sprintf("/proc/%d/ns/user", cmd.Process.Pid), unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		res, err := ReadInUserNS([]int{Self, fd}, []string{"/proc/sys/user/max_user_namespaces", "/proc/sys/user/nope"})
		unix.Close(fd)
		in.Close()
		_ = cmd.Wait()
		if err != nil {
			t.Fatal(err)
		}
		if got := res[0][0].Value; got != string(own) {
			t.Errorf("%d: own namespace: %q, want %q", i, got, own)
		}
		if got := strings.TrimSpace(res[1][0].Value); got != "7" {
			t.Errorf("%d: child's namespace: %q (%v), want 7", i, got, res[1][0].Err)
		}
		if res[1][1].Err != unix.ENOENT {
			t.Errorf("%d: missing file: %+v, want ENOENT", i, res[1][1])
		}
	}
}

func TestNewUserNS(t *testing.T) {
	testenv.RequireRoot(t, "making user namespaces")
	var self unix.Stat_t
	if err := unix.Stat("/proc/self/ns/user", &self); err != nil {
		t.Fatal(err)
	}
	for range 20 {
		fd, err := NewUserNS()
		if err != nil {
			t.Fatal(err)
		}
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			t.Fatal(err)
		}
		if st.Ino == self.Ino {
			t.Errorf("new user namespace is ctrace's own")
		}
		unix.Close(fd)
	}
}
