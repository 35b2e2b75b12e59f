package render

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/ctrace-dev/ctrace/correlate"
	"github.com/ctrace-dev/ctrace/internal/hints"
	"github.com/ctrace-dev/ctrace/tracer"
)

// rawRecords reads tracer's corpus of raw records, which the kernel's
// own records were captured into.
func rawRecords(tb testing.TB) [][]byte {
	tb.Helper()
	f, err := os.Open(recordsFile)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var out [][]byte
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		_, hx, _ := strings.Cut(sc.Text(), " ")
		raw, err := hex.DecodeString(hx)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, raw)
	}
	return out
}

// Offsets in the kernel's records (bpf/ctrace.h), for the seeds that pair
// a kernel log line with the exit record of its call.
const (
	eventNlogsOff = 10 // struct ctrace_event.nlogs, a __u16
	eventTidOff   = 88 // struct ctrace_event.tid, a __u32
	logHeadSize   = 16 // struct ctrace_log up to its text
	recLog        = 2  // CTRACE_REC_LOG
)

// logRecord builds a kernel log line record of thread tid.
func logRecord(tid uint32, msg string) []byte {
	b := make([]byte, logHeadSize, logHeadSize+len(msg))
	binary.NativeEndian.PutUint16(b[0:], recLog)
	binary.NativeEndian.PutUint16(b[2:], uint16(len(msg)))
	binary.NativeEndian.PutUint32(b[4:], tid)
	binary.NativeEndian.PutUint64(b[8:], 1)
	return append(b, msg...)
}

// FuzzRender feeds two raw records through the decoder Tracer.Run uses,
// one after the other (a kernel log line and its call's exit record, or
// two calls sharing the decoder's caches), and renders each event as
// ctrace run does, on the host and in a container named after the
// process. Whatever the bytes: no panic; the text is the event's line
// and one per hint, of printable ASCII, the same with colours once they
// are taken out; a JSON line is one valid JSON object that holds the
// process's name.
func FuzzRender(f *testing.F) {
	recs := rawRecords(f)
	for _, raw := range recs {
		f.Add(raw, []byte(nil))
		f.Add(raw, raw)
		if len(raw) > eventTidOff+4 {
			withLog := bytes.Clone(raw)
			binary.NativeEndian.PutUint16(withLog[eventNlogsOff:], 1)
			tid := binary.NativeEndian.Uint32(withLog[eventTidOff:])
			f.Add(logRecord(tid, "overlayfs: failed to resolve '/tmp/\x1b[2J\nx': -2\n"), withLog)
		}
	}
	f.Add(logRecord(1, "[   56.577528] tmpfs: Bad value for 'size'\n"), recs[0])
	f.Fuzz(func(t *testing.T, a, b []byte) {
		d := tracer.NewDecoder(goldenTime.UnixNano(), "apparmor")
		for _, raw := range [][]byte{a, b} {
			ev, err := d.Decode(raw)
			if err != nil || ev == nil {
				continue
			}
			c := &correlate.Container{ID: ev.Proc.Comm, Namespace: ev.Proc.Cgroup, Known: true,
				Pod: ev.Proc.Comm, PodNamespace: ev.Proc.Cgroup, ContainerName: "c",
				Labels: map[string]string{correlate.LabelPodName: ev.Proc.Comm}}
			for _, c := range []*correlate.Container{nil, c} {
				checkFuzzLine(t, ev, c)
			}
		}
	})
}

func checkFuzzLine(t *testing.T, ev *tracer.Event, c *correlate.Container) {
	var buf bytes.Buffer
	// The hints as the pipeline's Hints stage finds them.
	f := Findings{Container: c, Hints: hints.For(ev, c)}
	r := New("text", &buf, false)
	r.Explain = true
	r.Event(ev, f)
	text := bytes.Clone(buf.Bytes())
	// The event's line, then one line per hint.
	if n := bytes.Count(text, []byte("\n")); len(text) == 0 || text[len(text)-1] != '\n' ||
		n != 1+len(f.Hints) || n-1 != bytes.Count(text, []byte("\n  hint: ")) {
		t.Fatalf("text is not the event's line and its hints': %q", text)
	}
	for _, ch := range text {
		if (ch < ' ' && ch != '\n') || ch > '~' {
			t.Fatalf("text holds byte %#x: %q", ch, text)
		}
	}
	buf.Reset()
	r = New("text", &buf, true)
	r.Explain = true
	r.Event(ev, f)
	if plain := strings.NewReplacer(colorBold, "", colorRed, "", colorReset, "").Replace(buf.String()); plain != string(text) {
		t.Fatalf("colour changed more than the colours:\n%q\n%q", plain, text)
	}
	buf.Reset()
	New("json", &buf, false).Event(ev, f)
	line := buf.Bytes()
	if bytes.IndexByte(line, '\n') != len(line)-1 {
		t.Fatalf("JSON is not one line: %q", line)
	}
	var m struct {
		Proc struct{ Comm string }
	}
	if err := json.Unmarshal(line, &m); err != nil {
		t.Fatalf("JSON line does not decode: %v: %q", err, line)
	}
	if want := perByteValid(ev.Proc.Comm); m.Proc.Comm != want {
		t.Fatalf("JSON comm %q, want %q", m.Proc.Comm, want)
	}
}

// perByteValid replaces each byte of an invalid UTF-8 sequence with U+FFFD,
// as encoding/json does (strings.ToValidUTF8 would fold a run into one).
func perByteValid(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b.WriteRune(utf8.RuneError)
		} else {
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}
