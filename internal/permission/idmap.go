package permission

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/ctrace-dev/ctrace/tracer"
)

// Extent is one line of a user namespace's uid_map or gid_map: Count ids
// starting at Inside in the namespace are Outside.. in its parent, here
// always the initial user namespace's ids (ctrace reads maps as the
// initial namespace sees them). It is the tracer's, so that maps convert
// both ways.
type Extent = tracer.IDExtent

// IDMap is a user namespace's uid_map or gid_map. A nil IDMap is the
// initial user namespace's: every id maps to itself.
type IDMap []Extent

// ParseIDMap reads the text of /proc/PID/uid_map ("0 100000 65536", one
// extent per line).
func ParseIDMap(s string) (IDMap, error) {
	m := IDMap{}
	for _, line := range strings.Split(strings.TrimSpace(s), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if len(f) != 3 {
			return nil, fmt.Errorf("id map line %q: want three numbers", line)
		}
		var v [3]uint32
		for i := range f {
			n, err := strconv.ParseUint(f[i], 10, 32)
			if err != nil {
				return nil, fmt.Errorf("id map line %q: %w", line, err)
			}
			v[i] = uint32(n)
		}
		m = append(m, Extent{Inside: v[0], Outside: v[1], Count: v[2]})
	}
	return m, nil
}

// Initial reports whether m is the initial user namespace's map (the
// identity over all ids), as /proc/1/uid_map shows it: "0 0 4294967295".
func (m IDMap) Initial() bool {
	return m == nil || (len(m) == 1 && m[0].Inside == 0 && m[0].Outside == 0 && m[0].Count == 4294967295)
}

// Inside returns the id in the namespace of an id of the initial user
// namespace, and whether it is mapped at all.
func (m IDMap) Inside(outside uint32) (uint32, bool) {
	if m.Initial() {
		return outside, true
	}
	for _, e := range m {
		if uint64(outside) >= uint64(e.Outside) && uint64(outside) < uint64(e.Outside)+uint64(e.Count) {
			return e.Inside + (outside - e.Outside), true
		}
	}
	return 0, false
}

// String renders m as the kernel does in /proc/PID/uid_map, without the
// column padding: "0 100000 65536", one extent per line.
func (m IDMap) String() string {
	if m == nil {
		return "0 0 4294967295"
	}
	var b strings.Builder
	for i, e := range m {
		if i > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "%d %d %d", e.Inside, e.Outside, e.Count)
	}
	return b.String()
}

// Short renders the first extent as the text output does: "0 -> 100000,
// 65536 ids"; more extents are counted.
func (m IDMap) Short() string {
	if m.Initial() {
		return "the initial user namespace"
	}
	if len(m) == 0 {
		return "no ids mapped"
	}
	s := fmt.Sprintf("%d -> %d, %d ids", m[0].Inside, m[0].Outside, m[0].Count)
	if len(m) > 1 {
		s += fmt.Sprintf(", and %d more extents", len(m)-1)
	}
	return s
}
