package tracer

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"strconv"
)

// kernelFuncRange is where the code of the kernel function name lies,
// [start, end), read from /proc/kallsyms: from its address to the next
// symbol's. ok is false when the function is not listed or the kernel
// hides addresses (kptr_restrict, or not root: every address reads 0).
func kernelFuncRange(name string) (start, end uint64, ok bool) {
	f, err := os.Open("/proc/kallsyms")
	if err != nil {
		return 0, 0, false
	}
	defer f.Close()
	start, end, err = funcRange(f, name)
	return start, end, err == nil
}

// funcRange finds name's range in a kallsyms listing ("ADDR TYPE NAME
// [MODULE]" lines, sorted by address within the kernel's own text).
func funcRange(r io.Reader, name string) (start, end uint64, err error) {
	sc := bufio.NewScanner(r)
	want := []byte(name)
	found := false
	for sc.Scan() {
		fields := bytes.Fields(sc.Bytes())
		if len(fields) < 3 {
			continue
		}
		addr, perr := strconv.ParseUint(string(fields[0]), 16, 64)
		if perr != nil {
			continue
		}
		if !found {
			if (fields[1][0] == 'T' || fields[1][0] == 't') && bytes.Equal(fields[2], want) && len(fields) == 3 {
				if addr == 0 {
					return 0, 0, fmt.Errorf("kallsyms hides addresses (kptr_restrict)")
				}
				start, found = addr, true
			}
			continue
		}
		if addr > start {
			return start, addr, nil
		}
	}
	if err := sc.Err(); err != nil {
		return 0, 0, fmt.Errorf("read kallsyms: %w", err)
	}
	if found {
		return 0, 0, fmt.Errorf("no symbol after %s in kallsyms", name)
	}
	return 0, 0, fmt.Errorf("%s not in kallsyms", name)
}
