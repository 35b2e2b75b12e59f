package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

type runOptions struct {
	Dir     string
	Timeout time.Duration
	Stall   time.Duration
	CPU     string
	Threads string
	Icount  string
	CPUs    int
	Memory  string
	Guest   guestOptions
}

// outcome is one kernel's run.
type outcome struct {
	Kernel    kernel
	Release   string
	Dir       string
	Elapsed   time.Duration
	Err       error // the run itself failed: build, boot, timeout
	Result    *guestResult
	Check     *checkReport
	CheckJSON []byte
	CheckErr  error
	Kernelerr []string // oopses, panics, warnings on the console
	Console   []byte
	Guest     []byte
}

func runKernel(k kernel, fk *fetchedKernel, b *build, o runOptions) *outcome {
	out := &outcome{Kernel: k, Release: fk.Release, Dir: o.Dir}
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		out.Err = err
		return out
	}
	initrd := filepath.Join(o.Dir, "initramfs.cpio")
	if err := writeInitramfs(initrd, b, fk, o.Guest); err != nil {
		out.Err = fmt.Errorf("initramfs: %w", err)
		return out
	}
	out.Guest, out.Console, out.Elapsed, out.Err = boot(bootOptions{
		Kernel: fk.Vmlinuz, Initrd: initrd, Append: k.Append, Memory: o.Memory, CPU: cpuModel(o.CPU, k), Threads: o.Threads, Icount: o.Icount, CPUs: o.CPUs,
		Timeout: o.Timeout, Stall: o.Stall, Dir: o.Dir, Arch: k.arch(),
	})
	os.Remove(initrd)
	out.Result = parseGuest(out.Guest)
	out.Check, out.CheckJSON, out.CheckErr = out.Result.check()
	out.Kernelerr = kernelErrors(out.Console)
	return out
}

var kernelErrRE = regexp.MustCompile(`(Kernel panic|BUG:|WARNING:|Oops:|general protection fault|Call Trace:)`)

// kernelErrors picks the lines of the console that say the kernel itself
// went wrong.
func kernelErrors(console []byte) []string {
	var out []string
	for _, l := range strings.Split(string(console), "\n") {
		if kernelErrRE.MatchString(l) {
			if len(out) == 10 {
				return append(out, "(more on the console)")
			}
			out = append(out, strings.TrimSpace(l))
		}
	}
	return out
}

func (o *outcome) counts() testCounts {
	var c testCounts
	if o.Result == nil {
		return c
	}
	for _, s := range o.Result.Sections {
		if s.Kind != "test" {
			continue
		}
		sc := s.counts()
		c.Pass += sc.Pass
		c.Fail += sc.Fail
		c.Skip += sc.Skip
		for _, f := range sc.Failed {
			c.Failed = append(c.Failed, s.Name+": "+f)
		}
		for _, f := range sc.Skipped {
			c.Skipped = append(c.Skipped, s.Name+": "+f)
		}
	}
	return c
}

// problems lists why the kernel fails; none means it passes.
func (o *outcome) problems() []string {
	var p []string
	if o.Err != nil {
		p = append(p, o.Err.Error())
	}
	if o.Result == nil {
		return p
	}
	if !o.Result.Done && o.Err == nil {
		p = append(p, "the guest stopped before running every step")
	}
	if o.CheckErr != nil {
		p = append(p, o.CheckErr.Error())
	} else {
		if s := o.Result.section("check"); s != nil && s.Status != 0 {
			p = append(p, fmt.Sprintf("ctrace check exited with status %d", s.Status))
		}
		for _, it := range o.Check.loadFailures() {
			p = append(p, fmt.Sprintf("ctrace check: %s: %s", it.Name, it.Detail))
		}
	}
	ran := map[string]bool{}
	for _, s := range o.Result.Sections {
		if s.Kind != "test" {
			continue
		}
		ran[s.Name] = true
		switch {
		case !s.Ended:
			p = append(p, fmt.Sprintf("%s: did not finish", s.Name))
		case !s.ok():
			p = append(p, fmt.Sprintf("%s: exit status %d, failed: %s", s.Name, s.Status, strings.Join(s.counts().Failed, " ")))
		}
	}
	want := append([]string{}, packages...)
	for _, sc := range o.Kernel.Scenarios {
		want = append(want, "scenario/"+sc)
	}
	for _, pkg := range want {
		if !ran[pkg] && o.Result.Done {
			p = append(p, pkg+": did not run")
		}
	}
	for _, l := range o.Kernelerr {
		p = append(p, "kernel: "+l)
	}
	return p
}

func (o *outcome) ok() bool { return len(o.problems()) == 0 }

// summary is the kernel's one line.
func (o *outcome) summary() string {
	c := o.counts()
	verdict := "PASS"
	if !o.ok() {
		verdict = "FAIL"
	}
	line := fmt.Sprintf("%-10s %-28s %s  passed %d, failed %d, skipped %d  %s",
		o.Kernel.Name, o.Release, verdict, c.Pass, c.Fail, c.Skip, o.Elapsed.Round(time.Second))
	for _, p := range sortedKeys(o.Kernel.Skip) {
		line += fmt.Sprintf("  (not run on this kernel: %s %s)", p, o.Kernel.Skip[p])
	}
	return line
}

// printFailure writes why a kernel failed and its whole log.
func (o *outcome) printFailure(w io.Writer) {
	fmt.Fprintf(w, "==== kernel %s (%s) failed:\n", o.Kernel.Name, o.Release)
	for _, p := range o.problems() {
		fmt.Fprintln(w, "  - "+p)
	}
	fmt.Fprintf(w, "==== guest output (%s):\n%s\n", filepath.Join(o.Dir, "guest.log"), o.Guest)
	fmt.Fprintf(w, "==== kernel console (%s):\n%s\n==== end of kernel %s\n\n", filepath.Join(o.Dir, "console.log"), o.Console, o.Kernel.Name)
}

// cpuModel is the -cpu flag's value for k, unless the user set one.
func cpuModel(flag string, k kernel) string {
	if flag != "" {
		return flag
	}
	if k.CPU != "" {
		return k.CPU
	}
	return "max"
}
