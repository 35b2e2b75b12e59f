// Command image writes an OCI image of the static ctrace binary, FROM
// scratch, as an OCI image layout in a tar file: no Docker daemon, no base
// image, no registry. `ctr image import FILE` loads it into containerd.
//
//	go run ./build/image -binary bin/ctrace -arch amd64 -version v1.2.3 -o bin/ctrace-image.tar
//
// The image holds one file, /ctrace, and runs it as its entrypoint. The
// output is reproducible: every time stamp is -created (default: the
// SOURCE_DATE_EPOCH environment variable, else the Unix epoch).
package main

import (
	"archive/tar"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// DefaultName is the image's name when -name is not given.
const DefaultName = "ghcr.io/ctrace-dev/ctrace"

func main() {
	var o options
	flag.StringVar(&o.binary, "binary", "bin/ctrace", "the static ctrace binary")
	flag.StringVar(&o.arch, "arch", "amd64", "the binary's architecture: amd64 or arm64")
	flag.StringVar(&o.name, "name", DefaultName, "image name, without the tag")
	flag.StringVar(&o.version, "version", "dev", "image tag and version label")
	flag.StringVar(&o.commit, "commit", "", "source revision label")
	flag.StringVar(&o.out, "o", "bin/ctrace-image.tar", "output: a tar of an OCI image layout")
	flag.Parse()
	o.created = time.Unix(0, 0).UTC()
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			fatal(fmt.Errorf("SOURCE_DATE_EPOCH=%q: %v", s, err))
		}
		o.created = time.Unix(n, 0).UTC()
	}
	digest, err := build(&o)
	if err != nil {
		fatal(err)
	}
	fi, err := os.Stat(o.out)
	if err != nil {
		fatal(err)
	}
	fmt.Printf("%s: %s:%s (%s) %s, %d bytes\n", o.out, o.name, o.version, o.arch, digest, fi.Size())
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "image:", err)
	os.Exit(1)
}

type options struct {
	binary, arch, name, version, commit, out string
	created                                  time.Time
}

// build writes the image and returns its manifest digest.
func build(o *options) (v1.Hash, error) {
	if o.arch != "amd64" && o.arch != "arm64" {
		return v1.Hash{}, fmt.Errorf("unsupported -arch %q: amd64 or arm64", o.arch)
	}
	bin, err := os.ReadFile(o.binary)
	if err != nil {
		return v1.Hash{}, err
	}
	if len(bin) < 4 || string(bin[:4]) != "\x7fELF" {
		return v1.Hash{}, fmt.Errorf("%s is not an ELF binary", o.binary)
	}
	layerTar, err := fileTar("ctrace", bin, o.created)
	if err != nil {
		return v1.Hash{}, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return v1.Hash{}, err
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.Append(img, mutate.Addendum{
		Layer:     layer,
		MediaType: types.OCILayer,
		History:   v1.History{Created: v1.Time{Time: o.created}, CreatedBy: "ctrace build/image: COPY ctrace /ctrace", Comment: "the static ctrace binary"},
	})
	if err != nil {
		return v1.Hash{}, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return v1.Hash{}, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", o.arch
	cf.Created = v1.Time{Time: o.created}
	cf.Config.Entrypoint = []string{"/ctrace"}
	cf.Config.Cmd = []string{"run"}
	cf.Config.Env = []string{"PATH=/"}
	cf.Config.WorkingDir = "/"
	cf.Config.Labels = map[string]string{
		"org.opencontainers.image.title":    "ctrace",
		"org.opencontainers.image.version":  o.version,
		"org.opencontainers.image.revision": o.commit,
		"org.opencontainers.image.source":   "https://github.com/ctrace-dev/ctrace",
	}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return v1.Hash{}, err
	}
	img = mutate.Annotations(img, map[string]string{
		"org.opencontainers.image.created": o.created.Format(time.RFC3339),
		"org.opencontainers.image.version": o.version,
	}).(v1.Image)
	digest, err := img.Digest()
	if err != nil {
		return v1.Hash{}, err
	}

	dir, err := os.MkdirTemp("", "ctrace-image-")
	if err != nil {
		return v1.Hash{}, err
	}
	defer os.RemoveAll(dir)
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return v1.Hash{}, err
	}
	ref := o.name + ":" + o.version
	err = p.AppendImage(img,
		layout.WithPlatform(v1.Platform{OS: "linux", Architecture: o.arch}),
		layout.WithAnnotations(map[string]string{
			// containerd's import names the image after the first;
			// other OCI tools read the second.
			"io.containerd.image.name":          ref,
			"org.opencontainers.image.ref.name": ref,
		}))
	if err != nil {
		return v1.Hash{}, err
	}
	if err := os.MkdirAll(filepath.Dir(o.out), 0o755); err != nil {
		return v1.Hash{}, err
	}
	tmp := o.out + ".tmp"
	if err := tarDir(dir, tmp, o.created); err != nil {
		os.Remove(tmp)
		return v1.Hash{}, err
	}
	return digest, os.Rename(tmp, o.out)
}

// fileTar is a tar holding one executable file at the root.
func fileTar(name string, data []byte, mtime time.Time) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{
		Typeflag: tar.TypeReg, Name: name, Mode: 0o755, Size: int64(len(data)),
		ModTime: mtime, Format: tar.FormatPAX,
	}); err != nil {
		return nil, err
	}
	if _, err := tw.Write(data); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// tarDir writes the tree under dir to the tar file out, in name order,
// with every time stamp mtime.
func tarDir(dir, out string, mtime time.Time) error {
	var paths []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != dir {
			paths = append(paths, p)
		}
		return nil
	})
	if err != nil {
		return err
	}
	sort.Strings(paths)
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(f)
	for _, p := range paths {
		rel, _ := filepath.Rel(dir, p)
		fi, err := os.Lstat(p)
		if err != nil {
			f.Close()
			return err
		}
		h := &tar.Header{Name: filepath.ToSlash(rel), ModTime: mtime, Format: tar.FormatPAX}
		switch {
		case fi.IsDir():
			h.Typeflag, h.Name, h.Mode = tar.TypeDir, h.Name+"/", 0o755
		case fi.Mode().IsRegular():
			h.Typeflag, h.Mode, h.Size = tar.TypeReg, 0o644, fi.Size()
		default:
			f.Close()
			return errors.New("unexpected file in image layout: " + p)
		}
		if err := tw.WriteHeader(h); err != nil {
			f.Close()
			return err
		}
		if h.Typeflag == tar.TypeReg {
			b, err := os.ReadFile(p)
			if err != nil {
				f.Close()
				return err
			}
			if _, err := tw.Write(b); err != nil {
				f.Close()
				return err
			}
		}
	}
	if err := tw.Close(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
