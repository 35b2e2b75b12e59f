package doctor

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/ctrace-dev/ctrace/correlate"
)

// inode returns the inode number of the file at p (following links: a
// /proc/PID/ns/net link gives its namespace's).
func inode(p string) (uint64, bool) {
	fi, err := os.Stat(p)
	if err != nil {
		return 0, false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return st.Ino, true
}

// procState returns a process's state letter from /proc/PID/stat ("R",
// "S", "Z", ...), "" when there is no such process.
func procState(proc string, pid uint32) string {
	b, err := os.ReadFile(filepath.Join(proc, strconv.FormatUint(uint64(pid), 10), "stat"))
	if err != nil {
		return ""
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+3 > len(s) {
		return ""
	}
	return s[i+2 : i+3]
}

// orphans finds containers whose task containerd lists with a process
// that is gone (or a zombie its shim has not reaped: a hung shim), and
// shims of this containerd serving no container. Each is confirmed
// against a second look at containerd's containers, so that a task that
// just exited or a container just created is not reported.
func orphans(in Input, live []*correlate.Container) []Finding {
	var out []Finding
	gone := func(pid uint32) string {
		switch procState(in.Proc, pid) {
		case "":
			return "no such process"
		case "Z":
			return "a zombie that its shim has not reaped"
		}
		return ""
	}
	suspects := map[string]string{}
	for _, c := range live {
		if (in.Namespace != "" && c.Namespace != in.Namespace) || !taskAlive(c) || c.TaskPID == 0 {
			continue
		}
		if why := gone(c.TaskPID); why != "" {
			suspects[c.Namespace+"/"+c.ID] = why
		}
	}
	var shims []shim
	if in.Address != "" {
		known := map[string]*correlate.Container{}
		for _, c := range live {
			known[c.Namespace+"/"+c.ID] = c
		}
		for _, s := range listShims(in.Proc) {
			if s.address != in.Address || (in.Namespace != "" && s.ns != in.Namespace) {
				continue
			}
			c := known[s.ns+"/"+s.id]
			switch {
			case c == nil:
				shims = append(shims, s)
			case c.Task == correlate.TaskNone:
				// containerd leaves a task out of its list when its
				// shim does not answer (a hung shim): the shim runs,
				// the container is there, containerd lists no task.
				if st := procState(in.Proc, uint32(s.pid)); st != "" {
					suspects[s.ns+"/"+s.id] = "hung:" + strconv.Itoa(s.pid) + ":" + st
				}
			}
		}
	}
	if len(suspects) == 0 && len(shims) == 0 {
		return nil
	}
	again := map[string]*correlate.Container{}
	for _, c := range existing(in.Containers()) {
		again[c.Namespace+"/"+c.ID] = c
	}
	for _, c := range live {
		k := c.Namespace + "/" + c.ID
		why, ok := suspects[k]
		c2 := again[k]
		if !ok || c2 == nil {
			continue
		}
		what := "container"
		if c.Pod != "" {
			what = "sandbox of pod " + c.PodNamespace + "/" + c.Pod + ","
		}
		if hung, ok := strings.CutPrefix(why, "hung:"); ok {
			if c2.Task != correlate.TaskNone {
				continue
			}
			pid, st, _ := strings.Cut(hung, ":")
			state := "does not answer containerd"
			if st == "T" {
				state = "is stopped"
			}
			out = append(out, Finding{Kind: SandboxOrphaned, Container: ref(c),
				Detail: "containerd lists no task for " + what + " " + k + ", but its shim (pid " + pid + ") runs and " + state +
					": containerd leaves out of its list the tasks whose shim does not answer",
				Action: "find why the shim hangs (cat /proc/" + pid + "/stack, its state " + st + "); kill it (kill -9 " + pid +
					") so that containerd cleans the task up, then remove the container or, for a pod's sandbox, crictl stopp/rmp"})
			continue
		}
		if !taskAlive(c2) || c2.TaskPID != c.TaskPID || gone(c.TaskPID) == "" {
			continue
		}
		shimNote := ""
		if c.ShimPID != 0 {
			if st := procState(in.Proc, c.ShimPID); st == "" {
				shimNote = "; its shim (pid " + strconv.FormatUint(uint64(c.ShimPID), 10) + ") is gone too"
			} else if st == "T" {
				shimNote = "; its shim (pid " + strconv.FormatUint(uint64(c.ShimPID), 10) + ") is stopped"
			}
		}
		out = append(out, Finding{Kind: SandboxOrphaned, Container: ref(c),
			Detail: "containerd lists the task of " + what + " " + k + " as " + string(c.Task) + " with pid " +
				strconv.FormatUint(uint64(c.TaskPID), 10) + ", which is " + why + shimNote,
			Action: "delete the task and the container (ctr -n " + c.Namespace + " task delete -f " + c.ID +
				"), or for a pod's sandbox crictl stopp/rmp; if containerd cannot reach the shim, restart the shim's parent containerd"})
	}
	for _, s := range shims {
		if again[s.ns+"/"+s.id] != nil {
			continue
		}
		out = append(out, Finding{Kind: SandboxOrphaned,
			Container: &Container{ID: s.id, Namespace: s.ns},
			Detail: "shim pid " + strconv.Itoa(s.pid) + " (-namespace " + s.ns + " -id " + s.id +
				") serves a container that containerd does not have",
			Action: "kill the shim and what it runs (kill " + strconv.Itoa(s.pid) + ") once you are sure nothing needs it"})
	}
	return out
}

type shim struct {
	pid             int
	ns, id, address string
}

// listShims reads the containerd shims' command lines:
// containerd-shim-runc-v2 -namespace NS -id ID -address SOCKET.
func listShims(proc string) []shim {
	var out []shim
	ents, _ := os.ReadDir(proc)
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join(proc, e.Name(), "cmdline"))
		if err != nil || len(b) == 0 {
			continue
		}
		argv := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		if !strings.HasPrefix(filepath.Base(argv[0]), "containerd-shim") {
			continue
		}
		s := shim{pid: pid}
		for i := 0; i+1 < len(argv); i++ {
			switch argv[i] {
			case "-namespace":
				s.ns = argv[i+1]
			case "-id":
				s.id = argv[i+1]
			case "-address":
				s.address = argv[i+1]
			}
		}
		if s.ns != "" && s.id != "" {
			out = append(out, s)
		}
	}
	return out
}
