package main

import (
	"fmt"
	"os"
	"os/signal"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	ctrace "github.com/ctrace-dev/ctrace/tracer"
	"golang.org/x/sys/unix"
)

// tracedEvents are the tracepoint names of the syscalls ctrace traces.
func tracedEvents() []string {
	var names []string
	for _, s := range ctrace.Table() {
		names = append(names, s.Event)
	}
	return names
}

// floor attaches programs that do nothing (return 0), writes a ready line
// on stderr and waits for SIGINT. Under it, the loops pay only for the
// attachment itself: the kernel's slower syscall path that any syscall
// tracing turns on, and the calls into the programs. It is the least a
// design built on that attachment can cost.
//
//	rawtp    the sys_enter and sys_exit raw tracepoints, as ctrace attaches
//	         its dispatchers
//	openat   the syscalls:sys_enter_openat and sys_exit_openat tracepoints,
//	         as opensnoop and the bpftrace program attach
//	all      syscalls:sys_enter_* and sys_exit_* of every syscall ctrace
//	         traces: the design of one program per syscall
func floor(kind string) error {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, unix.SIGINT, unix.SIGTERM)
	var links []link.Link
	defer func() {
		for _, l := range links {
			l.Close()
		}
	}()
	load := func(t ebpf.ProgramType, name string) (*ebpf.Program, error) {
		return ebpf.NewProgram(&ebpf.ProgramSpec{
			Name:         name,
			Type:         t,
			License:      "GPL",
			Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()},
		})
	}
	var what string
	switch kind {
	case "rawtp":
		for _, tp := range []string{"sys_enter", "sys_exit"} {
			// One program each, so that bpf_stats tells them apart.
			prog, err := load(ebpf.RawTracepoint, "floor_"+tp)
			if err != nil {
				return err
			}
			defer prog.Close()
			l, err := link.AttachRawTracepoint(link.RawTracepointOptions{Name: tp, Program: prog})
			if err != nil {
				return fmt.Errorf("attach %s: %w", tp, err)
			}
			links = append(links, l)
		}
		what = "sys_enter and sys_exit raw tracepoints"
	case "openat", "all":
		prog, err := load(ebpf.TracePoint, "floor_tp")
		if err != nil {
			return err
		}
		defer prog.Close()
		names := []string{"openat"}
		if kind == "all" {
			names = tracedEvents()
		}
		var events []string
		for _, sc := range names {
			events = append(events, "sys_enter_"+sc, "sys_exit_"+sc)
		}
		// As ctrace attaches, so also where tracefs is not mounted.
		ls, how, err := ctrace.AttachSyscallEvents(prog, events)
		if err != nil {
			return err
		}
		for _, l := range ls {
			defer l.Close()
		}
		what = fmt.Sprintf("%d syscall tracepoints (tracefs %s)", len(ls), how)
	default:
		return fmt.Errorf("unknown floor %q: rawtp, openat or all", kind)
	}
	fmt.Fprintf(os.Stderr, "ready: empty programs on %s\n", what)
	<-sig
	return nil
}
