package render

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ctrace-dev/ctrace/correlate"
	"github.com/ctrace-dev/ctrace/internal/hints"
	"github.com/ctrace-dev/ctrace/internal/netns"
	"github.com/ctrace-dev/ctrace/tracer"
	"github.com/ctrace-dev/ctrace/tracer/xlat"
)

// hostileStrings are names a process, a container's owner or a file's
// creator on the node may choose to forge output or drive a terminal.
var hostileStrings = []string{
	"\x1b[2J\nFAKE 12:00:00.000000 sshd[1] uid=0",
	"a\rb",
	"\x1b]0;title\x07",
	"\x9b2J", // the 8-bit CSI
	"\xc2\x9b2J",
	"back\\slash\\n",
	"tab\tnul\x00del\x7f",
	"]\n[benign: runc-masked-paths",
}

// hostileEvent places s in one field of a failed openat that the node
// controls, and returns the event with the container it belongs to.
var hostileFields = map[string]func(s string) (*tracer.Event, *correlate.Container){
	"comm": func(s string) (*tracer.Event, *correlate.Container) {
		ev := hostileBase()
		ev.Proc.Comm = s
		return ev, nil
	},
	"kernel log line": func(s string) (*tracer.Event, *correlate.Container) {
		ev := hostileBase()
		ev.Reasons = []tracer.Reason{&tracer.KernelLogReason{Message: "overlayfs: failed to resolve '" + s + "': -2"}}
		return ev, nil
	},
	"lsm path": func(s string) (*tracer.Event, *correlate.Container) {
		ev := hostileBase()
		ev.Reasons = []tracer.Reason{&tracer.LSMReason{LSM: "landlock", Hook: "fs.read_file", Detail: `path="` + s + `"`}}
		return ev, nil
	},
	"lsm name": func(s string) (*tracer.Event, *correlate.Container) {
		ev := hostileBase()
		ev.Reasons = []tracer.Reason{&tracer.LSMReason{LSM: s, Hook: s}}
		return ev, nil
	},
	"fd path": func(s string) (*tracer.Event, *correlate.Container) {
		ev := hostileBase()
		ev.Args[0] = tracer.Arg{Name: "dirfd", Kind: tracer.KindFD, Raw: 5, Str: s, Read: true}
		return ev, nil
	},
	"path argument": func(s string) (*tracer.Event, *correlate.Container) {
		ev := hostileBase()
		ev.Args[1] = strArg("path", s)
		return ev, nil
	},
	"netns path and its hint": func(s string) (*tracer.Event, *correlate.Container) {
		ev := hostileBase()
		ev.Reasons = []tracer.Reason{&netns.Reason{Path: "/run/netns/" + s, State: "stale"}}
		return ev, nil
	},
	"netns owner": func(s string) (*tracer.Event, *correlate.Container) {
		ev := hostileBase()
		ev.Reasons = []tracer.Reason{&netns.Reason{Path: "/run/netns/x", State: "stale",
			Owner: &netns.ContainerRef{ID: s, Namespace: s, Pod: s, PodNamespace: s, State: "deleted"}}}
		return ev, nil
	},
	"container id": func(s string) (*tracer.Event, *correlate.Container) {
		return hostileBase(), &correlate.Container{ID: s, Namespace: "default"}
	},
	"container namespace": func(s string) (*tracer.Event, *correlate.Container) {
		return hostileBase(), &correlate.Container{ID: "web", Namespace: s}
	},
	"pod labels": func(s string) (*tracer.Event, *correlate.Container) {
		c := &correlate.Container{ID: "web", Namespace: "k8s.io", Known: true,
			Labels: map[string]string{
				correlate.LabelPodName: s, correlate.LabelPodNamespace: s, correlate.LabelContainerName: s,
				"io.kubernetes." + s: s,
			},
			Pod: s, PodNamespace: s, ContainerName: s, PodUID: s, Image: s, Runtime: s}
		return hostileBase(), c
	},
}

func hostileBase() *tracer.Event {
	return &tracer.Event{Time: goldenTime, Syscall: "openat", Family: tracer.FamilyOpen, Ret: -2, Errno: unix.ENOENT,
		Proc: procMount,
		Args: []tracer.Arg{
			{Name: "dirfd", Kind: tracer.KindFD, Raw: 0xffffff9c},
			strArg("path", "/x"),
			{Name: "flags", Kind: tracer.KindFlags, Text: "O_RDONLY"},
		}}
}

// TestTextEscapesNodeStrings puts each hostile string in each field the
// node controls: the text line stays one line, with no control byte and
// no byte outside printable ASCII, and shows the string escaped as
// strace escapes one; the JSON line is valid and carries the string as it
// was (invalid UTF-8 replaced).
func TestTextEscapesNodeStrings(t *testing.T) {
	for field, mk := range hostileFields {
		for _, s := range hostileStrings {
			ev, c := mk(s)
			f := Findings{Container: c, Hints: hints.For(ev, c)} // as the pipeline finds them
			var buf bytes.Buffer
			New("text", &buf, false).Event(ev, f)
			line := bytes.Clone(buf.Bytes())
			want := 1 + len(f.Hints) // the event's, and a line per hint
			if n := bytes.Count(line, []byte("\n")); n != want || line[len(line)-1] != '\n' {
				t.Errorf("%s %q: text is %d lines, want %d: %q", field, s, n, want, line)
			}
			for _, ch := range line {
				if (ch < ' ' && ch != '\n') || ch > '~' {
					t.Errorf("%s %q: text line holds byte %#x: %q", field, s, ch, line)
					break
				}
			}
			if !bytes.Contains(line, xlat.AppendEscaped(nil, s)) {
				t.Errorf("%s %q: text line does not show %s: %q", field, s, xlat.Escaped(s), line)
			}

			// Colour adds ctrace's own escapes, and nothing of the node's.
			buf.Reset()
			New("text", &buf, true).Event(ev, f)
			plain := strings.NewReplacer(colorBold, "", colorRed, "", colorReset, "").Replace(buf.String())
			if plain != string(line) {
				t.Errorf("%s %q: colour changed more than the colours:\n%q\n%q", field, s, plain, line)
			}

			buf.Reset()
			New("json", &buf, false).Event(ev, f)
			if !json.Valid(buf.Bytes()) || bytes.Count(buf.Bytes(), []byte("\n")) != 1 {
				t.Errorf("%s %q: JSON line invalid: %q", field, s, buf.Bytes())
			}
			if want := strings.ToValidUTF8(s, "\ufffd"); field == "comm" {
				var m struct{ Proc struct{ Comm string } }
				if err := json.Unmarshal(buf.Bytes(), &m); err != nil || m.Proc.Comm != want {
					t.Errorf("comm %q: JSON has %q (%v), want %q", s, m.Proc.Comm, err, want)
				}
			}
		}
	}
}

func TestEscaped(t *testing.T) {
	tests := map[string]string{
		"":                 "",
		"runc:[2:INIT]":    "runc:[2:INIT]",
		`q"uote`:           `q"uote`,
		`back\slash`:       `back\\slash`,
		"\x1b[2J\nFAKE":    `\33[2J\nFAKE`,
		"\x1b1":            `\0331`, // not \331, which is one byte
		"\x008":            `\08`,   // 8 is no octal digit
		"\xc3\xa9":         `\303\251`,
		"\t\r\v\f\x7f\x9b": `\t\r\v\f\177\233`,
	}
	for in, want := range tests {
		if got := xlat.Escaped(in); got != want {
			t.Errorf("Escaped(%q) = %s, want %s", in, got, want)
		}
	}
}
