package main

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/ctrace-dev/ctrace/internal/testing/testenv"
	"github.com/ctrace-dev/ctrace/tracer"
)

// flagCase is one value of one flag of ctrace run.
type flagCase struct {
	flag string   // the flag's long name
	args []string // after "run"
	// want is "" for a good value; for a bad one, what stderr must say:
	// the flag, what is wrong, what is allowed.
	want string
	// late marks a bad value found after the privilege check (it needs
	// the node: a process, a directory): in-process and as root only.
	late bool
}

func flagCases(t *testing.T) []flagCase {
	tmp := t.TempDir()
	var many []string
	for i := range maxComms + 1 {
		many = append(many, "comm"+strconv.Itoa(i))
	}
	self := strconv.Itoa(os.Getpid())
	kubeconfig := filepath.Join(tmp, "kubeconfig")
	if err := os.WriteFile(kubeconfig, []byte("apiVersion: v1\nkind: Config\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return []flagCase{
		{"syscalls", []string{"-e", "mount,%open"}, "", false},
		{"syscalls", []string{"-e", ""}, "-e/--syscalls: an empty value; allowed: one or more values", false},
		{"syscalls", []string{"-e", "mount,"}, "-e/--syscalls: an empty value", false},
		{"syscalls", []string{"-e", "mount,nosuchcall"}, `-e/--syscalls: unknown syscall "nosuchcall"; valid syscalls: mount,`, false},
		{"errno", []string{"--errno", "EPERM,13"}, "", false},
		{"errno", []string{"--errno", "EFOO"}, "--errno: unknown errno \"EFOO\"; allowed: a number from 1 to 4095", false},
		{"errno", []string{"--errno", "5000"}, "--errno: unknown errno \"5000\"", false},
		{"pid", []string{"--pid", self}, "", false},
		{"pid", []string{"--pid", "0"}, "--pid 0: not a process id; allowed: 1 to 4194304", false},
		{"pid", []string{"--pid", "4194305"}, "--pid 4194305: not a process id", false},
		{"pid", []string{"--pid", "x"}, `invalid argument "x" for "-p, --pid"`, false},
		{"pid", []string{"--pid", "4000000"}, "--pid 4000000: no such process; allowed: the pid of a running process", true},
		{"comm", []string{"--comm", "sh,runc:[2:INIT]"}, "", false},
		{"comm", []string{"--comm", strings.Join(many, ",")}, "--comm: 65 names; allowed: at most 64", false},
		{"comm", []string{"--comm", ""}, "--comm: an empty value", false},
		{"all", []string{"--all"}, "", false},
		{"all", []string{"--all=maybe"}, `invalid argument "maybe" for "--all"`, false},
		{"output", []string{"-o", "json"}, "", false},
		{"output", []string{"-o", "none"}, "", false},
		{"output", []string{"-o", "yaml"}, `-o/--output: unknown output format "yaml"; valid: text, json, none`, false},
		{"duration", []string{"--duration", "30s"}, "", false},
		{"duration", []string{"--duration=-1s"}, "--duration -1s: negative; allowed:", false},
		{"duration", []string{"--duration", "soon"}, `invalid argument "soon" for "--duration"`, false},
		{"count", []string{"--count", "5"}, "", false},
		{"count", []string{"--count", "-1"}, "--count -1: negative; allowed: 0 (no limit) or more", false},
		{"buffer-size", []string{"--buffer-size", "16M"}, "", false},
		{"buffer-size", []string{"--buffer-size", "4096"}, "", false},
		{"buffer-size", []string{"--buffer-size", "1G"}, "", false},
		{"buffer-size", []string{"--buffer-size", "3M"}, "--buffer-size 3M: not a power of two; allowed: a power of two from 4K to 1G", false},
		{"buffer-size", []string{"--buffer-size", "1"}, "--buffer-size 1: smaller than a page", false},
		{"buffer-size", []string{"--buffer-size", "4G"}, "--buffer-size 4G: too large", false},
		{"buffer-size", []string{"--buffer-size", "17179869184G"}, "--buffer-size 17179869184G: too large", false},
		{"buffer-size", []string{"--buffer-size", "lots"}, "--buffer-size lots: not a size", false},
		{"audit", []string{"--audit"}, "", false},
		{"audit", []string{"--audit=maybe"}, `invalid argument "maybe" for "--audit"`, false},
		{"reason-wait", []string{"--reason-wait", "0"}, "", false},
		{"reason-wait", []string{"--reason-wait", "10s"}, "", false},
		{"reason-wait", []string{"--reason-wait=-1s"}, "--reason-wait -1s: out of range; allowed: 0 (do not wait) to 10s", false},
		{"reason-wait", []string{"--reason-wait", "1m"}, "--reason-wait 1m0s: out of range", false},
		{"explain", []string{"--explain"}, "", false},
		{"explain", []string{"--explain=maybe"}, `invalid argument "maybe" for "--explain"`, false},
		{"show-benign", []string{"--show-benign"}, "", false},
		{"show-benign", []string{"--show-benign=maybe"}, `invalid argument "maybe" for "--show-benign"`, false},
		{"no-hints", []string{"--no-hints"}, "", false},
		{"no-hints", []string{"--no-hints=maybe"}, `invalid argument "maybe" for "--no-hints"`, false},
		{"cpuprofile", []string{"--cpuprofile", filepath.Join(tmp, "cpu.prof")}, "", false},
		{"cpuprofile", []string{"--cpuprofile", "/nonexistent/dir/cpu.prof"}, "--cpuprofile /nonexistent/dir/cpu.prof: no directory /nonexistent/dir; allowed:", false},
		{"containerd-address", []string{"--containerd-address", "/run/containerd/containerd.sock"}, "", false},
		{"container", []string{"--container", "abc,web"}, "", false},
		{"container", []string{"--container", "abc,,web"}, "--container: an empty value", false},
		{"containerd-namespace", []string{"--containerd-namespace", "k8s.io"}, "", false},
		{"containerd-namespace", []string{"--containerd-namespace", ""}, "--containerd-namespace: an empty value", false},
		{"pod", []string{"--pod", "web-7d9f"}, "", false},
		{"pod", []string{"--pod", ""}, "--pod: an empty value", false},
		{"k8s-namespace", []string{"--k8s-namespace", "shop"}, "", false},
		{"k8s-namespace", []string{"--k8s-namespace", ","}, "--k8s-namespace: an empty value", false},
		{"host", []string{"--host"}, "", false},
		{"host", []string{"--host", "--container", "abc"}, "--host selects host processes only and cannot be combined with container filters", false},
		{"container-wait", []string{"--container-wait", "1s"}, "", false},
		{"container-wait", []string{"--container-wait=-1s"}, "--container-wait -1s: negative; allowed:", false},
		{"summary", []string{"--summary"}, "", false},
		{"summary", []string{"--summary=maybe"}, `invalid argument "maybe" for "--summary"`, false},
		{"summary-file", []string{"--summary-file", filepath.Join(tmp, "summary.txt")}, "", false},
		{"summary-file", []string{"--summary-file", "/nonexistent/dir/x"}, "--summary-file /nonexistent/dir/x: no directory /nonexistent/dir; allowed: a file in a directory that exists", false},
		{"summary-file", []string{"--summary-file", tmp}, "--summary-file " + tmp + ": is a directory", false},
		{"fail-on-events", []string{"--fail-on-events"}, "", false},
		{"fail-on-events", []string{"--fail-on-events=maybe"}, `invalid argument "maybe" for "--fail-on-events"`, false},
		{"metrics-addr", []string{"--metrics-addr", "127.0.0.1:0"}, "", false},
		{"metrics-addr", []string{"--metrics-addr", "70000"}, "--metrics-addr: ", false},
		{"metrics-container-labels", []string{"--metrics-container-labels"}, "", false},
		{"metrics-container-labels", []string{"--metrics-container-labels=maybe"}, `invalid argument "maybe" for "--metrics-container-labels"`, false},
		{"metrics-max-series", []string{"--metrics-max-series", "10"}, "", false},
		{"metrics-max-series", []string{"--metrics-max-series", "0"}, "--metrics-max-series 0: out of range; allowed: 1 or more", false},
		{"metrics-max-series", []string{"--metrics-max-series", "-5"}, "--metrics-max-series -5: out of range", false},
		{"doctor-interval", []string{"--doctor-interval", "1s"}, "", false},
		{"doctor-interval", []string{"--doctor-interval", "5m"}, "", false},
		{"doctor-interval", []string{"--doctor-interval", "500ms"}, "--doctor-interval 500ms: too short; allowed: 1s or more", false},
		{"doctor-interval", []string{"--doctor-interval", "0"}, "--doctor-interval 0s: too short", false},
		{"doctor-interval", []string{"--doctor-interval", "soon"}, `invalid argument "soon" for "--doctor-interval"`, false},
		{"doctor-fix", []string{"--doctor-fix"}, "", false},
		{"doctor-fix", []string{"--doctor-fix=maybe"}, `invalid argument "maybe" for "--doctor-fix"`, false},
		{"otlp-endpoint", []string{"--otlp-endpoint", "127.0.0.1:4317"}, "", false},
		{"otlp-endpoint", []string{"--otlp-endpoint", "https://collector.example/v1/logs"}, "", false},
		{"otlp-endpoint", []string{"--otlp-endpoint", "127.0.0.1:99999"}, "--otlp-endpoint 127.0.0.1:99999: bad port; allowed: HOST:PORT or a URL", false},
		{"otlp-endpoint", []string{"--otlp-endpoint", "ftp://a:1"}, "--otlp-endpoint ftp://a:1: the scheme must be http or https", false},
		{"otlp-protocol", []string{"--otlp-endpoint", "a:1", "--otlp-protocol", "http/protobuf"}, "", false},
		{"otlp-protocol", []string{"--otlp-endpoint", "a:1", "--otlp-protocol", "udp"}, "--otlp-protocol udp: unknown protocol; allowed: grpc, http/protobuf", false},
		{"otlp-protocol", []string{"--otlp-protocol", "grpc"}, "--otlp-protocol, --otlp-insecure and --otlp-timeout need an endpoint", false},
		{"otlp-insecure", []string{"--otlp-endpoint", "a:1", "--otlp-insecure"}, "", false},
		{"otlp-insecure", []string{"--otlp-endpoint", "a:1", "--otlp-insecure=maybe"}, `invalid argument "maybe" for "--otlp-insecure"`, false},
		{"otlp-timeout", []string{"--otlp-endpoint", "a:1", "--otlp-timeout", "2s"}, "", false},
		{"otlp-timeout", []string{"--otlp-endpoint", "a:1", "--otlp-timeout=-2s"}, "--otlp-timeout -2s: negative", false},
		{"otlp-queue-size", []string{"--otlp-queue-size", "100"}, "", false},
		{"otlp-queue-size", []string{"--otlp-queue-size", "0"}, "--otlp-queue-size 0: out of range; allowed: 1 or more", false},
		{"dedup", []string{"--dedup"}, "", false},
		{"dedup", []string{"--dedup=maybe"}, `invalid argument "maybe" for "--dedup"`, false},
		{"dedup-window", []string{"--dedup-window", "1m"}, "", false},
		{"dedup-window", []string{"--dedup-window", "0s"}, "--dedup-window 0s: too short; allowed: a duration of 1ms or more", false},
		{"rate-limit", []string{"--rate-limit", "100/s"}, "", false},
		{"rate-limit", []string{"--rate-limit", "600/m"}, "", false},
		{"rate-limit", []string{"--rate-limit", "lots"}, "--rate-limit lots: not a positive number of events; allowed: N/s or N/m", false},
		{"rate-limit", []string{"--rate-limit", "5/h"}, `--rate-limit 5/h: unknown unit "h"`, false},
		{"k8s-events", []string{"--k8s-events"}, "", false},
		{"k8s-events", []string{"--k8s-events=maybe"}, `invalid argument "maybe" for "--k8s-events"`, false},
		{"kubeconfig", []string{"--k8s-events", "--kubeconfig", kubeconfig}, "", false},
		{"kubeconfig", []string{"--k8s-events", "--kubeconfig", "/nonexistent/kubeconfig"}, "--kubeconfig /nonexistent/kubeconfig: not a readable file; allowed: a kubeconfig file", false},
		{"kubeconfig", []string{"--kubeconfig", kubeconfig}, "--kubeconfig, --k8s-node-name, --k8s-events-rate, --k8s-events-pod-rate and --k8s-events-queue-size need --k8s-events", false},
		{"k8s-node-name", []string{"--k8s-events", "--k8s-node-name", "node-1"}, "", false},
		{"k8s-node-name", []string{"--k8s-node-name", "node-1"}, "need --k8s-events; allowed: with --k8s-events", false},
		{"k8s-events-rate", []string{"--k8s-events", "--k8s-events-rate", "10/s"}, "", false},
		{"k8s-events-rate", []string{"--k8s-events", "--k8s-events-rate", "0.5/s"}, "--k8s-events-rate 0.5/s: not a whole number from 1 to 1000000; allowed: N/s or N/m", false},
		{"k8s-events-rate", []string{"--k8s-events", "--k8s-events-rate", "5/h"}, `--k8s-events-rate 5/h: unknown unit "h"`, false},
		{"k8s-events-pod-rate", []string{"--k8s-events", "--k8s-events-pod-rate", "2/m"}, "", false},
		{"k8s-events-pod-rate", []string{"--k8s-events", "--k8s-events-pod-rate", "many"}, "--k8s-events-pod-rate many: not a positive number of events", false},
		{"k8s-events-queue-size", []string{"--k8s-events", "--k8s-events-queue-size", "10"}, "", false},
		{"k8s-events-queue-size", []string{"--k8s-events", "--k8s-events-queue-size", "0"}, "--k8s-events-queue-size 0: out of range; allowed: 1 or more", false},
	}
}

// noBadValue lists the flags that take any value, and why.
var noBadValue = map[string]string{
	// containerd may start after ctrace: a socket that is not there yet
	// is watched for (correlate.Open), with one warning.
	"containerd-address": "any path is watched for",
	// --host-root is the root command's; hostroot's tests and
	// TestRunBadFlags' root-only case drive it.
	"host-root": "validated by package hostroot",
}

// TestEveryRunFlagIsDriven fails when a flag of ctrace run has no good or
// no bad value in flagCases.
func TestEveryRunFlagIsDriven(t *testing.T) {
	good, bad := map[string]bool{}, map[string]bool{}
	for _, c := range flagCases(t) {
		if c.want == "" {
			good[c.flag] = true
		} else {
			bad[c.flag] = true
		}
	}
	newRunCommand().Flags().VisitAll(func(fl *pflag.Flag) {
		if !good[fl.Name] {
			t.Errorf("--%s: no good value in flagCases", fl.Name)
		}
		if !bad[fl.Name] && noBadValue[fl.Name] == "" {
			t.Errorf("--%s: no bad value in flagCases", fl.Name)
		}
	})
}

// TestRunFlagValues checks each value as run does before it loads
// anything: parsed by run's flag set, then checkEmpty, check, checkPIDs.
func TestRunFlagValues(t *testing.T) {
	for _, c := range flagCases(t) {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			var f runFlags
			fs := pflag.NewFlagSet("run", pflag.ContinueOnError)
			fs.SetOutput(discard{})
			f.register(fs)
			err := fs.Parse(c.args)
			if err == nil {
				err = checkEmpty(fs)
			}
			if err == nil {
				_, _, err = f.check(false)
			}
			if err == nil {
				err = checkPIDs(f.pids, "")
			}
			if c.want == "" {
				if err != nil {
					t.Errorf("rejected a good value: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted a bad value; want %q", c.want)
			}
			var ee *exitError
			if perr := fs.Parse(c.args); perr == nil && (!errors.As(err, &ee) || ee.code != 2) {
				t.Errorf("%v: not a usage error (exit status 2)", err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not say %q", err, c.want)
			}
		})
	}
}

// TestRunBadFlags runs the binary with each bad value: exit status 2, a
// message naming the flag, nothing on stdout, and nothing loaded.
func TestRunBadFlags(t *testing.T) {
	cases := flagCases(t)
	cases = append(cases,
		flagCase{"host-root", []string{"--host-root", "/nonexistent"}, "/nonexistent", true},
		flagCase{"", []string{"bogus"}, `unknown command "bogus"`, false},
		flagCase{"", []string{"check", "-o", "xml"}, `-o/--output: unknown output format "xml"; valid: text, json`, false},
		flagCase{"", []string{"check", "--nosuchflag"}, "unknown flag: --nosuchflag", false},
	)
	for _, c := range cases {
		if c.want == "" {
			continue
		}
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			if c.late {
				testenv.RequireRoot(t, "reaching the checks after the privilege check")
			}
			t.Parallel()
			args := append([]string{"run"}, c.args...)
			if c.flag == "" {
				args = c.args
			}
			p, code := runCtrace(t, nil, args...)
			if code != 2 {
				t.Errorf("exit status %d, want 2; stderr:\n%s", code, p.stderr)
			}
			if !strings.Contains(p.stderr.String(), c.want) {
				t.Errorf("stderr does not say %q:\n%s", c.want, p.stderr)
			}
			if strings.Contains(p.stderr.String(), "ready: tracing") || p.stdout.String() != "" {
				t.Errorf("traced before rejecting the flag; stdout %q, stderr:\n%s", p.stdout, p.stderr)
			}
		})
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// A --container value too short for an id prefix is a name, legitimately
// ("db"), so it is taken with a warning rather than refused.
func TestShortContainerValues(t *testing.T) {
	got := shortContainerValues([]string{"db", "abc", "0123456789ab", "x"})
	if len(got) != 2 || !strings.HasPrefix(got[0], "--container db: shorter than an id prefix") || !strings.HasPrefix(got[1], "--container x:") {
		t.Errorf("warnings %q", got)
	}
}

// TestSyscallsHelpNamesFamilies: -e's help lists every family -e takes.
func TestSyscallsHelpNamesFamilies(t *testing.T) {
	fl := pflag.NewFlagSet("run", pflag.ContinueOnError)
	var f runFlags
	f.register(fl)
	usage := fl.Lookup("syscalls").Usage
	for _, fam := range tracer.Families() {
		if !strings.Contains(usage, "%"+string(fam)) {
			t.Errorf("-e's help does not name %%%s: %q", fam, usage)
		}
	}
}
