package doctor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ctrace-dev/ctrace/internal/netns"
)

// FixResult is what Fix did, or with a dry run would do, about a finding.
type FixResult struct {
	// Fixed: the action was carried out.
	Fixed bool
	// Did says what was done (with a dry run: what would be done); ""
	// when nothing was or would be.
	Did string
	// Error says why the finding was not fixed: not Fix's to fix, no
	// longer provably safe when re-verified, or the action failed.
	Error string
	// Failed: Fix acted and the action failed (a fix error, as opposed
	// to a finding it left alone).
	Failed bool
	// Resolved: when re-verified, the finding no longer held (the file
	// was gone already): nothing is left of it.
	Resolved bool
}

// fixLockWait bounds the wait for host-local's lock: a plugin holds it
// for the length of one ADD or DEL.
const fixLockWait = 5 * time.Second

// What Fix may do, and what it leaves to others (the decisions the
// checks' findings leave open):
//
//   - netns-stale with no container naming it: remove the file. Nothing
//     can enter it; a container that names it is its runtime's to remove
//     (crictl rmp, ctr container rm), which removes the file too.
//   - netns-leaked: unmount and remove the file, from the node's mount
//     namespace only (not from a container with the node's root at
//     /host: its unmount would not reach the node's mount).
//   - ipam-leaked: remove the address file under host-local's lock of
//     its network directory (what host-local's DEL does; the
//     last_reserved_ip files and the lock stay), or the cache entry.
//   - netns-missing, netns-busy, sandbox-orphaned: never. The first and
//     last are containerd's to clean; a busy file's copies belong to the
//     mount namespaces of live processes.
//
// Each is re-verified just before acting against a fresh listing of
// containerd's containers (Input.Live) and the node: still the same file
// (same namespace inode, same owner id), no container names it or has its
// id, no process is in its namespace, no other mount namespace holds it,
// and older than Input.MinAge (a sandbox being created has its namespace,
// address and cache entry before containerd has the sandbox). A finding
// that no longer passes is left alone and stays a finding; one whose file
// is gone is resolved.
//
// Fix records on each finding what it did and on the report that it ran.
// With dryRun it verifies the same way and says what it would do, and
// changes nothing (not even host-local's lock file).
func Fix(ctx context.Context, in Input, rep *Report, dryRun bool) {
	if in.Proc == "" {
		in.Proc = "/proc"
	}
	rep.Fixed, rep.DryRun = true, dryRun
	for i := range rep.Findings {
		f := &rep.Findings[i]
		r := fixOne(ctx, in, f, dryRun)
		f.Fix = &r
	}
}

// Remaining counts the findings left: all of them before Fix; after it,
// those neither fixed nor resolved.
func (r *Report) Remaining() int {
	n := 0
	for _, f := range r.Findings {
		if f.Fix == nil || (!f.Fix.Fixed && !f.Fix.Resolved) {
			n++
		}
	}
	return n
}

func fixOne(ctx context.Context, in Input, f *Finding, dryRun bool) FixResult {
	switch {
	case f.Kind == NetNSStale && f.Container == nil:
		return fixStale(ctx, in, f, dryRun)
	case f.Kind == NetNSLeaked:
		return fixLeaked(ctx, in, f, dryRun)
	case f.Kind == IPAMLeaked && f.cache:
		return fixCache(ctx, in, f, dryRun)
	case f.Kind == IPAMLeaked:
		return fixAddress(ctx, in, f, dryRun)
	case f.Kind == NetNSBusy:
		return FixResult{Error: "its copies belong to the mount namespaces of live processes, which doctor does not enter"}
	case f.Kind == SandboxOrphaned:
		return FixResult{Error: "containerd's to clean up (see what to do)"}
	}
	return FixResult{Error: "the container that names it is its runtime's to remove, which removes the file too (see what to do)"}
}

// live returns containerd's containers now, fresh when Input.Live is set.
func live(ctx context.Context, in Input) (Live, error) {
	if in.Live != nil {
		l, err := in.Live(ctx)
		if err != nil {
			return Live{}, fmt.Errorf("list containerd's containers: %w", err)
		}
		return l, nil
	}
	l := Live{IDs: map[string]bool{}, NetNS: map[string]bool{}}
	for _, c := range existing(in.Containers()) {
		l.IDs[c.ID] = true
		if c.NetNS != "" {
			l.NetNS[netns.Canonical(in.Root, c.NetNS)] = true
		}
	}
	return l, nil
}

func leftAlone(why string) FixResult { return FixResult{Error: "left alone: " + why} }

func failed(err error) FixResult { return FixResult{Error: err.Error(), Failed: true} }

// young reports whether a file changed within the last MinAge.
func young(in Input, mtime time.Time) bool { return time.Since(mtime) < in.MinAge }

// heldElsewhere reports whether another mount namespace holds the file's
// mount.
func heldElsewhere(in Input, p string) bool {
	return len(busyNetNS(in, []string{p}, nil)) > 0
}

func fixStale(ctx context.Context, in Input, f *Finding, dryRun bool) FixResult {
	hp := netns.HostEntry(in.Root, f.Path)
	st, err := netns.Classify(in.Root, f.Path)
	switch {
	case err != nil:
		return failed(err)
	case st == netns.StateMissing:
		return FixResult{Resolved: true, Did: "nothing: " + f.Path + " is gone already"}
	case st != netns.StateStale:
		return leftAlone("a namespace is mounted on " + f.Path + " now")
	}
	l, err := live(ctx, in)
	if err != nil {
		return failed(err)
	}
	if l.NetNS[netns.Canonical(in.Root, f.Path)] {
		return leftAlone("a container names " + f.Path + " now")
	}
	fi, err := os.Lstat(hp)
	if err != nil {
		return failed(fmt.Errorf("stat %s: %w", f.Path, err))
	}
	if !fi.Mode().IsRegular() || fi.Size() != 0 {
		return leftAlone(f.Path + " is not an empty file")
	}
	if young(in, fi.ModTime()) {
		return leftAlone(f.Path + " is younger than " + in.MinAge.String() + ": a sandbox may be being created with it")
	}
	if heldElsewhere(in, f.Path) {
		return leftAlone("another mount namespace holds a mount on " + f.Path)
	}
	if dryRun {
		return FixResult{Did: "would remove " + f.Path}
	}
	if err := os.Remove(hp); err != nil {
		return failed(fmt.Errorf("remove %s: %w", f.Path, err))
	}
	return FixResult{Fixed: true, Did: "removed " + f.Path}
}

func fixLeaked(ctx context.Context, in Input, f *Finding, dryRun bool) FixResult {
	if in.Root != "" && in.Root != "/" {
		return FixResult{Error: "unmounting must happen in the node's mount namespace: run ctrace doctor --fix on the node"}
	}
	st, err := netns.Classify(in.Root, f.Path)
	switch {
	case err != nil:
		return failed(err)
	case st == netns.StateMissing:
		return FixResult{Resolved: true, Did: "nothing: " + f.Path + " is gone already"}
	case st != netns.StateOK:
		return leftAlone(f.Path + " changed: no namespace is mounted on it now")
	}
	ino, ok := inode(f.Path)
	if !ok || ino != f.ino {
		return leftAlone(f.Path + " holds another namespace now")
	}
	l, err := live(ctx, in)
	if err != nil {
		return failed(err)
	}
	if l.NetNS[netns.Canonical(in.Root, f.Path)] {
		return leftAlone("a container names " + f.Path + " now")
	}
	if pid := processIn(in.Proc, ino); pid != 0 {
		return leftAlone("pid " + strconv.Itoa(pid) + " is in its namespace now")
	}
	if heldElsewhere(in, f.Path) {
		return leftAlone("another mount namespace holds a copy of its mount")
	}
	// The namespace file's time is when its nsfs inode was made: when
	// the namespace was first bound or opened, about when it was made.
	fi, err := os.Stat(f.Path)
	if err != nil {
		return failed(fmt.Errorf("stat %s: %w", f.Path, err))
	}
	if young(in, fi.ModTime()) {
		return leftAlone(f.Path + " is younger than " + in.MinAge.String() + ": a sandbox may be being created with it")
	}
	if dryRun {
		return FixResult{Did: "would unmount and remove " + f.Path}
	}
	if err := unix.Unmount(f.Path, unix.MNT_DETACH|unix.UMOUNT_NOFOLLOW); err != nil {
		return failed(fmt.Errorf("unmount %s: %w", f.Path, err))
	}
	if err := os.Remove(f.Path); err != nil {
		return failed(fmt.Errorf("unmounted %s, but remove: %w", f.Path, err))
	}
	return FixResult{Fixed: true, Did: "unmounted and removed " + f.Path}
}

// processIn returns a process in the network namespace ino, 0 for none.
func processIn(proc string, ino uint64) int {
	ents, _ := os.ReadDir(proc)
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if n, ok := inode(filepath.Join(proc, e.Name(), "ns", "net")); ok && n == ino {
			return pid
		}
	}
	return 0
}

// lockNetwork takes host-local's lock of a network directory: an flock
// on the directory's file "lock", which host-local holds for each ADD,
// DEL and GC (its disk backend). With create false (a dry run) a missing
// lock file is not made: then no host-local has run there to hold it.
func lockNetwork(ctx context.Context, dir string, create bool) (release func(), err error) {
	flags := os.O_RDONLY
	if create {
		flags |= os.O_CREATE
	}
	lf, err := os.OpenFile(filepath.Join(dir, "lock"), flags, 0o600)
	if errors.Is(err, os.ErrNotExist) && !create {
		return func() {}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open host-local's lock: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, fixLockWait)
	defer cancel()
	for {
		err := unix.Flock(int(lf.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return func() { lf.Close() }, nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) && !errors.Is(err, unix.EINTR) {
			lf.Close()
			return nil, fmt.Errorf("lock %s: %w", lf.Name(), err)
		}
		select {
		case <-ctx.Done():
			lf.Close()
			return nil, fmt.Errorf("lock %s: held by a CNI plugin for more than %v: %w", lf.Name(), fixLockWait, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func fixAddress(ctx context.Context, in Input, f *Finding, dryRun bool) FixResult {
	release, err := lockNetwork(ctx, netns.HostPath(in.Root, f.lockDir), !dryRun)
	if err != nil {
		return failed(err)
	}
	defer release()
	hp := netns.HostEntry(in.Root, f.Path)
	id, mtime, ok := addressOwner(hp)
	if !ok {
		if _, err := os.Lstat(hp); errors.Is(err, os.ErrNotExist) {
			return FixResult{Resolved: true, Did: "nothing: " + f.Path + " was released already"}
		}
		return leftAlone(f.Path + " cannot be read now")
	}
	if id != f.ownerID {
		return leftAlone(f.IP + " belongs to container " + id + " now")
	}
	l, err := live(ctx, in)
	if err != nil {
		return failed(err)
	}
	if l.IDs[id] {
		return leftAlone("container " + id + " exists now")
	}
	if young(in, mtime) {
		return leftAlone(f.Path + " is younger than " + in.MinAge.String())
	}
	if dryRun {
		return FixResult{Did: "would release " + f.IP + " (remove " + f.Path + ")"}
	}
	if err := os.Remove(hp); err != nil {
		return failed(fmt.Errorf("remove %s: %w", f.Path, err))
	}
	return FixResult{Fixed: true, Did: "released " + f.IP + " (removed " + f.Path + ")"}
}

func fixCache(ctx context.Context, in Input, f *Finding, dryRun bool) FixResult {
	hp := netns.HostEntry(in.Root, f.Path)
	e, mtime, ok := readCacheEntry(hp)
	if !ok {
		if _, err := os.Lstat(hp); errors.Is(err, os.ErrNotExist) {
			return FixResult{Resolved: true, Did: "nothing: " + f.Path + " is gone already"}
		}
		return leftAlone(f.Path + " cannot be read now")
	}
	if e.ContainerID != f.ownerID {
		return leftAlone(f.Path + " is for container " + e.ContainerID + " now")
	}
	l, err := live(ctx, in)
	if err != nil {
		return failed(err)
	}
	if l.IDs[e.ContainerID] {
		return leftAlone("container " + e.ContainerID + " exists now")
	}
	if young(in, mtime) {
		return leftAlone(f.Path + " is younger than " + in.MinAge.String())
	}
	if dryRun {
		return FixResult{Did: "would remove " + f.Path}
	}
	if err := os.Remove(hp); err != nil {
		return failed(fmt.Errorf("remove %s: %w", f.Path, err))
	}
	return FixResult{Fixed: true, Did: "removed " + f.Path}
}
