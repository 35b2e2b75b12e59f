package tracer

import (
	_ "embed"
	"go/ast"
	"go/parser"
	"go/token"
	"slices"
	"testing"
)

// reasonSource is reason.go, embedded: the test binary also runs in the
// kernel matrix's guests, which have no source tree.
//
//go:embed reason.go
var reasonSource string

// TestReasonKindsComplete: every ReasonKind constant declared in this
// package is in ReasonKinds, the list the rendering, metrics, schema and
// golden tests walk: a new kind cannot skip them by being left out.
func TestReasonKindsComplete(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "reason.go", reasonSource, 0)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, s := range g.Specs {
			v := s.(*ast.ValueSpec)
			if id, ok := v.Type.(*ast.Ident); !ok || id.Name != "ReasonKind" {
				continue
			}
			for i, name := range v.Names {
				lit, ok := v.Values[i].(*ast.BasicLit)
				if !ok {
					t.Fatalf("%s: not a string literal", name.Name)
				}
				n++
				if !slices.Contains(ReasonKinds, ReasonKind(lit.Value[1:len(lit.Value)-1])) {
					t.Errorf("%s (%s) is not in ReasonKinds", name.Name, lit.Value)
				}
			}
		}
	}
	if n != len(ReasonKinds) {
		t.Errorf("reason.go declares %d kinds, ReasonKinds lists %d", n, len(ReasonKinds))
	}
}

// TestKernelReasonKinds: each kind found in the kernel says its kind.
func TestKernelReasonKinds(t *testing.T) {
	for _, tt := range []struct {
		r    Reason
		want ReasonKind
	}{
		{SeccompReason{}, ReasonSeccomp},
		{&CapabilityReason{}, ReasonCapability},
		{&KernelLogReason{}, ReasonKernelLog},
		{&LSMReason{}, ReasonLSM},
	} {
		if got := tt.r.Kind(); got != tt.want {
			t.Errorf("%T.Kind() = %s, want %s", tt.r, got, tt.want)
		}
	}
}
