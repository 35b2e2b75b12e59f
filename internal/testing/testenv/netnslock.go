package testenv

import (
	"fmt"
	"os"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

// netnsLockFile is the lock that test processes take while they change
// NetNSDir. go test runs packages as processes at once; `ip netns add`
// makes NetNSDir a mount of itself, and the cleanup that undoes it takes
// every namespace file mounted under it along, such as the CNI namespaces
// of a Kubernetes node another package runs.
const netnsLockFile = "/tmp/ctrace-tests-netns.lock"

// netnsLock is held by this process while any of its holders is.
var netnsLock struct {
	sync.Mutex
	holders int
	f       *os.File
}

// HoldNetNS takes the lock on NetNSDir for this process (waiting while
// another process holds it) and returns its release. The tests of one
// process share it.
func HoldNetNS() (release func(), err error) {
	netnsLock.Lock()
	defer netnsLock.Unlock()
	if netnsLock.holders == 0 {
		f, err := os.OpenFile(netnsLockFile, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return nil, fmt.Errorf("open %s: %w", netnsLockFile, err)
		}
		if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", netnsLockFile, err)
		}
		netnsLock.f = f
	}
	netnsLock.holders++
	var once sync.Once
	return func() {
		once.Do(func() {
			netnsLock.Lock()
			defer netnsLock.Unlock()
			if netnsLock.holders--; netnsLock.holders == 0 {
				netnsLock.f.Close() // releases the flock
				netnsLock.f = nil
			}
		})
	}, nil
}

// HoldNetNSFor holds the lock on NetNSDir until tb's cleanup.
func HoldNetNSFor(tb testing.TB) {
	tb.Helper()
	release, err := HoldNetNS()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(release)
}
