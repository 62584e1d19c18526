package bench

import (
	"compress/gzip"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestProfiles drives the profiling endpoint that `trellis bench controller`
// serves (ProfileMux) the way the benchmark does with --profile-dir: a CPU
// profile started and stopped around a phase and a heap profile, each
// written to its file as a pprof profile (gzip-compressed protobuf).
func TestProfiles(t *testing.T) {
	srv := httptest.NewServer(ProfileMux())
	defer srv.Close()
	p := &procController{pprof: strings.TrimPrefix(srv.URL, "http://")}
	dir := t.TempDir()

	cpu := filepath.Join(dir, "controller.cpu.pprof")
	if err := p.StartProfile(cpu); err != nil {
		t.Fatal(err)
	}
	if err := p.StartProfile(filepath.Join(dir, "second.pprof")); err == nil {
		t.Error("a second CPU profile started while one was running")
	}
	if err := p.StopProfile(); err != nil {
		t.Fatal(err)
	}
	if err := p.StopProfile(); err == nil {
		t.Error("stopping a CPU profile that is not running succeeded")
	}
	heap := filepath.Join(dir, "controller.heap.pprof")
	if err := p.HeapProfile(heap); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{cpu, heap} {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		zr, err := gzip.NewReader(f)
		if err != nil {
			t.Fatalf("%s is not a pprof profile: %v", filepath.Base(path), err)
		}
		b, err := io.ReadAll(zr)
		f.Close()
		if err != nil || len(b) == 0 {
			t.Fatalf("%s: %d bytes, %v", filepath.Base(path), len(b), err)
		}
	}
	if err := p.StartProfile(filepath.Join(dir, "missing", "x.pprof")); err == nil {
		t.Error("a CPU profile into a missing directory reported success")
	}
}
