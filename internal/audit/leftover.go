package audit

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// StateDir is where a run that turned auditing on records it: a tmpfs on
// every systemd node, so a reboot, which resets the kernel's audit state
// too, also forgets the record.
const StateDir = "/run/ctrace"

// stateName is the record's file in StateDir.
const stateName = "audit-enabled.json"

// owner is the process that turned auditing on. Start (field 22 of
// /proc/PID/stat) tells the process apart from a later one that reuses
// its pid.
type owner struct {
	PID   int    `json:"pid"`
	Start uint64 `json:"start_ticks"`
}

// Leftover says that auditing was found left on by a ctrace that did not
// end cleanly, and was turned off again.
type Leftover struct {
	PID int // of the ctrace that turned it on
}

// EnableForRun turns auditing on for as long as this process runs, if it
// is off, and returns the function that turns it off again (nothing to do
// when it was on already). Before turning it on it records, in dir, that
// this process did: a ctrace killed before it could restore (SIGKILL, the
// OOM killer, a crash) leaves the record, and RestoreLeftover, which the
// next ctrace run or check calls, turns auditing off again. Without a
// record auditing is not turned on.
func EnableForRun(dir string) (restore func() error, err error) {
	st, err := Status()
	if err != nil {
		return nil, err
	}
	if st.Enabled {
		return func() error { return nil }, nil
	}
	if st.Immutable {
		return nil, errors.New("the audit configuration is locked (enabled 2) until reboot")
	}
	start, err := startTicks(os.Getpid())
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, stateName)
	if err := writeRecord(path, owner{PID: os.Getpid(), Start: start}); err != nil {
		return nil, fmt.Errorf("record that auditing is turned on, so that a later ctrace can turn it off if this one is killed: %w", err)
	}
	if _, err := SetEnabled(true); err != nil {
		_ = os.Remove(path)
		return nil, err
	}
	return func() error {
		if _, err := SetEnabled(false); err != nil {
			return fmt.Errorf("restore auditing to disabled: %w (turn it off with auditctl -e 0, or run ctrace check)", err)
		}
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("remove %s: %w", path, err)
		}
		return nil
	}, nil
}

// RestoreLeftover turns auditing off if dir records that a ctrace turned
// it on and that ctrace no longer runs, and removes the record. It returns
// nil when there was nothing to restore: no record, or its ctrace still
// running.
func RestoreLeftover(dir string) (*Leftover, error) {
	path := filepath.Join(dir, stateName)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var o owner
	if err := json.Unmarshal(b, &o); err != nil {
		// Not ctrace's record, or a torn one: leave auditing alone.
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if start, err := startTicks(o.PID); err == nil && start == o.Start {
		return nil, nil // that run is still going
	}
	st, err := Status()
	if err != nil {
		return nil, err
	}
	if st.Enabled && !st.Immutable {
		if _, err := SetEnabled(false); err != nil {
			return nil, err
		}
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("remove %s: %w", path, err)
	}
	return &Leftover{PID: o.PID}, nil
}

// writeRecord writes o to path whole or not at all.
func writeRecord(path string, o owner) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	b, err := json.Marshal(o)
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// startTicks is when process pid started, in clock ticks after boot.
func startTicks(pid int) (uint64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name, field 2, may hold spaces and parentheses: count
	// fields from the last ')'.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	const starttime = 22 - 3 // fields 1 and 2 come before ')'
	if len(f) <= starttime {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f)+2)
	}
	return strconv.ParseUint(f[starttime], 10, 64)
}
