package main

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// packages are the test binaries run in every guest, fastest first.
var packages = []string{"internal/benign", "internal/audit", "internal/check", "internal/pipeline", "tracer", "cmd/ctrace"}

// packageRuns narrows, as -test.run, the tests of a package of which only
// some depend on the kernel: the pipeline's ns_limit tests make namespace
// creations fail for real (limits, nesting depth, the node policy the
// Debian kernels carry); its other stages are tested on the host. -run
// replaces it.
var packageRuns = map[string]string{"internal/pipeline": "^(TestNSLimitReal|TestNSPolicyReal)$"}

//go:embed init.sh
var initScript []byte

//go:embed goshim.sh
var goShim []byte

//go:embed scenarios/*.sh
var scenarios embed.FS

// prebuilt is a binary the host builds for a test that would build it
// with the Go toolchain in the guest.
type prebuilt struct {
	Verb    string // "build" or "test"
	Pkg     string // the package directory in the guest
	LDFlags string
	Path    string // the host-built binary
}

// build holds the host-built binaries that go into the guests of one
// architecture.
type build struct {
	Src      string // the checkout the binaries were built from
	GOARCH   string
	Ctrace   string
	Tests    map[string]string // package -> test binary
	Prebuilt []prebuilt
}

// buildAll compiles, for goarch, the static ctrace binary (unless ctrace
// names one already built, as `make vmtest` passes the release build)
// and the test binaries.
func buildAll(repo, dir, goarch, ctrace string) (*build, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	b := &build{Src: repo, GOARCH: goarch, Ctrace: filepath.Join(dir, "ctrace"), Tests: map[string]string{}}
	gobuild := func(args ...string) error {
		cmd := exec.Command("go", args...)
		cmd.Dir = repo
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+goarch)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("GOARCH=%s go %s: %v\n%s", goarch, strings.Join(args, " "), err, out)
		}
		return nil
	}
	if ctrace != "" {
		b.Ctrace = ctrace
	} else if err := gobuild("build", "-trimpath", "-o", b.Ctrace, "./cmd/ctrace"); err != nil {
		return nil, err
	}
	for _, p := range packages {
		out := filepath.Join(dir, strings.ReplaceAll(p, "/", "_")+".test")
		if err := gobuild("test", "-c", "-o", out, "./"+p); err != nil {
			return nil, err
		}
		b.Tests[p] = out
	}
	// cmd/ctrace's tests build the binary they drive with the version
	// they stamp, and the audit test binary as a sandboxed child.
	ld, err := cliTestLDFlags(filepath.Join(repo, "cmd/ctrace/cli_test.go"))
	if err != nil {
		return nil, err
	}
	cli := filepath.Join(dir, "ctrace-clitest")
	if err := gobuild("build", "-o", cli, "-ldflags", ld, "./cmd/ctrace"); err != nil {
		return nil, err
	}
	b.Prebuilt = append(b.Prebuilt,
		prebuilt{Verb: "build", Pkg: "/ctrace/cmd/ctrace", LDFlags: ld, Path: cli},
		prebuilt{Verb: "test", Pkg: "/ctrace/internal/audit", Path: b.Tests["internal/audit"]})
	return b, nil
}

var stampRE = regexp.MustCompile(`(?m)^\s*(testVersion|testCommit)\s*=\s*"([^"]*)"`)

// cliTestLDFlags reads the version and commit that cmd/ctrace's tests
// stamp into the binary they build, and returns their -ldflags.
func cliTestLDFlags(file string) (string, error) {
	src, err := os.ReadFile(file)
	if err != nil {
		return "", err
	}
	v := map[string]string{}
	for _, m := range stampRE.FindAllSubmatch(src, -1) {
		v[string(m[1])] = string(m[2])
	}
	if v["testVersion"] == "" || v["testCommit"] == "" {
		return "", fmt.Errorf("%s: no testVersion/testCommit constants: the guest cannot prebuild the binary its tests build", file)
	}
	return "-X main.version=" + v["testVersion"] + " -X main.commit=" + v["testCommit"], nil
}

// guestOptions tune what the guest runs.
type guestOptions struct {
	TestTimeout string // -test.timeout of each test binary
	TestRun     string // -test.run, empty for all
	// TestBench is -test.bench, empty for none. The guest runs under
	// TCG: its timings are good for ratios measured in the same run only.
	TestBench string
	Skip      map[string]string // package -> -test.skip
	Scenarios []string
	Modules   []string
	Setup     []byte            // an optional setup script, run before the check
	Extra     map[string]string // guest path -> host file
	// Busybox is a static busybox of the guest's architecture, when the
	// host's does not run there; the guest links its applets itself.
	Busybox string
	// BootModules are loaded, in order, before the guest writes its
	// output: the drivers of its output port.
	BootModules []string
	// Output is the guest's output port: /dev/ttyS1 unless set.
	Output string
}

// writeInitramfs assembles the guest's userland.
func writeInitramfs(path string, b *build, k *fetchedKernel, o guestOptions) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	c := newCPIO(f)
	for _, d := range []string{"/proc", "/sys", "/dev", "/tmp", "/run", "/root", "/mnt", "/var/tmp", "/etc/ctrace-vm.d"} {
		c.mkdirAll(d)
	}
	c.charDev("/dev/console", 5, 1)
	c.charDev("/dev/ttyS1", 4, 65)
	c.file("/init", 0o755, initScript)
	if o.Busybox != "" {
		// It cannot run here to list its applets: /bin/sh is enough
		// for init.sh, which installs the others (busybox --install
		// makes no directories).
		for _, d := range []string{"/bin", "/sbin", "/usr/bin", "/usr/sbin"} {
			c.mkdirAll(d)
		}
		c.copyFile("/bin/busybox", o.Busybox, 0o755)
		c.symlink("/bin/sh", "/bin/busybox")
	} else {
		busybox, err := exec.LookPath("busybox")
		if err != nil {
			return fmt.Errorf("busybox not found: install busybox-static")
		}
		if out, err := exec.Command("file", "-L", busybox).Output(); err == nil && !bytes.Contains(out, []byte("static")) {
			return fmt.Errorf("%s is dynamically linked: install busybox-static", busybox)
		}
		c.copyFile("/bin/busybox", busybox, 0o755)
		applets, err := exec.Command(busybox, "--list-full").Output()
		if err != nil {
			return fmt.Errorf("busybox --list-full: %v", err)
		}
		for _, a := range strings.Fields(string(applets)) {
			if a != "bin/busybox" {
				c.symlink("/"+a, "/bin/busybox")
			}
		}
	}
	c.file("/etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"))
	c.file("/etc/group", 0o644, []byte("root:x:0:\nnogroup:x:65534:\n"))
	c.file("/etc/hostname", 0o644, []byte("ctrace-vm\n"))
	c.copyFile("/usr/bin/ctrace", b.Ctrace, 0o755)
	c.file("/usr/local/bin/go", 0o755, goShim)
	var pre strings.Builder
	for i, p := range b.Prebuilt {
		dst := fmt.Sprintf("/opt/prebuilt/%d", i)
		c.copyFile(dst, p.Path, 0o755)
		fmt.Fprintf(&pre, "%s|%s|%s\t%s\n", p.Verb, p.Pkg, p.LDFlags, dst)
	}
	c.file("/etc/ctrace-vm.d/prebuilt", 0o644, []byte(pre.String()))
	for _, p := range packages {
		c.copyFile("/ctrace/"+p+"/"+filepath.Base(p)+".test", b.Tests[p], 0o755)
	}
	// Tests read files of the checkout: the documentation they check,
	// their testdata.
	if err := addDataFiles(c, b.Src); err != nil {
		return err
	}
	var conf strings.Builder
	fmt.Fprintf(&conf, "PACKAGES=%q\nTEST_TIMEOUT=%q\nTEST_RUN=%q\nTEST_BENCH=%q\n", strings.Join(packages, " "), o.TestTimeout, o.TestRun, o.TestBench)
	fmt.Fprintf(&conf, "SCENARIOS=%q\n", strings.Join(o.Scenarios, " "))
	output := o.Output
	if output == "" {
		output = "/dev/ttyS1"
	}
	fmt.Fprintf(&conf, "OUTPUT=%q\n", output)
	var boot []string
	for i, m := range o.BootModules {
		data, err := moduleFile(k.Modules, m)
		if errors.Is(err, errBuiltin) {
			continue
		}
		if err != nil {
			return err
		}
		// Numbered: init.sh loads them in this order.
		name := fmt.Sprintf("/lib/modules/boot/%02d-%s.ko", i, filepath.Base(m))
		c.file(name, 0o644, data)
		boot = append(boot, name)
	}
	fmt.Fprintf(&conf, "BOOT_MODULES=%q\n", strings.Join(boot, " "))
	for _, sc := range o.Scenarios {
		data, err := scenarios.ReadFile("scenarios/" + sc + ".sh")
		if err != nil {
			return err
		}
		c.file("/ctrace/scenarios/"+sc+".sh", 0o755, data)
	}
	for _, p := range sortedKeys(packageRuns) {
		fmt.Fprintf(&conf, "RUN_%s='%s'\n", strings.ReplaceAll(p, "/", "_"), packageRuns[p])
	}
	for _, p := range sortedKeys(o.Skip) {
		fmt.Fprintf(&conf, "SKIP_%s='%s'\n", strings.ReplaceAll(p, "/", "_"), o.Skip[p])
	}
	c.file("/etc/ctrace-vm.conf", 0o644, []byte(conf.String()))
	if o.Setup != nil {
		c.file("/etc/ctrace-vm.d/setup.sh", 0o755, o.Setup)
	}
	for _, dst := range sortedKeys(o.Extra) {
		c.copyFile(dst, o.Extra[dst], 0o755)
	}
	for _, m := range o.Modules {
		data, err := moduleFile(k.Modules, m)
		if err != nil {
			return err
		}
		c.file("/lib/modules/"+filepath.Base(m)+".ko", 0o644, data)
	}
	if err := c.close(); err != nil {
		return err
	}
	return f.Close()
}

// errBuiltin: the module is built into the kernel.
var errBuiltin = errors.New("built in")

// moduleFile reads a kernel module (kernel/fs/overlayfs/overlay), xz
// compressed or not, uncompressed: busybox insmod takes plain .ko files.
func moduleFile(dir, m string) ([]byte, error) {
	if builtin, err := os.ReadFile(filepath.Join(dir, "modules.builtin")); err == nil &&
		slices.Contains(strings.Split(string(builtin), "\n"), "kernel/"+m+".ko") {
		return nil, fmt.Errorf("%s: %w", m, errBuiltin)
	}
	p := filepath.Join(dir, "kernel", m+".ko")
	if data, err := os.ReadFile(p); err == nil {
		return data, nil
	}
	for _, ext := range []string{".xz", ".zst"} {
		if _, err := os.Stat(p + ext); err != nil {
			continue
		}
		tool := map[string]string{".xz": "xz", ".zst": "zstd"}[ext]
		out, err := exec.Command(tool, "-dc", p+ext).Output()
		if err != nil {
			return nil, fmt.Errorf("%s -dc %s: %v", tool, p+ext, err)
		}
		return out, nil
	}
	return nil, fmt.Errorf("module %s not found in %s", m, dir)
}

// addDataFiles adds the checkout's docs/ and testdata/ directories under
// /ctrace, where the test binaries run.
func addDataFiles(c *cpioWriter, src string) error {
	return filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			if strings.HasPrefix(d.Name(), ".") && rel != "." {
				return filepath.SkipDir
			}
			return nil
		}
		parts := strings.Split(filepath.ToSlash(rel), "/")
		if parts[0] != "docs" && !slices.Contains(parts[:len(parts)-1], "testdata") {
			return nil
		}
		if info, err := d.Info(); err != nil || !info.Mode().IsRegular() || info.Size() > 8<<20 {
			return nil
		}
		c.copyFile("/ctrace/"+filepath.ToSlash(rel), p, 0o644)
		return nil
	})
}

// hostTools are programs of the host that tests run when present (they
// fail under CI=true without them); each goes to the guest with the
// shared libraries it links.
var hostTools = []string{"promtool"}

// hostToolFiles returns guest path -> host path for the host tools found.
func hostToolFiles() (map[string]string, error) {
	files := map[string]string{}
	for _, t := range hostTools {
		p, err := exec.LookPath(t)
		if err != nil {
			continue
		}
		files["/usr/bin/"+t] = p
		out, err := exec.Command("ldd", p).Output()
		if err != nil {
			// A static binary: ldd says so and fails.
			continue
		}
		for _, l := range strings.Split(string(out), "\n") {
			// "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)" or
			// "/lib64/ld-linux-x86-64.so.2 (0x...)"
			f := strings.Fields(l)
			for _, w := range f {
				if strings.HasPrefix(w, "/") {
					real, err := filepath.EvalSymlinks(w)
					if err != nil {
						return nil, fmt.Errorf("%s needs %s: %v", t, w, err)
					}
					files[w] = real
					break
				}
			}
		}
	}
	return files, nil
}
