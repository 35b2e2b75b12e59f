package tracer

import (
	"maps"
	"slices"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
)

func TestSplitPrograms(t *testing.T) {
	prog := func(n int) *ebpf.ProgramSpec {
		return &ebpf.ProgramSpec{Instructions: make(asm.Instructions, n)}
	}
	tests := []struct {
		name  string
		sizes map[string]int
		n     int
		want  [][]string // names per group, sorted
	}{
		{"one cpu", map[string]int{"a": 5, "b": 3}, 1, [][]string{{"a", "b"}}},
		{"more cpus than programs", map[string]int{"a": 5}, 4, [][]string{{"a"}}},
		{"balanced by size", map[string]int{"big": 100, "m1": 40, "m2": 40, "s1": 10, "s2": 10}, 2,
			[][]string{{"big"}, {"m1", "m2", "s1", "s2"}}},
		{"ties by name", map[string]int{"a": 1, "b": 1, "c": 1, "d": 1}, 2, [][]string{{"a", "c"}, {"b", "d"}}},
		{"no programs", map[string]int{}, 2, [][]string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			progs := map[string]*ebpf.ProgramSpec{}
			for name, n := range tt.sizes {
				progs[name] = prog(n)
			}
			got := [][]string{}
			for _, g := range splitPrograms(progs, tt.n) {
				got = append(got, slices.Sorted(maps.Keys(g)))
			}
			if !slices.EqualFunc(got, tt.want, slices.Equal) {
				t.Errorf("splitPrograms(%v, %d) = %v, want %v", tt.sizes, tt.n, got, tt.want)
			}
		})
	}
}
