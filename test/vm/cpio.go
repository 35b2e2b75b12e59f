package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strings"
)

// cpioWriter writes an initramfs in the kernel's "newc" cpio format.
// Entries are described, not copied from disk, so device nodes and
// ownership need no privileges.
type cpioWriter struct {
	w    *bufio.Writer
	ino  uint32
	dirs map[string]bool
	err  error
}

const (
	modeDir  = 0o040000
	modeFile = 0o100000
	modeLink = 0o120000
	modeChar = 0o020000
)

func newCPIO(w io.Writer) *cpioWriter {
	return &cpioWriter{w: bufio.NewWriterSize(w, 1<<20), dirs: map[string]bool{".": true, "/": true}}
}

func (c *cpioWriter) header(name string, mode uint32, size int, rmajor, rminor uint32) {
	if c.err != nil {
		return
	}
	c.ino++
	name = strings.TrimPrefix(name, "/")
	nlink := uint32(1)
	if mode&0o170000 == modeDir {
		nlink = 2
	}
	_, c.err = fmt.Fprintf(c.w, "070701%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x",
		c.ino, mode, 0, 0, nlink, 0, size, 0, 0, rmajor, rminor, len(name)+1, 0)
	if c.err != nil {
		return
	}
	c.write([]byte(name + "\x00"))
	c.pad(110 + len(name) + 1)
}

func (c *cpioWriter) write(b []byte) {
	if c.err == nil {
		_, c.err = c.w.Write(b)
	}
}

func (c *cpioWriter) pad(n int) {
	if r := n % 4; r != 0 {
		c.write(make([]byte, 4-r))
	}
}

// mkdirAll adds p and its parents, once each.
func (c *cpioWriter) mkdirAll(p string) {
	p = path.Clean("/" + p)
	if c.dirs[p] {
		return
	}
	c.mkdirAll(path.Dir(p))
	c.dirs[p] = true
	c.header(p, modeDir|0o755, 0, 0, 0)
}

// file adds a regular file with the given contents.
func (c *cpioWriter) file(p string, perm uint32, data []byte) {
	c.mkdirAll(path.Dir(p))
	c.header(p, modeFile|perm, len(data), 0, 0)
	c.write(data)
	c.pad(len(data))
}

// copyFile adds the host file src as p.
func (c *cpioWriter) copyFile(p, src string, perm uint32) {
	if c.err != nil {
		return
	}
	data, err := os.ReadFile(src)
	if err != nil {
		c.err = err
		return
	}
	c.file(p, perm, data)
}

func (c *cpioWriter) symlink(p, target string) {
	c.mkdirAll(path.Dir(p))
	c.header(p, modeLink|0o777, len(target), 0, 0)
	c.write([]byte(target))
	c.pad(len(target))
}

func (c *cpioWriter) charDev(p string, major, minor uint32) {
	c.mkdirAll(path.Dir(p))
	c.header(p, modeChar|0o600, 0, major, minor)
}

// close writes the trailer and flushes.
func (c *cpioWriter) close() error {
	c.header("TRAILER!!!", 0, 0, 0, 0)
	if c.err != nil {
		return c.err
	}
	return c.w.Flush()
}

// sortedKeys is for deterministic archives.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
