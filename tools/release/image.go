package main

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Image layout, the same as the Dockerfile's.
const (
	BinaryPath  = "/usr/local/bin/trellis"
	CACertsPath = "/etc/ssl/certs/ca-certificates.crt"
	User        = "65532:65532"
)

// ImageOptions describes the image `make image` builds.
type ImageOptions struct {
	// Binaries maps a platform ("linux/amd64") to a static trellis binary.
	Binaries map[string]string
	// CACerts is a PEM bundle (the build machine's by default).
	CACerts string
	// Version, Revision, Created feed the OCI labels.
	Version, Revision string
	Created           time.Time
	// Ref names the image in the layout (org.opencontainers.image.ref.name).
	Ref string
}

// Labels are the image's OCI annotations-as-labels.
func (o ImageOptions) Labels() map[string]string {
	return map[string]string{
		"org.opencontainers.image.title":       "trellis",
		"org.opencontainers.image.description": "kro-compatible resource graphs for Kubernetes, with ACK-compatible AWS controllers",
		"org.opencontainers.image.source":      "https://github.com/trellis-dev/trellis",
		"org.opencontainers.image.version":     o.Version,
		"org.opencontainers.image.revision":    o.Revision,
		"org.opencontainers.image.created":     o.Created.UTC().Format(time.RFC3339),
	}
}

// BuildIndex builds the multi-platform image index.
func BuildIndex(o ImageOptions) (v1.ImageIndex, error) {
	certs, err := os.ReadFile(o.CACerts)
	if err != nil {
		return nil, fmt.Errorf("CA certificates: %w", err)
	}
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, platform := range sortedKeys(o.Binaries) {
		osName, arch, ok := strings.Cut(platform, "/")
		if !ok {
			return nil, fmt.Errorf("platform %q: want os/arch", platform)
		}
		bin, err := os.ReadFile(o.Binaries[platform])
		if err != nil {
			return nil, err
		}
		img, err := platformImage(o, osName, arch, bin, certs)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", platform, err)
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add:        img,
			Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: osName, Architecture: arch}},
		})
	}
	return idx, nil
}

func platformImage(o ImageOptions, osName, arch string, bin, certs []byte) (v1.Image, error) {
	rootfs, err := rootfsTar(bin, certs, o.Created)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(rootfs)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, err
	}
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err = mutate.Append(img, mutate.Addendum{Layer: layer, History: v1.History{
		Created: v1.Time{Time: o.Created}, CreatedBy: "make image (tools/release)", Comment: "trellis binary and CA certificates",
	}})
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = osName, arch
	cf.Created = v1.Time{Time: o.Created}
	cf.Config.Entrypoint = []string{BinaryPath, "controller"}
	cf.Config.Cmd = nil
	cf.Config.User = User
	cf.Config.WorkingDir = "/"
	cf.Config.Env = []string{"PATH=/usr/local/bin", "SSL_CERT_FILE=" + CACertsPath}
	cf.Config.Labels = o.Labels()
	cf.Config.ExposedPorts = map[string]struct{}{"8078/tcp": {}, "8079/tcp": {}}
	return mutate.ConfigFile(img, cf)
}

// rootfsTar is the image's only layer: the binary, the CA bundle, the
// nonroot user and a writable /tmp. No shell, nothing else.
func rootfsTar(bin, certs []byte, mtime time.Time) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dir := func(name string, mode int64) error {
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: mode, ModTime: mtime})
	}
	file := func(name string, mode int64, data []byte) error {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(data)), ModTime: mtime}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	steps := []error{
		dir("etc", 0o755),
		file("etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n")),
		file("etc/group", 0o644, []byte("root:x:0:\nnonroot:x:65532:\n")),
		dir("etc/ssl", 0o755),
		dir("etc/ssl/certs", 0o755),
		file(strings.TrimPrefix(CACertsPath, "/"), 0o644, certs),
		dir("tmp", 0o1777),
		dir("home", 0o755),
		tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: "home/nonroot/", Mode: 0o700, Uid: 65532, Gid: 65532, ModTime: mtime}),
		dir("usr", 0o755),
		dir("usr/local", 0o755),
		dir("usr/local/bin", 0o755),
		file(strings.TrimPrefix(BinaryPath, "/"), 0o755, bin),
	}
	for _, err := range steps {
		if err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// WriteImage writes the index as an OCI image layout into dir and as a tar
// of that layout (an OCI archive: `skopeo copy oci-archive:…`, `docker load`,
// `podman load`) into tarPath.
func WriteImage(idx v1.ImageIndex, ref, dir, tarPath string) error {
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return err
	}
	var opts []layout.Option
	if ref != "" {
		opts = append(opts, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": ref}))
	}
	if err := p.AppendIndex(idx, opts...); err != nil {
		return err
	}
	if tarPath == "" {
		return nil
	}
	return tarDir(dir, tarPath)
}

func tarDir(dir, out string) error {
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(f)
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || path == dir {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		h, err := tar.FileInfoHeader(info, "")
		if err != nil {
			return err
		}
		h.Name = filepath.ToSlash(rel)
		if d.IsDir() {
			h.Name += "/"
		}
		h.Uname, h.Gname, h.Uid, h.Gid = "", "", 0, 0
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		src, err := os.Open(path)
		if err != nil {
			return err
		}
		defer src.Close()
		_, err = io.Copy(tw, src)
		return err
	})
	if err != nil {
		f.Close()
		return err
	}
	if err := tw.Close(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func sortedKeys(m map[string]string) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
