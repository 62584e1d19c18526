package main

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
)

// TestImage builds the image the way `make image` does (for this machine's
// architecture only, to keep the test fast), then opens the OCI archive with
// go-containerregistry and checks it: entrypoint, user, labels, CA bundle, no
// shell, and that the binary in the layer is the one just built.
func TestImage(t *testing.T) {
	if testing.Short() {
		t.Skip("builds trellis")
	}
	dir := t.TempDir()
	version := fmt.Sprintf("image-test-%d", time.Now().UnixNano())
	bin := filepath.Join(dir, "trellis")
	build := exec.Command("go", "build", "-trimpath", "-ldflags",
		"-s -w -X github.com/trellis-dev/trellis/pkg/version.Version="+version, "-o", bin, "./cmd/trellis")
	build.Dir = "../.."
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	platform := "linux/" + runtime.GOARCH
	o := ImageOptions{Binaries: map[string]string{platform: bin}, CACerts: "/etc/ssl/certs/ca-certificates.crt",
		Version: version, Revision: "abc123", Created: time.Unix(1700000000, 0).UTC(), Ref: "trellis:test"}
	idx, err := BuildIndex(o)
	if err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(dir, "image.tar")
	if err := WriteImage(idx, o.Ref, filepath.Join(dir, "layout"), archive); err != nil {
		t.Fatal(err)
	}

	// Open the archive as a user would: untar, read the OCI layout.
	opened := filepath.Join(dir, "opened")
	untar(t, archive, opened)
	root, err := layout.ImageIndexFromPath(opened)
	if err != nil {
		t.Fatal(err)
	}
	rm, err := root.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(rm.Manifests) != 1 || rm.Manifests[0].Annotations["org.opencontainers.image.ref.name"] != "trellis:test" {
		t.Fatalf("layout index: %+v", rm.Manifests)
	}
	multi, err := root.ImageIndex(rm.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	mm, err := multi.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	var img v1.Image
	for _, d := range mm.Manifests {
		if d.Platform != nil && d.Platform.OS == "linux" && d.Platform.Architecture == runtime.GOARCH {
			if img, err = multi.Image(d.Digest); err != nil {
				t.Fatal(err)
			}
		}
	}
	if img == nil {
		t.Fatalf("no %s image in the index: %+v", platform, mm.Manifests)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(cf.Config.Entrypoint, " "); got != "/usr/local/bin/trellis controller" {
		t.Errorf("entrypoint %q", got)
	}
	if cf.Config.User != "65532:65532" {
		t.Errorf("user %q", cf.Config.User)
	}
	if cf.OS != "linux" || cf.Architecture != runtime.GOARCH {
		t.Errorf("config platform %s/%s", cf.OS, cf.Architecture)
	}
	for k, want := range map[string]string{"org.opencontainers.image.version": version, "org.opencontainers.image.revision": "abc123",
		"org.opencontainers.image.source": "https://github.com/trellis-dev/trellis", "org.opencontainers.image.created": "2023-11-14T22:13:20Z"} {
		if cf.Config.Labels[k] != want {
			t.Errorf("label %s = %q, want %q", k, cf.Config.Labels[k], want)
		}
	}

	files := map[string][]byte{}
	tr := tar.NewReader(mutate.Extract(img))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(tr)
		files[h.Name] = data
		if h.Name == "usr/local/bin/trellis" && h.Mode&0o111 == 0 {
			t.Errorf("binary mode %o", h.Mode)
		}
	}
	for _, sh := range []string{"bin/sh", "usr/bin/sh", "bin/bash"} {
		if _, ok := files[sh]; ok {
			t.Errorf("the image has a shell: %s", sh)
		}
	}
	hostCerts, _ := os.ReadFile("/etc/ssl/certs/ca-certificates.crt")
	if !bytes.Equal(files["etc/ssl/certs/ca-certificates.crt"], hostCerts) || len(hostCerts) == 0 {
		t.Errorf("CA bundle in the image is not the build machine's")
	}
	if !strings.Contains(string(files["etc/passwd"]), ":65532:65532:") {
		t.Errorf("no nonroot user in /etc/passwd")
	}
	inImage := filepath.Join(dir, "trellis-from-image")
	if err := os.WriteFile(inImage, files["usr/local/bin/trellis"], 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(inImage, "version").CombinedOutput()
	if err != nil {
		t.Fatalf("trellis version from the image: %v\n%s", err, out)
	}
	if !strings.HasPrefix(string(out), "trellis "+version+" ") || !strings.Contains(string(out), platform) {
		t.Errorf("trellis version from the image: %q, want version %s on %s", out, version, platform)
	}
}

func untar(t *testing.T, archive, dst string) {
	t.Helper()
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dst, filepath.FromSlash(h.Name))
		if h.Typeflag == tar.TypeDir {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
