package tracer

import (
	"fmt"
	"os"
	"sync/atomic"
	"unsafe"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// mappedValue is the one value of a one-entry array map made with
// BPF_F_MMAPABLE, mapped into this process: user space stores to it, and
// the programs read it with a load, no helper call.
type mappedValue struct {
	what string // what it holds, for errors
	mem  []byte
}

func mapValue(m *ebpf.Map, what string) (*mappedValue, error) {
	mem, err := unix.Mmap(m.FD(), 0, os.Getpagesize(), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("map the %s into memory: %w", what, err)
	}
	return &mappedValue{what: what, mem: mem}, nil
}

func (v *mappedValue) close() error {
	if err := unix.Munmap(v.mem); err != nil {
		return fmt.Errorf("unmap the %s: %w", v.what, err)
	}
	return nil
}

// sleepFlag is the one entry of the reader_asleep map: Run sets it before
// a wait that only a record should end, and the kernel wakes the reader
// only then (wake_reader in bpf/record.h). Every other record is sent
// without a wake-up, which is most of what a record costs the kernel
// otherwise.
type sleepFlag struct {
	*mappedValue
	word *uint32
}

func mapSleepFlag(m *ebpf.Map) (*sleepFlag, error) {
	v, err := mapValue(m, "reader's wake-up flag")
	if err != nil {
		return nil, err
	}
	return &sleepFlag{mappedValue: v, word: (*uint32)(unsafe.Pointer(&v.mem[0]))}, nil
}

// set stores v with a full barrier where the store needs one (x86's
// XCHG; arm64's store-release, which a load-acquire does not pass): the
// reader's next look at the ring comes after it, so that a record
// committed before the kernel read the flag is seen, and one committed
// after finds the flag set.
func (f *sleepFlag) set(v uint32) { atomic.StoreUint32(f.word, v) }

// windowWord is the one entry of the agg_epoch map: the window the
// kernel counts repeats in (aggregator).
type windowWord struct {
	*mappedValue
	word *uint64
}

func mapWindowWord(m *ebpf.Map) (*windowWord, error) {
	v, err := mapValue(m, "window of the kernel's counts")
	if err != nil {
		return nil, err
	}
	return &windowWord{mappedValue: v, word: (*uint64)(unsafe.Pointer(&v.mem[0]))}, nil
}

// store makes n the window: a program that reads the word after the
// store counts in n (syncPrograms waits for those that read it before).
func (w *windowWord) store(n uint64) { atomic.StoreUint64(w.word, n) }
