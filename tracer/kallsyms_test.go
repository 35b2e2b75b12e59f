package tracer

import (
	"strings"
	"testing"
)

func TestFuncRange(t *testing.T) {
	const listing = `ffffffff81ac0cf0 T __pfx_cap_vm_enough_memory
ffffffff81ac0d00 T cap_vm_enough_memory
ffffffff81ac0d00 t cap_vm_enough_memory_alias
ffffffff81ac0d30 T __pfx_cap_mmap_addr
ffffffff81ac0d40 T cap_mmap_addr
ffffffffc0001000 t cap_in_module	[mod]
`
	for _, tc := range []struct {
		name       string
		listing    string
		start, end uint64
		ok         bool
	}{
		{"cap_vm_enough_memory", listing, 0xffffffff81ac0d00, 0xffffffff81ac0d30, true},
		{"cap_mmap_addr", listing, 0xffffffff81ac0d40, 0xffffffffc0001000, true},
		{"cap_in_module", listing, 0, 0, false},            // a module's: not the kernel's own
		{"missing", listing, 0, 0, false},                  // not listed
		{"last", "ffffffff81000000 T last\n", 0, 0, false}, // no end
		{"hidden", "0000000000000000 T hidden\n0000000000000000 T next\n", 0, 0, false},
	} {
		start, end, err := funcRange(strings.NewReader(tc.listing), tc.name)
		if (err == nil) != tc.ok || start != tc.start || end != tc.end {
			t.Errorf("%s: got [%#x, %#x) %v, want [%#x, %#x) ok=%v", tc.name, start, end, err, tc.start, tc.end, tc.ok)
		}
	}
}

// TestKernelFuncRange reads this kernel's listing: as root the function
// the capability program needs is there, with a range of its own.
func TestKernelFuncRange(t *testing.T) {
	start, end, ok := kernelFuncRange("security_vm_enough_memory_mm")
	if !ok {
		t.Fatal("security_vm_enough_memory_mm not found in /proc/kallsyms (as root)")
	}
	if end <= start || end-start > 4096 {
		t.Fatalf("range [%#x, %#x)", start, end)
	}
}
