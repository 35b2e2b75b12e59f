// Command vm runs ctrace's test suite on several kernels: it fetches
// Debian's cloud kernels with apt (private sources and lists, cached),
// builds an initramfs with busybox, ctrace and the compiled test
// binaries, boots each kernel under qemu with software emulation, and
// reports per kernel what passed and what failed. Each kernel's
// `ctrace check -o json` is kept, and the README's feature-by-kernel
// table is generated from them.
//
//	go run ./test/vm                 every kernel
//	go run ./test/vm -kernels 6.1    one
//	go run ./test/vm -kernels 6.1-arm64   an arm64 one (qemu-system-aarch64)
//
// It exits non-zero when any kernel fails.
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"
)

func main() {
	home, _ := os.UserHomeDir()
	defCache := os.Getenv("CTRACE_VM_CACHE")
	if defCache == "" {
		defCache = filepath.Join(home, ".cache", "ctrace-vmtest")
	}
	var (
		list        = flag.String("kernels", os.Getenv("KERNEL"), "kernels to boot, comma-separated (5.10,6.1,6.12,6.1-arm64); empty for all")
		cache       = flag.String("cache", defCache, "cache directory for packages, kernels, builds and logs ($CTRACE_VM_CACHE)")
		timeout     = flag.Duration("timeout", 30*time.Minute, "time limit of one kernel's boot, tests included")
		testTimeout = flag.String("test-timeout", "25m", "-test.timeout of each test binary in the guest")
		run         = flag.String("run", "", "-test.run of the test binaries, to run only some tests")
		bench       = flag.String("bench", "", "-test.bench of the test binaries (with -run ^$ unless -run is given): benchmarks whose results are ratios within the run, as TCG's timings are")
		stall       = flag.Duration("stall", 6*time.Minute, "stop a guest that printed nothing for this long (a quarter of it after a kernel lockup report)")
		parallel    = flag.Int("parallel", 1, "kernels booted at once")
		cpu         = flag.String("cpu", "", "qemu's -cpu model for every kernel (default: max, or the kernel's own)")
		threads     = flag.String("tcg-thread", "single", "TCG's thread mode: single (one host thread for all virtual CPUs) or multi; multi crashed the 6.12 guest (double fault in cmpxchg16b) with qemu 7.2")
		icount      = flag.String("icount", "", "qemu's -icount for every guest, e.g. shift=0,sleep=off: the guest's clock then counts instructions (1 ns each at shift=0), so that benchmarks measure instructions run whatever the host's load (with -cpus 1: the 5.10 and 6.1 guests never bring up a second CPU under it); empty for the host's clock")
		cpus        = flag.Int("cpus", 2, "virtual CPUs of each guest")
		memory      = flag.String("memory", "1536", "memory of each guest, in MiB")
		checks      = flag.String("checks", "test/vm/checks", "where each kernel's `ctrace check -o json` is kept")
		update      = flag.Bool("update-docs", true, "regenerate the README's and docs/kernels.md's tables from the checks")
		host        = flag.Bool("host", true, "also record the host kernel's `ctrace check -o json` (needs root)")
		src         = flag.String("src", "", "build ctrace and its tests from this checkout instead of this one")
		ctraceBin   = flag.String("ctrace", "", "boot this ctrace binary instead of building one; {goarch} stands for the kernel's architecture (make vmtest passes the release build, bin/ctrace-linux-{goarch})")
	)
	flag.Parse()
	if *bench != "" && *run == "" {
		*run = "^$" // the benchmarks alone
	}
	ks, unknown := selectKernels(*list)
	if len(unknown) > 0 {
		fmt.Fprintf(os.Stderr, "unknown kernel %s; known: %s\n", strings.Join(unknown, ","), kernelNames())
		os.Exit(2)
	}
	repo, err := repoRoot()
	if err != nil {
		fatal(err)
	}
	if err := os.Chdir(repo); err != nil {
		fatal(err)
	}
	for _, k := range ks {
		m := machines[k.arch()]
		if _, err := exec.LookPath(m.Qemu); err != nil {
			fatal(fmt.Errorf("%s not found: apt-get install %s", m.Qemu, m.Package))
		}
	}

	t0 := time.Now()
	a := apt{dir: filepath.Join(*cache, "apt")}
	// The lists of every kernel of the matrix, whichever are booted: a
	// change of selection does not fetch them again.
	suites := map[string][]string{}
	for _, k := range kernels {
		if !slices.Contains(suites[k.Suite], k.arch()) {
			suites[k.Suite] = append(suites[k.Suite], k.arch())
		}
	}
	if err := a.setup(suites); err != nil {
		fatal(err)
	}
	if err := a.update(); err != nil {
		fatal(err)
	}
	tools, err := hostToolFiles()
	if err != nil {
		fatal(err)
	}
	fks := make([]*fetchedKernel, len(ks))
	extras := make([]map[string]string, len(ks))
	busyboxes := make([]string, len(ks))
	for i, k := range ks {
		if fks[i], err = fetchKernel(a, *cache, k); err != nil {
			fatal(fmt.Errorf("kernel %s: %w", k.Name, err))
		}
		var progs []guestProgram
		if slices.Contains(k.Scenarios, "apparmor-mount") {
			progs = append(progs, apparmorParser)
		}
		if k.goarch() == runtime.GOARCH {
			extras[i] = maps.Clone(tools)
		} else {
			// The host's tools do not run there: Debian's of that
			// architecture.
			if busyboxes[i], err = fetchBusybox(a, *cache, k.Suite, k.arch()); err != nil {
				fatal(fmt.Errorf("kernel %s: %w", k.Name, err))
			}
			if extras[i], err = fetchUserland(a, *cache, promtoolSuite, k.arch(), []guestProgram{promtoolProg}); err != nil {
				fatal(fmt.Errorf("kernel %s: %w", k.Name, err))
			}
		}
		if len(progs) > 0 && len(extras[i]) > 0 && k.goarch() != runtime.GOARCH && k.Suite != promtoolSuite {
			// Both would bring their own C library to the same place.
			fatal(fmt.Errorf("kernel %s: apparmor_parser from %s and promtool from %s need two C libraries", k.Name, k.Suite, promtoolSuite))
		}
		files, err := fetchUserland(a, *cache, k.Suite, k.arch(), progs)
		if err != nil {
			fatal(fmt.Errorf("kernel %s: %w", k.Name, err))
		}
		maps.Copy(extras[i], files)
	}
	from := repo
	if *src != "" {
		from = *src
	}
	builds := map[string]*build{}
	for _, k := range ks {
		ga := k.goarch()
		if builds[ga] != nil {
			continue
		}
		bin := ""
		if *ctraceBin != "" {
			bin = strings.ReplaceAll(*ctraceBin, "{goarch}", ga)
		}
		if builds[ga], err = buildAll(from, filepath.Join(*cache, "build", ga), ga, bin); err != nil {
			fatal(err)
		}
	}
	fmt.Printf("vmtest: kernels fetched and binaries built in %s\n", time.Since(t0).Round(time.Second))
	// What the guests run, comparable with a release's SHA256SUMS.
	for _, ga := range sortedKeys(builds) {
		sum, err := fileSHA256(builds[ga].Ctrace)
		if err != nil {
			fatal(err)
		}
		fmt.Printf("vmtest: linux/%s guests run %s (sha256 %s)\n", ga, builds[ga].Ctrace, sum)
	}

	if b := builds[runtime.GOARCH]; *host && b != nil {
		if err := hostCheck(b.Ctrace, *checks); err != nil {
			fmt.Fprintf(os.Stderr, "vmtest: host check: %v\n", err)
		}
	}

	outcomes := make([]*outcome, len(ks))
	sem := make(chan struct{}, max(*parallel, 1))
	var wg sync.WaitGroup
	for _, i := range launchOrder(ks) {
		k := ks[i]
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			dir := filepath.Join(*cache, "run", k.Name)
			m := machines[k.arch()]
			outcomes[i] = runKernel(k, fks[i], builds[k.goarch()], runOptions{
				Dir: dir, Timeout: *timeout, Stall: *stall, CPU: *cpu, Threads: *threads, Icount: *icount, CPUs: *cpus, Memory: *memory,
				Guest: guestOptions{TestTimeout: *testTimeout, TestRun: *run, TestBench: *bench, Skip: k.Skip, Scenarios: k.Scenarios,
					Extra: extras[i], Modules: []string{"fs/overlayfs/overlay"},
					Busybox: busyboxes[i], BootModules: m.BootModules, Output: m.Output},
			})
			fmt.Println(outcomes[i].summary())
		}()
	}
	wg.Wait()

	failed := 0
	for _, o := range outcomes {
		if o.Check != nil {
			if err := os.MkdirAll(*checks, 0o755); err == nil {
				os.WriteFile(filepath.Join(*checks, o.Kernel.Name+".json"), append(o.CheckJSON, '\n'), 0o644)
			}
		}
		if !o.ok() {
			failed++
		}
	}
	if *update {
		if err := updateDocs(*checks); err != nil {
			fmt.Fprintf(os.Stderr, "vmtest: tables: %v\n", err)
		}
	}
	fmt.Println()
	for _, o := range outcomes {
		if !o.ok() {
			o.printFailure(os.Stdout)
		}
	}
	fmt.Println("vmtest: summary")
	for _, o := range outcomes {
		fmt.Println("  " + o.summary())
	}
	fmt.Printf("vmtest: %d of %d kernels failed; %s in all; logs in %s\n", failed, len(outcomes),
		time.Since(t0).Round(time.Second), filepath.Join(*cache, "run"))
	if failed > 0 {
		os.Exit(1)
	}
}

// launchOrder gives the order in which the kernels boot: the emulated
// architectures first, whose guests run slowest, so that with -parallel
// the others run beside them rather than after them.
func launchOrder(ks []kernel) []int {
	var order []int
	for _, native := range []bool{false, true} {
		for i, k := range ks {
			if (k.goarch() == runtime.GOARCH) == native {
				order = append(order, i)
			}
		}
	}
	return order
}

func kernelNames() string {
	var n []string
	for _, k := range kernels {
		n = append(n, k.Name)
	}
	return strings.Join(n, ",")
}

func repoRoot() (string, error) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}").Output()
	if err != nil {
		return "", fmt.Errorf("find the module root: %v", err)
	}
	return strings.TrimSpace(string(out)), nil
}

// hostCheck records the running kernel's `ctrace check -o json`.
func hostCheck(ctrace, dir string) error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("not root: the host column is not refreshed")
	}
	out, err := exec.Command(ctrace, "check", "-o", "json").Output()
	if len(out) == 0 {
		return fmt.Errorf("ctrace check: %v", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "host.json"), out, 0o644)
}

func fileSHA256(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "vmtest:", err)
	os.Exit(1)
}
