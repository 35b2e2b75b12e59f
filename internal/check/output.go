package check

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// WriteText writes the report for a reader: the node's facts, one line
// per item (ok, no for an optional item that fails, FAIL for a required
// one), and whether ctrace run can work.
func (rep *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "kernel    %s (%s)\n", rep.Kernel, rep.Arch)
	fmt.Fprintf(&b, "btf       %s\n", orNone(rep.BTF))
	fmt.Fprintf(&b, "tracefs   %s\n", orNone(rep.Tracefs))
	fmt.Fprintf(&b, "dispatch  %s\n", orNone(rep.Dispatch))
	fmt.Fprintf(&b, "lockdown  %s\n", orNone(rep.Lockdown))
	fmt.Fprintf(&b, "lsms      %s\n", orNone(strings.Join(rep.LSMs, ",")))
	rep.Host.writeText(&b)
	fmt.Fprintln(&b)
	for _, it := range rep.Items {
		mark := "ok  "
		if !it.OK {
			mark = "FAIL"
			if !it.Required {
				mark = "no  "
			}
		}
		line := fmt.Sprintf("%s %-22s %s", mark, it.Name, it.Mechanism)
		if it.Detail != "" {
			line += "  (" + it.Detail + ")"
		}
		fmt.Fprintln(&b, strings.TrimRight(line, " "))
	}
	if rep.CanRun {
		fmt.Fprintln(&b, "\nctrace run can work on this node")
	} else {
		fmt.Fprintln(&b, "\nctrace run cannot work on this node")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteJSON writes the report as one indented JSON object.
func (rep *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}

// writeText writes the host root's lines; the paths under it only when
// it is not this file system's root.
func (h *Host) writeText(b *strings.Builder) {
	if h == nil {
		return
	}
	fmt.Fprintf(b, "host root %s (%s)\n", h.Root, h.How)
	if h.Root != "/" {
		fmt.Fprintf(b, "  proc    %s\n", h.Proc)
		fmt.Fprintf(b, "  btf     %s\n", orNone(h.BTF))
		fmt.Fprintf(b, "  cgroup  %s\n", orNone(h.Cgroup))
		fmt.Fprintf(b, "  containerd %s\n", orNone(h.Containerd))
		if h.OwnMountNS != nil {
			if *h.OwnMountNS {
				fmt.Fprintln(b, "  ctrace runs in its own mount namespace; paths above are the node's")
			} else {
				fmt.Fprintln(b, "  ctrace runs in the node's mount namespace")
			}
		}
	}
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}
