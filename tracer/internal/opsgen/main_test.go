package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ctrace-dev/ctrace/tracer"
)

// The generic exit program can only read what its kinds say: the
// generator refuses a table it would read wrongly.
func TestHeaderRefuses(t *testing.T) {
	arg := func(name string, k tracer.ArgKind) tracer.SyscallArg { return tracer.SyscallArg{Name: name, Kind: k} }
	tests := map[string]tracer.Syscall{
		"not followed by its size": {Op: 1, Name: "x", Args: []tracer.SyscallArg{arg("how", tracer.KindStruct), arg("fd", tracer.KindFD)}},
		"cannot read kind":         {Op: 1, Name: "x", Args: []tracer.SyscallArg{arg("buf", tracer.KindBytes)}},
		"at most 6":                {Op: 1, Name: "x", Args: make([]tracer.SyscallArg, 7)},
		"at place 1":               {Op: 2, Name: "x"},
	}
	for want, s := range tests {
		if _, err := cHeader([]tracer.Syscall{s}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%+v: error %v, want one saying %q", s, err, want)
		}
	}
	s := tests["cannot read kind"]
	s.Custom = true
	if _, err := cHeader([]tracer.Syscall{s}); err != nil {
		t.Errorf("a custom exit reads what it likes: %v", err)
	}
}

func TestRewriteReadme(t *testing.T) {
	p := filepath.Join(t.TempDir(), "README.md")
	in := "intro\n\n- **Traced syscalls**: old,\n  list.\n- **Next** item\n"
	if err := os.WriteFile(p, []byte(in), 0o644); err != nil {
		t.Fatal(err)
	}
	table := []tracer.Syscall{
		{Op: 1, Name: "mount", Family: tracer.FamilyMount},
		{Op: 2, Name: "openat", Family: tracer.FamilyOpen},
		{Op: 3, Name: "mkdirat", Family: tracer.FamilyRuntime},
	}
	if err := rewriteReadme(p, table); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(p)
	want := "intro\n\n- **Traced syscalls**: mount (`%mount`); openat (`%open`); mkdirat\n" +
		"  (`%runtime`, for runc and containerd processes only).\n- **Next** item\n"
	if string(got) != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if err := os.WriteFile(p, []byte("no list\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := rewriteReadme(p, table); err == nil {
		t.Error("a README without the item: no error")
	}
}
