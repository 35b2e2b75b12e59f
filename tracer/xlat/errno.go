package xlat

import (
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// The errno table: each error's name and message, as strace prints them
// ("ENOENT (No such file or directory)"), from x/sys's table. Events,
// metrics and the --errno flag all read it.

// maxErrno bounds the errnos a syscall returns (-4095 <= ret < 0).
const maxErrno = 4095

// errnoMessages holds the messages of the errnos that exist, so that an
// event does not build its message again.
var errnoMessages = func() (t [256]string) {
	for i := range t {
		t[i] = makeErrnoMessage(unix.Errno(i))
	}
	return t
}()

// ErrnoName names an errno ("ENOENT"), or "E<n>" for a number without
// a name.
func ErrnoName(e unix.Errno) string {
	if n := unix.ErrnoName(e); n != "" {
		return n
	}
	return "E" + strconv.Itoa(int(e))
}

// ErrnoNameOK names an errno; false for a number without a name.
func ErrnoNameOK(e unix.Errno) (string, bool) {
	n := unix.ErrnoName(e)
	return n, n != ""
}

// ErrnoMessage is the error's message as strerror(3), and so strace, print
// it: Go's messages are glibc's with the first letter in lower case.
func ErrnoMessage(e unix.Errno) string {
	if e < unix.Errno(len(errnoMessages)) {
		return errnoMessages[e]
	}
	return makeErrnoMessage(e)
}

func makeErrnoMessage(e unix.Errno) string {
	m := e.Error()
	if m != "" && m[0] >= 'a' && m[0] <= 'z' {
		m = string(m[0]-'a'+'A') + m[1:]
	}
	return m
}

// ParseErrno returns the errno of a name such as "EPERM"; false for a
// name the table lacks.
func ParseErrno(name string) (unix.Errno, bool) {
	for e := unix.Errno(1); e <= maxErrno; e++ {
		if unix.ErrnoName(e) == name {
			return e, true
		}
	}
	return 0, false
}

// ErrnoNames lists the names of Linux's errnos (through EHWPOISON; x/sys
// also names 134, EFTYPE, which Linux does not use), in number order,
// joined by commas.
func ErrnoNames() string {
	var names []string
	for e := unix.Errno(1); e <= unix.EHWPOISON; e++ {
		if n := unix.ErrnoName(e); n != "" {
			names = append(names, n)
		}
	}
	return strings.Join(names, ",")
}
