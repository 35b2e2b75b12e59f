package ctrdtest

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// ImageRef is the name of the busybox image ImportImage imports.
const ImageRef = "ctrace.test/busybox:latest"

// ImportImage imports an image of the busybox rootfs into namespace ns,
// as `ctr image import` of an OCI image layout: one layer of the rootfs
// (owned by root, as an image from a registry would be), no registry. It
// returns the image's name, ImageRef.
func (d *Daemon) ImportImage(ctx context.Context, ns string) (string, error) {
	return ImageRef, d.ImportImageAs(ctx, ns, ImageRef, []string{"/bin/sh"})
}

// ImportImageAs imports the busybox rootfs as an image named ref whose
// command is cmd (a Kubernetes node's sandbox image is one such).
func (d *Daemon) ImportImageAs(ctx context.Context, ns, ref string, cmd []string) error {
	return d.ImportImageWithout(ctx, ns, ref, cmd)
}

// ImportImageWithout imports the busybox rootfs as ImportImageAs does,
// leaving out the top-level directories omit: an image without /run, as
// many minimal images are, makes runc create the mount point of the
// spec's /run tmpfs itself.
func (d *Daemon) ImportImageWithout(ctx context.Context, ns, ref string, cmd []string, omit ...string) error {
	return d.ImportTreeAs(ctx, ns, ref, d.Rootfs, cmd, omit...)
}

// ImportTreeAs imports the tree at dir (a rootfs BuildRootfs made, with
// a test's files added) as a one-layer image named ref whose command is
// cmd, leaving out the top-level directories omit.
func (d *Daemon) ImportTreeAs(ctx context.Context, ns, ref, dir string, cmd []string, omit ...string) error {
	layerTar, err := tarTree(dir, omit...)
	if err != nil {
		return fmt.Errorf("layer of %s: %w", dir, err)
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return err
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	if img, err = mutate.AppendLayers(img, layer); err != nil {
		return err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", runtime.GOARCH
	cf.Config.Cmd = cmd
	cf.Config.Env = []string{"PATH=/bin"}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(d.Dir, "image-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	p, err := layout.Write(filepath.Join(tmp, "layout"), empty.Index)
	if err != nil {
		return err
	}
	err = p.AppendImage(img, layout.WithPlatform(v1.Platform{OS: "linux", Architecture: runtime.GOARCH}),
		layout.WithAnnotations(map[string]string{
			"io.containerd.image.name":          ref,
			"org.opencontainers.image.ref.name": ref,
		}))
	if err != nil {
		return err
	}
	archive, err := tarTree(filepath.Join(tmp, "layout"))
	if err != nil {
		return err
	}
	file := filepath.Join(tmp, "image.tar")
	if err := os.WriteFile(file, archive, 0o600); err != nil {
		return err
	}
	out, err := exec.CommandContext(ctx, "ctr", "--address", d.Address, "--namespace", ns, "image", "import", file).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ctr image import: %w: %s", err, out)
	}
	return nil
}

// tarTree is a tar of the tree at dir, its files owned by root, without
// the top-level entries omit.
func tarTree(dir string, omit ...string) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		if filepath.Dir(p) == dir && slices.Contains(omit, e.Name()) {
			if e.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		fi, err := e.Info()
		if err != nil {
			return err
		}
		link := ""
		if fi.Mode()&fs.ModeSymlink != 0 {
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		}
		h, err := tar.FileInfoHeader(fi, link)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		h.Name = filepath.ToSlash(rel)
		if fi.IsDir() {
			h.Name += "/"
		}
		h.Uid, h.Gid, h.Uname, h.Gname = 0, 0, "", ""
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if fi.Mode().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			_, err = tw.Write(b)
			return err
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
