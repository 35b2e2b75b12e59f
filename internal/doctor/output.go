package doctor

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/ctrace-dev/ctrace/tracer/xlat"
)

// WriteText writes one line per finding, with what to do, and a last line
// that says what was checked. A finding's detail and action quote paths
// and names from the node: escaped as ctrace run's text lines escape them,
// so that each stays on its line and none drives the terminal.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	for _, f := range r.Findings {
		fmt.Fprintf(&b, "%-16s %s. Do: %s\n", f.Kind, xlat.Escaped(f.Detail), xlat.Escaped(f.Action))
	}
	switch n := len(r.Findings); n {
	case 0:
		fmt.Fprintf(&b, "no inconsistencies: checked %d containers and %d network namespace files\n", r.Containers, r.NetNSFiles)
	default:
		fmt.Fprintf(&b, "%d finding(s): checked %d containers and %d network namespace files\n", n, r.Containers, r.NetNSFiles)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

type jsonReport struct {
	Findings []jsonFinding `json:"findings"`
	Checked  struct {
		Containers int `json:"containers"`
		NetNSFiles int `json:"netns_files"`
	} `json:"checked"`
}

type jsonFinding struct {
	Kind      Kind           `json:"kind"`
	Path      string         `json:"path,omitempty"`
	Container *jsonContainer `json:"container,omitempty"`
	Detail    string         `json:"detail"`
	Action    string         `json:"action"`
}

type jsonContainer struct {
	ID           string `json:"id"`
	Namespace    string `json:"namespace"`
	Pod          string `json:"pod,omitempty"`
	PodNamespace string `json:"pod_namespace,omitempty"`
	Task         string `json:"task,omitempty"`
}

// WriteJSON writes the report as one JSON object (docs/json-schema.md).
func (r *Report) WriteJSON(w io.Writer) error {
	out := jsonReport{Findings: []jsonFinding{}}
	out.Checked.Containers, out.Checked.NetNSFiles = r.Containers, r.NetNSFiles
	for _, f := range r.Findings {
		jf := jsonFinding{Kind: f.Kind, Path: f.Path, Detail: f.Detail, Action: f.Action}
		if c := f.Container; c != nil {
			jf.Container = &jsonContainer{ID: c.ID, Namespace: c.Namespace, Pod: c.Pod, PodNamespace: c.PodNamespace, Task: c.Task}
		}
		out.Findings = append(out.Findings, jf)
	}
	b, err := json.Marshal(out)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// Counts returns the number of findings of each kind, every kind present.
func (r *Report) Counts() map[Kind]int {
	m := make(map[Kind]int, len(Kinds))
	for _, k := range Kinds {
		m[k] = 0
	}
	for _, f := range r.Findings {
		m[f.Kind]++
	}
	return m
}
