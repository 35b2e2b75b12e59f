package tracer

import (
	"cmp"
	"errors"
	"maps"
	"runtime"
	"slices"
	"sync"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
)

// loadParallel loads spec's maps, then its programs in up to one group
// per CPU at once, sharing the maps. Verifying the programs is most of
// ctrace's start-up, and the kernel verifies privileged loads in
// parallel. also runs beside the programs' loads, with the maps, for
// loads of its own (the reason programs); the programs are not in the
// collection until it returns.
func loadParallel(spec *ebpf.CollectionSpec, cache *btf.Cache, also func(*ebpf.Collection)) (*ebpf.Collection, error) {
	mapsOnly := *spec
	mapsOnly.Programs = nil
	coll, err := ebpf.NewCollectionWithOptions(&mapsOnly, ebpf.CollectionOptions{Cache: cache})
	if err != nil {
		return nil, err
	}
	groups := splitPrograms(spec.Programs, runtime.NumCPU())
	loaded := make([]*ebpf.Collection, len(groups))
	errs := make([]error, len(groups))
	var wg sync.WaitGroup
	for i, g := range groups {
		wg.Go(func() {
			one := mapsOnly
			one.Programs = g
			loaded[i], errs[i] = ebpf.NewCollectionWithOptions(&one, ebpf.CollectionOptions{MapReplacements: coll.Maps, Cache: cache})
		})
	}
	if also != nil {
		wg.Go(func() { also(coll) })
	}
	wg.Wait()
	coll.Programs = map[string]*ebpf.Program{}
	for _, c := range loaded {
		if c == nil {
			continue
		}
		maps.Copy(coll.Programs, c.Programs)
		// The programs hold the maps they use; these are clones.
		for _, m := range c.Maps {
			m.Close()
		}
	}
	if err := errors.Join(errs...); err != nil {
		coll.Close()
		return nil, err
	}
	return coll, nil
}

// splitPrograms deals the programs into at most n groups of about equal
// size in instructions, the largest first.
func splitPrograms(progs map[string]*ebpf.ProgramSpec, n int) []map[string]*ebpf.ProgramSpec {
	n = max(1, min(n, len(progs)))
	names := slices.SortedFunc(maps.Keys(progs), func(a, b string) int {
		return cmp.Or(cmp.Compare(len(progs[b].Instructions), len(progs[a].Instructions)), cmp.Compare(a, b))
	})
	groups := make([]map[string]*ebpf.ProgramSpec, n)
	size := make([]int, n)
	for _, name := range names {
		i := slices.Index(size, slices.Min(size))
		if groups[i] == nil {
			groups[i] = map[string]*ebpf.ProgramSpec{}
		}
		groups[i][name] = progs[name]
		size[i] += len(progs[name].Instructions)
	}
	return slices.DeleteFunc(groups, func(g map[string]*ebpf.ProgramSpec) bool { return g == nil })
}
