package correlate

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ctrace-dev/ctrace/tracer"
)

// procCache answers from /proc what an event did not carry, for processes
// that are still alive when the event is read. Answers are kept briefly
// per pid and comm, so that a storm of failures of one process reads
// /proc once.
type procCache struct {
	root string
	mu   sync.Mutex
	m    map[uint32]procResult
}

type procResult struct {
	comm string
	id   ident
	ok   bool
	at   time.Time
}

const (
	procTTL = 2 * time.Second
	procMax = 4096
	// procParents bounds the walk up the parent chain.
	procParents = 3
)

// identify reads /proc/PID/cgroup, then the command lines of the process
// and, for runtime processes, of its parents: a `runc init` that has not
// joined the container's cgroup yet is the child of `runc create --bundle
// .../NS/ID`.
func (pc *procCache) identify(p *tracer.Proc, runtime bool) (ident, bool) {
	now := time.Now()
	pc.mu.Lock()
	if res, ok := pc.m[p.PID]; ok && res.comm == p.Comm && now.Sub(res.at) < procTTL {
		pc.mu.Unlock()
		return res.id, res.ok
	}
	pc.mu.Unlock()

	id, ok := pc.read(p, runtime)
	pc.mu.Lock()
	if len(pc.m) >= procMax {
		pc.pruneLocked(now, true)
	}
	pc.m[p.PID] = procResult{comm: p.Comm, id: id, ok: ok, at: now}
	pc.mu.Unlock()
	return id, ok
}

func (pc *procCache) read(p *tracer.Proc, runtime bool) (ident, bool) {
	// The pid may have been reused since the event: trust /proc only
	// while it still shows the same command name.
	if st, err := readStat(pc.root, p.PID); err == nil && st.comm == p.Comm {
		if cg, err := readCgroup(pc.root, p.PID); err == nil {
			if id, ok := fromCgroup(cg); ok {
				id.Source = SourceProc
				return id, true
			}
		}
		if argv, err := readCmdline(pc.root, p.PID); err == nil {
			if id, ok := fromCmdline(argv); ok {
				id.Source = SourceProc
				return id, true
			}
		}
	}
	if !runtime {
		return ident{}, false
	}
	pid := p.PPID
	for i := 0; i < procParents && pid > 1; i++ {
		if argv, err := readCmdline(pc.root, pid); err == nil {
			if id, ok := fromCmdline(argv); ok {
				id.Source = SourceProc
				return id, true
			}
		}
		st, err := readStat(pc.root, pid)
		if err != nil {
			break
		}
		pid = st.ppid
	}
	return ident{}, false
}

func (pc *procCache) prune(now time.Time) {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	pc.pruneLocked(now, false)
}

func (pc *procCache) pruneLocked(now time.Time, all bool) {
	for pid, res := range pc.m {
		if all || now.Sub(res.at) >= procTTL {
			delete(pc.m, pid)
		}
	}
}

type stat struct {
	comm string
	ppid uint32
}

// readStat reads a process's comm and parent from /proc/PID/stat.
func readStat(root string, pid uint32) (stat, error) {
	b, err := os.ReadFile(root + "/" + strconv.FormatUint(uint64(pid), 10) + "/stat")
	if err != nil {
		return stat{}, err
	}
	// pid (comm) state ppid ...: comm may hold spaces and parentheses.
	open, end := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if open < 0 || end < open {
		return stat{}, errors.New("malformed stat")
	}
	f := strings.Fields(string(b[end+1:]))
	if len(f) < 2 {
		return stat{}, errors.New("malformed stat")
	}
	ppid, err := strconv.ParseUint(f[1], 10, 32)
	if err != nil {
		return stat{}, err
	}
	return stat{comm: string(b[open+1 : end]), ppid: uint32(ppid)}, nil
}

// readCgroup returns the process's cgroup v2 path (the "0::" line).
func readCgroup(root string, pid uint32) (string, error) {
	b, err := os.ReadFile(root + "/" + strconv.FormatUint(uint64(pid), 10) + "/cgroup")
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if p, ok := strings.CutPrefix(line, "0::"); ok {
			return p, nil
		}
	}
	return "", errors.New("no cgroup v2 line")
}

func readCmdline(root string, pid uint32) ([]string, error) {
	b, err := os.ReadFile(root + "/" + strconv.FormatUint(uint64(pid), 10) + "/cmdline")
	if err != nil {
		return nil, err
	}
	b = bytes.TrimRight(b, "\x00")
	if len(b) == 0 {
		return nil, errors.New("no command line")
	}
	return strings.Split(string(b), "\x00"), nil
}

// taskBundles is the directory of containerd's task bundles, under its
// state directory: .../io.containerd.runtime.v2.task/NS/ID.
const taskBundles = "io.containerd.runtime.v2.task"

// bundleRootfs is the rootfs directory of a container whose task was
// running when ctrace listed it, which no TaskCreate event told: a runc
// shim works in a task bundle (for a shim that serves a pod, its first
// container's), and the container's own bundle is NS/ID beside it. It is
// taken only when the task's init process has that directory as its root
// (the same file: the rootfs mount it pivoted into); "" otherwise.
func (r *Resolver) bundleRootfs(shim, pid uint32, ns, id string) string {
	if shim == 0 || pid == 0 {
		return ""
	}
	shimDir := r.opts.ProcRoot + "/" + strconv.FormatUint(uint64(shim), 10)
	cwd, err := os.Readlink(shimDir + "/cwd")
	if err != nil || !filepath.IsAbs(cwd) {
		return ""
	}
	tasks := filepath.Dir(filepath.Dir(cwd))
	if filepath.Base(tasks) != taskBundles || strings.Contains(ns+id, "/") {
		return ""
	}
	// Through the shim's own view of the files (its cwd link), not
	// ctrace's: ctrace may see the node's root elsewhere (a pod).
	viaShim := shimDir + "/cwd/../../" + ns + "/" + id + "/rootfs"
	root := r.opts.ProcRoot + "/" + strconv.FormatUint(uint64(pid), 10) + "/root"
	var a, b unix.Stat_t
	if unix.Stat(viaShim, &a) != nil || unix.Stat(root, &b) != nil || a.Dev != b.Dev || a.Ino != b.Ino {
		return ""
	}
	return filepath.Join(tasks, ns, id, "rootfs")
}
