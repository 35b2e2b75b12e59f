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
	fixed := 0
	for _, f := range r.Findings {
		fmt.Fprintf(&b, "%-16s %s. Do: %s\n", f.Kind, xlat.Escaped(f.Detail), xlat.Escaped(f.Action))
		if x := f.Fix; x != nil {
			label, text := "not fixed", x.Error
			switch {
			case x.Fixed:
				label, text = "fixed", x.Did
				fixed++
			case x.Resolved:
				label, text = "resolved", x.Did
			case r.DryRun && x.Did != "":
				label, text = "dry run", x.Did
				fixed++
			}
			fmt.Fprintf(&b, "  %-14s %s\n", label+":", xlat.Escaped(text))
		}
	}
	if r.CNI != nil {
		for _, n := range r.CNI.Networks {
			fmt.Fprintf(&b, "%-16s %s\n", "cni", xlat.Escaped(n.describe(r.CNI.BinDirs)))
		}
	}
	switch n := len(r.Findings); {
	case r.Fixed && r.DryRun:
		fmt.Fprintf(&b, "%d finding(s), %d would be fixed (dry run, nothing changed): checked %d containers and %d network namespace files\n", n, fixed, r.Containers, r.NetNSFiles)
	case r.Fixed:
		fmt.Fprintf(&b, "%d finding(s), %d fixed, %d left: checked %d containers and %d network namespace files\n", n, fixed, r.Remaining(), r.Containers, r.NetNSFiles)
	case n == 0:
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
	CNI       *jsonCNI `json:"cni,omitempty"`
	DryRun    bool     `json:"dry_run,omitempty"`
	Remaining *int     `json:"remaining,omitempty"`
}

type jsonFinding struct {
	Kind      Kind           `json:"kind"`
	Path      string         `json:"path,omitempty"`
	Network   string         `json:"network,omitempty"`
	IP        string         `json:"ip,omitempty"`
	Container *jsonContainer `json:"container,omitempty"`
	Holders   []jsonHolder   `json:"holders,omitempty"`
	Detail    string         `json:"detail"`
	Action    string         `json:"action"`
	Fixed     *bool          `json:"fixed,omitempty"`
	Resolved  bool           `json:"resolved,omitempty"`
	Fix       string         `json:"fix,omitempty"`
	Error     string         `json:"error,omitempty"`
}

type jsonHolder struct {
	MountNS   uint64         `json:"mnt_ns"`
	PIDs      []int          `json:"pids"`
	Comms     []string       `json:"comms"`
	Container *jsonContainer `json:"container,omitempty"`
}

type jsonCNI struct {
	ConfDir  string        `json:"conf_dir"`
	BinDirs  []string      `json:"bin_dirs"`
	Networks []jsonNetwork `json:"networks"`
}

type jsonNetwork struct {
	Name     string   `json:"name"`
	File     string   `json:"file"`
	Versions []string `json:"cni_versions"`
	GC       bool     `json:"gc"`
	Plugins  []string `json:"plugins"`
	Missing  []string `json:"missing,omitempty"`
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
		jf.Container = containerJSON(f.Container)
		jf.Network, jf.IP = f.Network, f.IP
		for _, h := range f.Holders {
			jf.Holders = append(jf.Holders, jsonHolder{MountNS: h.MountNS, PIDs: h.PIDs, Comms: h.Comms, Container: containerJSON(h.Container)})
		}
		if x := f.Fix; x != nil {
			jf.Fixed = &x.Fixed
			jf.Resolved, jf.Fix, jf.Error = x.Resolved, x.Did, x.Error
		}
		out.Findings = append(out.Findings, jf)
	}
	if c := r.CNI; c != nil {
		out.CNI = &jsonCNI{ConfDir: c.ConfDir, BinDirs: c.BinDirs, Networks: []jsonNetwork{}}
		for _, n := range c.Networks {
			out.CNI.Networks = append(out.CNI.Networks, jsonNetwork{Name: n.Name, File: n.File, Versions: n.Versions, GC: n.GC,
				Plugins: n.Plugins, Missing: n.Missing})
		}
	}
	if r.Fixed {
		left := r.Remaining()
		out.DryRun, out.Remaining = r.DryRun, &left
	}
	b, err := json.Marshal(out)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

func containerJSON(c *Container) *jsonContainer {
	if c == nil {
		return nil
	}
	return &jsonContainer{ID: c.ID, Namespace: c.Namespace, Pod: c.Pod, PodNamespace: c.PodNamespace, Task: c.Task}
}

// describe says, in one line, what the network declares and runs.
func (n CNINetwork) describe(binDirs []string) string {
	s := "network " + n.Name + " (" + n.File + "): cniVersion " + strings.Join(n.Versions, ", ")
	if len(n.Versions) == 0 {
		s = "network " + n.Name + " (" + n.File + "): no cniVersion"
	}
	if n.GC {
		s += "; declares CNI 1.1: its plugins may support STATUS and GC"
	} else {
		s += "; before CNI 1.1: no STATUS or GC"
	}
	s += "; plugins " + strings.Join(n.Plugins, ", ")
	if len(n.Missing) > 0 {
		s += "; MISSING from " + strings.Join(binDirs, ":") + ": " + strings.Join(n.Missing, ", ") +
			" (every ADD and DEL on this network fails, and a failed DEL leaves its address allocated)"
	}
	return s
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
