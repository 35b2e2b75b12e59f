package hints

import (
	"os"
	"strings"
	"testing"
)

// TestSchemaNamesRules: docs/json-schema.md describes hints in one row of
// the event table, which names every rule.
func TestSchemaNamesRules(t *testing.T) {
	b, err := os.ReadFile("../../docs/json-schema.md")
	if err != nil {
		t.Fatal(err)
	}
	var rows []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "| `hints` |") {
			rows = append(rows, l)
		}
	}
	if len(rows) != 1 {
		t.Fatalf("docs/json-schema.md has %d rows for hints, want 1", len(rows))
	}
	for _, r := range Rules {
		if !strings.Contains(rows[0], "`"+r.Name+"`") {
			t.Errorf("docs/json-schema.md's hints row does not name the rule %s", r.Name)
		}
	}
}
