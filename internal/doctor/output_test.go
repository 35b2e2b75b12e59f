package doctor

import (
	"bytes"
	"encoding/json"
	"testing"
)

// TestWriteTextEscapes: a netns file named to forge a line or drive the
// terminal stays on its finding's line, escaped; JSON keeps the name.
func TestWriteTextEscapes(t *testing.T) {
	path := "/run/netns/x\x1b[2J\nFAKE"
	r := &Report{Findings: []Finding{{Kind: NetNSStale, Path: path,
		Detail: path + " is stale", Action: "remove it (ip netns delete x\x1b[2J\nFAKE)"}}, NetNSFiles: 1}
	var out bytes.Buffer
	if err := r.WriteText(&out); err != nil {
		t.Fatal(err)
	}
	want := `netns-stale      /run/netns/x\33[2J\nFAKE is stale. Do: remove it (ip netns delete x\33[2J\nFAKE)` + "\n" +
		"1 finding(s): checked 0 containers and 1 network namespace files\n"
	if out.String() != want {
		t.Errorf("text:\n%q\nwant:\n%q", out.String(), want)
	}
	out.Reset()
	if err := r.WriteJSON(&out); err != nil {
		t.Fatal(err)
	}
	var doc struct{ Findings []struct{ Path string } }
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil || len(doc.Findings) != 1 || doc.Findings[0].Path != path {
		t.Errorf("JSON %s: %+v %v", out.Bytes(), doc, err)
	}
}
