// Package otelcoltest runs a real OpenTelemetry Collector for tests and reads
// back the log records it received.
//
// The collector is test/otelcol, built from the collector's Go modules (its
// own Go module, so that ctrace's go.mod does not carry the collector's
// dependency tree). Building it takes about a minute the first time, so
// the binary is cached under the user cache directory
// (~/.cache/ctrace-otelcol/<hash of its go.mod, go.sum and source>/), or
// CTRACE_OTELCOL_CACHE, and built at most once per change of its sources,
// however many test processes ask for it at once.
//
// The collector listens for OTLP on loopback ports of its own and writes
// every batch it receives as a line of OTLP JSON to a file, which Records
// parses.
package otelcoltest

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// sourceDir is test/otelcol in this checkout.
func sourceDir() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", errors.New("cannot locate the otelcoltest source file")
	}
	dir := filepath.Join(filepath.Dir(file), "..", "..", "..", "test", "otelcol")
	if _, err := os.Stat(filepath.Join(dir, "go.mod")); err != nil {
		return "", fmt.Errorf("test collector sources: %w", err)
	}
	return dir, nil
}

func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	// sudo's secure_path usually lacks Go's directory.
	return "/usr/local/go/bin/go"
}

var (
	buildOnce sync.Once
	buildPath string
	buildErr  error
)

// Binary returns the path of the test collector, building it if the cache
// has no binary for the current sources.
func Binary() (string, error) {
	buildOnce.Do(func() { buildPath, buildErr = build() })
	return buildPath, buildErr
}

func build() (string, error) {
	src, err := sourceDir()
	if err != nil {
		return "", err
	}
	h := sha256.New()
	for _, name := range []string{"go.mod", "go.sum", "main.go"} {
		b, err := os.ReadFile(filepath.Join(src, name))
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s %d\n", name, len(b))
		h.Write(b)
	}
	cache := os.Getenv("CTRACE_OTELCOL_CACHE")
	if cache == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			base = os.TempDir()
		}
		cache = filepath.Join(base, "ctrace-otelcol")
	}
	dir := filepath.Join(cache, hex.EncodeToString(h.Sum(nil))[:16])
	bin := filepath.Join(dir, "otelcol")
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	// Test binaries of several packages run at once: one builds, the
	// others wait for it on the lock and then find the binary.
	lock, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "", err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", fmt.Errorf("lock %s: %w", lock.Name(), err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	tmp := bin + ".tmp"
	cmd := exec.Command(goTool(), "build", "-trimpath", "-o", tmp, ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "GOWORK=off", "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building the test collector in %s: %v\n%s", src, err, out)
	}
	return bin, os.Rename(tmp, bin)
}

// Collector is a running test collector.
type Collector struct {
	// GRPC and HTTP are the OTLP receiver's addresses (127.0.0.1:PORT).
	GRPC, HTTP string
	bin        string
	dir        string
	out        string
	config     string
	log        *os.File
	cmd        *exec.Cmd
	done       chan struct{}
	tb         testing.TB
}

// Start builds (or finds) the collector and starts it on free loopback
// ports; the test's cleanup stops it.
func Start(tb testing.TB) *Collector {
	tb.Helper()
	if os.Getenv("CTRACE_VM_GUEST") != "" {
		// Export does not depend on the kernel: make test runs these
		// tests natively, where the toolchain can build the collector.
		tb.Skip("skipped: the test collector is built with the Go toolchain, which the kernel-matrix guest lacks")
	}
	bin, err := Binary()
	if err != nil {
		tb.Fatal(err)
	}
	c := &Collector{bin: bin, dir: tb.TempDir(), tb: tb}
	c.GRPC, c.HTTP = freeAddr(tb), freeAddr(tb)
	c.out = filepath.Join(c.dir, "logs.jsonl")
	c.config = filepath.Join(c.dir, "collector.yaml")
	if err := os.WriteFile(c.config, []byte(c.configYAML()), 0o644); err != nil {
		tb.Fatal(err)
	}
	if c.log, err = os.Create(filepath.Join(c.dir, "collector.log")); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		c.Stop()
		c.log.Close()
		if tb.Failed() {
			b, _ := os.ReadFile(c.log.Name())
			tb.Logf("collector log:\n%s", b)
		}
	})
	if err := c.start(); err != nil {
		tb.Fatal(err)
	}
	return c
}

func (c *Collector) configYAML() string {
	// The collector's own metrics are off: their default port (8888)
	// would collide between collectors started at once.
	return `receivers:
  otlp:
    protocols:
      grpc:
        endpoint: ` + c.GRPC + `
      http:
        endpoint: ` + c.HTTP + `
exporters:
  jsonlines:
    path: ` + strconv.Quote(c.out) + `
service:
  telemetry:
    metrics:
      level: none
  pipelines:
    logs:
      receivers: [otlp]
      exporters: [jsonlines]
`
}

func freeAddr(tb testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func (c *Collector) start() error {
	c.cmd = exec.Command(c.bin, "--config", c.config)
	c.cmd.Stdout, c.cmd.Stderr = c.log, c.log
	if err := c.cmd.Start(); err != nil {
		return fmt.Errorf("starting the test collector: %w", err)
	}
	c.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) {
		_ = cmd.Wait()
		close(done)
	}(c.cmd, c.done)
	deadline := time.Now().Add(30 * time.Second)
	for _, addr := range []string{c.GRPC, c.HTTP} {
		for {
			conn, err := net.DialTimeout("tcp", addr, time.Second)
			if err == nil {
				conn.Close()
				break
			}
			select {
			case <-c.done:
				b, _ := os.ReadFile(c.log.Name())
				return fmt.Errorf("the test collector exited at start:\n%s", b)
			default:
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("the test collector is not listening on %s after 30 s", addr)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return nil
}

// Stop stops the collector (SIGTERM, then SIGKILL after 10 s) and waits
// for it to exit. Stopping a stopped collector does nothing.
func (c *Collector) Stop() {
	if c.cmd == nil {
		return
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
	c.cmd = nil
}

// Restart starts a stopped collector again on the same ports, appending
// to the same output.
func (c *Collector) Restart() {
	c.tb.Helper()
	if err := c.start(); err != nil {
		c.tb.Fatal(err)
	}
}

// Log returns what the collector wrote on stdout and stderr.
func (c *Collector) Log() string {
	b, _ := os.ReadFile(c.log.Name())
	return string(b)
}
