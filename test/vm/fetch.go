package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// The kernels come from Debian's archive through apt, with a private
// sources list, lists directory and package cache under the cache
// directory: the system's apt configuration is never read for sources
// nor written.
const mirror = "http://deb.debian.org/debian"

// flavour is the Debian kernel flavour of an architecture: cloud, small,
// with BTF, BPF LSM, AppArmor and kprobes built in.
func flavour(arch string) string { return "cloud-" + arch }

// archs are the Debian architectures whose package lists the private apt
// state knows. Foreign ones (arm64) are known to this apt state alone:
// the host's dpkg never learns of them (no dpkg --add-architecture).
var archs = []string{"amd64", "arm64"}

type apt struct {
	dir string // cache dir/apt
}

func (a apt) opts() []string {
	o := []string{
		"-o", "Dir::Etc::SourceList=" + filepath.Join(a.dir, "sources.list"),
		"-o", "Dir::Etc::SourceParts=" + filepath.Join(a.dir, "sources.list.d"),
		"-o", "Dir::Etc::Preferences=" + filepath.Join(a.dir, "preferences"),
		"-o", "Dir::Etc::PreferencesParts=" + filepath.Join(a.dir, "preferences.d"),
		"-o", "Dir::State::Lists=" + filepath.Join(a.dir, "lists"),
		"-o", "Dir::State::status=/dev/null",
		"-o", "Dir::Cache=" + filepath.Join(a.dir, "cache"),
		"-o", "APT::Sandbox::User=root",
		"-q",
	}
	for _, ar := range archs {
		o = append(o, "-o", "APT::Architectures::="+ar)
	}
	return o
}

// setup writes the private sources list: the suites, each with the lists
// of the architectures its kernels need (suite -> architectures).
func (a apt) setup(suites map[string][]string) error {
	for _, d := range []string{"sources.list.d", "preferences.d", "lists/partial", "cache/archives/partial"} {
		if err := os.MkdirAll(filepath.Join(a.dir, d), 0o755); err != nil {
			return err
		}
	}
	var b strings.Builder
	for _, s := range sortedKeys(suites) {
		fmt.Fprintf(&b, "deb [arch=%s signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] %s %s main\n",
			strings.Join(suites[s], ","), mirror, s)
	}
	p := filepath.Join(a.dir, "sources.list")
	if old, err := os.ReadFile(p); err == nil && string(old) == b.String() {
		return nil
	}
	// New suites: the lists must be fetched again.
	os.Remove(filepath.Join(a.dir, "updated"))
	return os.WriteFile(p, []byte(b.String()), 0o644)
}

// update refreshes the package lists when they are missing or older
// than a day.
func (a apt) update() error {
	stamp := filepath.Join(a.dir, "updated")
	if st, err := os.Stat(stamp); err == nil && time.Since(st.ModTime()) < 24*time.Hour {
		return nil
	}
	cmd := exec.Command("apt-get", append(a.opts(), "update")...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("apt-get update (private lists in %s): %v\n%s", a.dir, err, out)
	}
	return os.WriteFile(stamp, nil, 0o644)
}

// imagePackage finds the versioned kernel image package that the
// flavour's meta package depends on in the version for k: e.g.
// linux-image-5.10.0-32-cloud-amd64 (= 5.10.223-1).
func (a apt) imagePackage(k kernel) (name, version string, err error) {
	meta := "linux-image-" + flavour(k.arch())
	out, err := exec.Command("apt-cache", append(a.opts(), "show", meta+":"+k.arch())...).Output()
	if err != nil {
		return "", "", fmt.Errorf("apt-cache show %s: %v", meta, err)
	}
	for _, stanza := range bytes.Split(out, []byte("\n\n")) {
		fields := map[string]string{}
		sc := bufio.NewScanner(bytes.NewReader(stanza))
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ": "); ok {
				fields[k] = v
			}
		}
		if !strings.HasPrefix(fields["Version"], k.version()+".") {
			continue
		}
		dep := strings.TrimSpace(strings.Split(fields["Depends"], ",")[0])
		n, v, ok := strings.Cut(dep, " (= ")
		if !ok {
			return "", "", fmt.Errorf("%s %s: unexpected Depends %q", meta, fields["Version"], fields["Depends"])
		}
		return n, strings.TrimSuffix(v, ")"), nil
	}
	return "", "", fmt.Errorf("no %s %s.x in the %s lists", meta, k.version(), k.Suite)
}

// download fetches a package's .deb of an architecture into dir, unless
// it is there.
func (a apt) download(dir, name, version, arch string) (string, error) {
	if m, _ := filepath.Glob(filepath.Join(dir, name+"_*.deb")); len(m) > 0 {
		for _, p := range m {
			if strings.Contains(filepath.Base(p), "_"+strings.ReplaceAll(version, ":", "%3a")+"_") {
				return p, nil
			}
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	cmd := exec.Command("apt-get", append(a.opts(), "download", name+":"+arch+"="+version)...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("apt-get download %s=%s: %v\n%s", name, version, err, out)
	}
	m, _ := filepath.Glob(filepath.Join(dir, name+"_*.deb"))
	if len(m) == 0 {
		return "", fmt.Errorf("apt-get download %s left no .deb in %s", name, dir)
	}
	return m[0], nil
}

// fetchedKernel is an unpacked kernel package.
type fetchedKernel struct {
	Release string // uname -r, e.g. 5.10.0-32-cloud-amd64
	Version string // the Debian package version
	Vmlinuz string
	Modules string // the lib/modules/RELEASE directory
}

// fetchKernel downloads (once) and unpacks (once) the kernel for k.
func fetchKernel(a apt, cache string, k kernel) (*fetchedKernel, error) {
	name, version, err := a.imagePackage(k)
	if err != nil {
		return nil, err
	}
	deb, err := a.download(filepath.Join(cache, "debs"), name, version, k.arch())
	if err != nil {
		return nil, err
	}
	release := strings.TrimPrefix(name, "linux-image-")
	root := filepath.Join(cache, "kernels", release+"_"+version)
	if _, err := os.Stat(filepath.Join(root, ".unpacked")); err != nil {
		os.RemoveAll(root)
		if err := os.MkdirAll(root, 0o755); err != nil {
			return nil, err
		}
		if out, err := exec.Command("dpkg-deb", "-x", deb, root).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("unpack %s: %v\n%s", deb, err, out)
		}
		if err := os.WriteFile(filepath.Join(root, ".unpacked"), nil, 0o644); err != nil {
			return nil, err
		}
	}
	fk := &fetchedKernel{Release: release, Version: version, Vmlinuz: filepath.Join(root, "boot", "vmlinuz-"+release)}
	// Merged /usr (trixie) keeps the modules under usr/lib.
	for _, d := range []string{"lib/modules", "usr/lib/modules"} {
		if p := filepath.Join(root, d, release); isDir(p) {
			fk.Modules = p
		}
	}
	if fk.Modules == "" {
		return nil, fmt.Errorf("%s: no modules directory for %s", deb, release)
	}
	return fk, nil
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

// guestProgram is a dynamically linked program of a Debian package that
// a guest needs: apparmor_parser for the AppArmor scenario, and, where
// the host's cannot run (another architecture), promtool for the metrics
// test. It goes to the guest with the C library of its own suite.
type guestProgram struct {
	Pkg   string
	Guest string   // the path in the guest
	In    []string // where the package has it
}

// promtoolSuite ships promtool in its prometheus package; trixie's has
// none. It links the C library alone.
const promtoolSuite = "bookworm"

var (
	apparmorParser = guestProgram{Pkg: "apparmor", Guest: "/sbin/apparmor_parser", In: []string{"sbin/apparmor_parser", "usr/sbin/apparmor_parser"}}
	promtoolProg   = guestProgram{Pkg: "prometheus", Guest: "/usr/bin/promtool", In: []string{"usr/bin/promtool"}}
)

// libcFiles are the C library and dynamic loader of an architecture:
// guest path -> the paths in the libc6 package, before and after merged
// /usr.
var libcFiles = map[string]map[string][]string{
	"amd64": {
		"/lib/x86_64-linux-gnu/libc.so.6": {"lib/x86_64-linux-gnu/libc.so.6", "usr/lib/x86_64-linux-gnu/libc.so.6"},
		"/lib64/ld-linux-x86-64.so.2":     {"lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", "usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"},
	},
	"arm64": {
		"/lib/aarch64-linux-gnu/libc.so.6": {"lib/aarch64-linux-gnu/libc.so.6", "usr/lib/aarch64-linux-gnu/libc.so.6"},
		"/lib/ld-linux-aarch64.so.1":       {"lib/aarch64-linux-gnu/ld-linux-aarch64.so.1", "usr/lib/aarch64-linux-gnu/ld-linux-aarch64.so.1"},
	},
}

// fetchUserland downloads (once) and unpacks (once) the Debian packages
// of a suite and architecture that hold progs, with libc6, and returns
// the files to add: guest path -> host path.
func fetchUserland(a apt, cache, suite, arch string, progs []guestProgram) (map[string]string, error) {
	if len(progs) == 0 {
		return nil, nil
	}
	roots := map[string]string{}
	pkgs := []string{"libc6"}
	for _, p := range progs {
		pkgs = append(pkgs, p.Pkg)
	}
	for _, pkg := range pkgs {
		dir := filepath.Join(cache, "debs", suite)
		pattern := filepath.Join(dir, pkg+"_*_"+arch+".deb")
		m, _ := filepath.Glob(pattern)
		if len(m) == 0 {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return nil, err
			}
			cmd := exec.Command("apt-get", append(a.opts(), "download", pkg+":"+arch+"/"+suite)...)
			cmd.Dir = dir
			if out, err := cmd.CombinedOutput(); err != nil {
				return nil, fmt.Errorf("apt-get download %s:%s/%s: %v\n%s", pkg, arch, suite, err, out)
			}
			if m, _ = filepath.Glob(pattern); len(m) == 0 {
				return nil, fmt.Errorf("apt-get download %s:%s/%s left no .deb", pkg, arch, suite)
			}
		}
		root := filepath.Join(cache, "userland", strings.TrimSuffix(filepath.Base(m[0]), ".deb"))
		if _, err := os.Stat(filepath.Join(root, ".unpacked")); err != nil {
			os.RemoveAll(root)
			if err := os.MkdirAll(root, 0o755); err != nil {
				return nil, err
			}
			if out, err := exec.Command("dpkg-deb", "-x", m[0], root).CombinedOutput(); err != nil {
				return nil, fmt.Errorf("unpack %s: %v\n%s", m[0], err, out)
			}
			if err := os.WriteFile(filepath.Join(root, ".unpacked"), nil, 0o644); err != nil {
				return nil, err
			}
		}
		roots[pkg] = root
	}
	find := func(root string, rels []string) string {
		for _, r := range rels {
			if st, err := os.Stat(filepath.Join(root, r)); err == nil && st.Mode().IsRegular() {
				return filepath.Join(root, r)
			}
		}
		return ""
	}
	files := map[string]string{}
	for g, in := range libcFiles[arch] {
		files[g] = find(roots["libc6"], in)
	}
	for _, p := range progs {
		files[p.Guest] = find(roots[p.Pkg], p.In)
	}
	for g, h := range files {
		if h == "" {
			return nil, fmt.Errorf("%s not found in the %s %s packages", g, suite, arch)
		}
	}
	return files, nil
}

// fetchBusybox downloads (once) busybox-static of a suite and
// architecture and returns its binary, for a guest whose architecture is
// not the host's.
func fetchBusybox(a apt, cache, suite, arch string) (string, error) {
	files, err := fetchUserland(a, cache, suite, arch, []guestProgram{{Pkg: "busybox-static", Guest: "/bin/busybox", In: []string{"bin/busybox", "usr/bin/busybox"}}})
	if err != nil {
		return "", err
	}
	return files["/bin/busybox"], nil
}
