package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// The guest writes each step's output between a begin and an end marker
// (init.sh), then a done marker once every step ran:
//
//	@@ctrace-vm begin test tracer
//	...
//	@@ctrace-vm end test tracer status=0 seconds=312
//	@@ctrace-vm done
const marker = "@@ctrace-vm "

// section is one step the guest ran.
type section struct {
	Kind   string // "info", "setup", "check", "test"
	Name   string // the package, for tests
	Lines  []string
	Status int  // exit status
	Ended  bool // the end marker was seen
	Secs   int
}

// testCounts counts the tests (subtests included) by outcome.
type testCounts struct {
	Pass, Fail, Skip int
	Failed           []string
	Skipped          []string
}

// guestResult is what one boot of a kernel produced.
type guestResult struct {
	Sections []*section
	Done     bool // the guest ran every step
}

// parseGuest reads the guest's output.
func parseGuest(out []byte) *guestResult {
	r := &guestResult{}
	var cur *section
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		// Output without a trailing newline can glue a marker to the
		// end of a line.
		pre, rest, ok := strings.Cut(line, marker)
		if !ok {
			if cur != nil {
				cur.Lines = append(cur.Lines, line)
			}
			continue
		}
		if pre != "" && cur != nil {
			cur.Lines = append(cur.Lines, pre)
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			continue
		}
		switch f[0] {
		case "begin":
			cur = &section{Kind: field(f, 1), Name: field(f, 2)}
			r.Sections = append(r.Sections, cur)
		case "end":
			if cur == nil {
				continue
			}
			cur.Ended = true
			for _, kv := range f[1:] {
				k, v, _ := strings.Cut(kv, "=")
				n, err := strconv.Atoi(v)
				if err != nil {
					continue
				}
				switch k {
				case "status":
					cur.Status = n
				case "seconds":
					cur.Secs = n
				}
			}
			cur = nil
		case "done":
			r.Done = true
		}
	}
	return r
}

func field(f []string, i int) string {
	if i < len(f) {
		return f[i]
	}
	return ""
}

var resultRE = regexp.MustCompile(`^\s*--- (PASS|FAIL|SKIP): (\S+)`)

// counts tallies a test section's -test.v output.
func (s *section) counts() testCounts {
	var c testCounts
	for _, l := range s.Lines {
		m := resultRE.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		switch m[1] {
		case "PASS":
			c.Pass++
		case "FAIL":
			c.Fail++
			c.Failed = append(c.Failed, m[2])
		case "SKIP":
			c.Skip++
			c.Skipped = append(c.Skipped, m[2])
		}
	}
	return c
}

// ok is whether a section succeeded: it ended with status 0 and, for
// tests, no test failed.
func (s *section) ok() bool {
	return s.Ended && s.Status == 0 && s.counts().Fail == 0
}

// check returns the section of the given kind.
func (r *guestResult) section(kind string) *section {
	for _, s := range r.Sections {
		if s.Kind == kind {
			return s
		}
	}
	return nil
}

// checkReport is what `ctrace check -o json` prints (internal/check).
type checkReport struct {
	Kernel   string      `json:"kernel"`
	Arch     string      `json:"arch"`
	BTF      string      `json:"btf"`
	Tracefs  string      `json:"tracefs"`
	Lockdown string      `json:"lockdown"`
	LSMs     []string    `json:"lsms"`
	Items    []checkItem `json:"checks"`
	CanRun   bool        `json:"can_run"`
}

type checkItem struct {
	Name      string `json:"name"`
	OK        bool   `json:"ok"`
	Mechanism string `json:"mechanism,omitempty"`
	Detail    string `json:"detail,omitempty"`
	Required  bool   `json:"required"`
}

// check decodes the guest's `ctrace check -o json`.
func (r *guestResult) check() (*checkReport, []byte, error) {
	s := r.section("check")
	if s == nil {
		return nil, nil, fmt.Errorf("the guest printed no ctrace check output")
	}
	// The JSON object is the lines from the first "{" to the last "}".
	text := strings.Join(s.Lines, "\n")
	i, j := strings.Index(text, "{"), strings.LastIndex(text, "}")
	if i < 0 || j < i {
		return nil, nil, fmt.Errorf("ctrace check printed no JSON:\n%s", text)
	}
	raw := []byte(text[i : j+1])
	var rep checkReport
	if err := json.Unmarshal(raw, &rep); err != nil {
		return nil, nil, fmt.Errorf("ctrace check output: %v", err)
	}
	return &rep, raw, nil
}

// loadFailures lists the check items whose program the kernel failed to
// load for another reason than refusing its kind outright: a verifier
// rejection or a missing helper, BTF type or field. Those are bugs to fix
// on the eBPF side, not degradations.
func (rep *checkReport) loadFailures() []checkItem {
	var out []checkItem
	for _, it := range rep.Items {
		if it.OK {
			continue
		}
		d := it.Detail
		if it.Name == "load" || strings.HasPrefix(d, "load ") || strings.Contains(d, "verifier") || strings.Contains(d, "invalid argument") {
			out = append(out, it)
		}
	}
	return out
}
