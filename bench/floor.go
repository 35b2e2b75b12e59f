package main

import (
	"fmt"
	"os"
	"os/signal"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
)

// floor attaches programs that do nothing (return 0) to the sys_enter and
// sys_exit raw tracepoints, as ctrace attaches its dispatchers, writes a
// ready line on stderr and waits for SIGINT. Under it, the loops pay only
// for syscall tracing being on (the kernel's slower syscall path and the
// calls into the programs): the least any design built on these two
// tracepoints can cost.
func floor() error {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, unix.SIGINT, unix.SIGTERM)
	var links []link.Link
	defer func() {
		for _, l := range links {
			l.Close()
		}
	}()
	for _, tp := range []string{"sys_enter", "sys_exit"} {
		prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
			Name:         "bench_" + tp,
			Type:         ebpf.RawTracepoint,
			License:      "GPL",
			Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()},
		})
		if err != nil {
			return fmt.Errorf("load %s program: %w", tp, err)
		}
		defer prog.Close()
		l, err := link.AttachRawTracepoint(link.RawTracepointOptions{Name: tp, Program: prog})
		if err != nil {
			return fmt.Errorf("attach %s: %w", tp, err)
		}
		links = append(links, l)
	}
	fmt.Fprintln(os.Stderr, "ready: empty programs on sys_enter and sys_exit")
	<-sig
	return nil
}
