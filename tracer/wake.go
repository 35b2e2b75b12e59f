package tracer

import (
	"fmt"
	"os"
	"sync/atomic"
	"unsafe"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// sleepFlag is the one entry of the reader_asleep map, mapped into this
// process: Run sets it before a wait that only a record should end, and
// the kernel wakes the reader only then (wake_reader in bpf/record.h).
// Every other record is sent without a wake-up, which is most of what a
// record costs the kernel otherwise.
type sleepFlag struct {
	mem  []byte
	word *uint32
}

func mapSleepFlag(m *ebpf.Map) (*sleepFlag, error) {
	mem, err := unix.Mmap(m.FD(), 0, os.Getpagesize(), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("map the reader's wake-up flag into memory: %w", err)
	}
	return &sleepFlag{mem: mem, word: (*uint32)(unsafe.Pointer(&mem[0]))}, nil
}

// set stores v with a full barrier where the store needs one (x86's
// XCHG; arm64's store-release, which a load-acquire does not pass): the
// reader's next look at the ring comes after it, so that a record
// committed before the kernel read the flag is seen, and one committed
// after finds the flag set.
func (f *sleepFlag) set(v uint32) { atomic.StoreUint32(f.word, v) }

func (f *sleepFlag) close() error {
	if err := unix.Munmap(f.mem); err != nil {
		return fmt.Errorf("unmap the reader's wake-up flag: %w", err)
	}
	return nil
}
