package localcluster

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestPKI(t *testing.T) {
	dir := t.TempDir()
	p, err := ensurePKI(dir)
	if err != nil {
		t.Fatal(err)
	}
	caPEM, _ := os.ReadFile(p.CACert)
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatal("CA not PEM")
	}
	serving, err := tls.LoadX509KeyPair(p.ServingCert, p.ServingKey)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(serving.Certificate[0])
	for _, host := range []string{"127.0.0.1", "localhost", "kubernetes.default.svc"} {
		if _, err := leaf.Verify(x509.VerifyOptions{DNSName: host, Roots: pool}); err != nil {
			t.Errorf("serving cert for %s: %v", host, err)
		}
	}
	admin, err := tls.LoadX509KeyPair(p.AdminCert, p.AdminKey)
	if err != nil {
		t.Fatal(err)
	}
	aleaf, _ := x509.ParseCertificate(admin.Certificate[0])
	if _, err := aleaf.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("admin cert: %v", err)
	}
	if got := aleaf.Subject.Organization; len(got) != 1 || got[0] != "system:masters" {
		t.Errorf("admin groups %v", got)
	}
	pub, _ := os.ReadFile(p.SAPublicKey)
	if b, _ := pem.Decode(pub); b == nil || b.Type != "PUBLIC KEY" {
		t.Errorf("service-account public key not PEM")
	}
	// A second call reuses what is there.
	again, err := ensurePKI(dir)
	if err != nil {
		t.Fatal(err)
	}
	caAgain, _ := os.ReadFile(again.CACert)
	if string(caAgain) != string(caPEM) {
		t.Error("ensurePKI regenerated an existing CA")
	}
}

func TestToolHashFollowsSources(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module x\n"), 0o644)
	h1, err := toolHash(dir, "", "go.mod")
	if err != nil {
		t.Fatal(err)
	}
	h2, _ := toolHash(dir, "", "go.mod")
	os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module y\n"), 0o644)
	h3, _ := toolHash(dir, "", "go.mod")
	if h1 != h2 || h1 == h3 || len(h1) != 16 {
		t.Errorf("hashes %s %s %s", h1, h2, h3)
	}
	if _, err := toolHash(dir, "", "missing"); err == nil {
		t.Error("missing file hashed")
	}
}

func TestSourceDirFindsCheckout(t *testing.T) {
	d, err := SourceDir()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(d, "tools", "localcluster", "main.go")); err != nil {
		t.Error(err)
	}
}

func TestLastErrorLine(t *testing.T) {
	f := filepath.Join(t.TempDir(), "log")
	os.WriteFile(f, []byte("I1122 started\nE1122 12:00:00 bind: address already in use\nI1122 shutting down\n"), 0o644)
	if got := lastErrorLine(f); !strings.Contains(got, "address already in use") {
		t.Errorf("got %q", got)
	}
	os.WriteFile(f, []byte("hello\nworld\n\n"), 0o644)
	if got := lastErrorLine(f); got != "world" {
		t.Errorf("got %q", got)
	}
}

func TestFreePortsDistinct(t *testing.T) {
	ps, err := freePorts(5)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for _, p := range ps {
		if seen[p] || p == 0 {
			t.Errorf("ports %v", ps)
		}
		seen[p] = true
	}
}

func TestBrokenBuildIsOneLine(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go toolchain")
	}
	src := t.TempDir()
	mod := filepath.Join(src, "tools", "localcluster")
	os.MkdirAll(mod, 0o755)
	os.WriteFile(filepath.Join(mod, "go.mod"), []byte("module broken\n\ngo 1.22\n"), 0o644)
	os.WriteFile(filepath.Join(mod, "go.sum"), nil, 0o644)
	os.WriteFile(filepath.Join(mod, "main.go"), []byte("package main\n\nfunc main() { undefinedThing() }\n"), 0o644)
	t.Setenv(EnvSourceDir, src)
	t.Setenv(EnvCacheDir, t.TempDir())
	_, err := EnsureBinary(context.Background(), nil)
	if err == nil {
		t.Fatal("broken build succeeded")
	}
	msg := err.Error()
	if strings.Contains(msg, "\n") || !strings.Contains(msg, "failed") || !strings.Contains(msg, "undefinedThing") {
		t.Errorf("error %q: want one line naming the failure", msg)
	}
}
