package localcluster

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// KroVersion is the kro release pinned in tools/kro/go.mod: the controller
// trellis replaces, run as the peer in the switch tests (pkg/kroswitch).
const KroVersion = "v0.9.4"

// kroModule is kro's Go module; its controller is the package cmd/controller.
const kroModule = "github.com/kubernetes-sigs/kro"

// Kro is a built kro controller.
type Kro struct {
	// Path of the controller executable (kro's cmd/controller).
	Path string
	// CRDDir holds kro's own CRDs (ResourceGraphDefinition, GraphRevision)
	// as its release installs them (its helm chart's crds/).
	CRDDir string
}

// CRDFiles returns the paths of kro's CRD manifests.
func (k Kro) CRDFiles() ([]string, error) {
	return filepath.Glob(filepath.Join(k.CRDDir, "*.yaml"))
}

// EnsureKro returns kro's controller (KroVersion, pinned in tools/kro),
// building it from the Go module proxy into the cache if it is missing.
// The cache directory is keyed by the version and the tools module's hash.
func EnsureKro(ctx context.Context, log io.Writer) (Kro, error) {
	if log == nil {
		log = io.Discard
	}
	src, err := SourceDir()
	if err != nil {
		return Kro{}, err
	}
	modDir := filepath.Join(src, "tools", "kro")
	hash, err := toolHash(modDir, "", "go.mod", "go.sum")
	if err != nil {
		return Kro{}, fmt.Errorf("reading tools/kro: %w", err)
	}
	dir := filepath.Join(CacheRoot(), "kro-"+KroVersion+"-"+hash)
	k := Kro{Path: filepath.Join(dir, "kro-controller"), CRDDir: filepath.Join(dir, "crds")}
	complete := func() bool {
		if _, err := os.Stat(k.Path); err != nil {
			return false
		}
		files, err := k.CRDFiles()
		return err == nil && len(files) > 0
	}
	if complete() {
		return k, nil
	}
	unlock, err := lockFile(ctx, dir+".lock", log)
	if err != nil {
		return Kro{}, err
	}
	defer unlock()
	if complete() { // built by someone else while we waited
		return k, nil
	}
	if err := os.MkdirAll(k.CRDDir, 0o755); err != nil {
		return Kro{}, err
	}
	fmt.Fprintf(log, "trellis: building kro %s's controller into %s (a few minutes, once)\n", KroVersion, dir)
	if err := goBuild(ctx, log, modDir, nil, k.Path, kroModule+"/cmd/controller"); err != nil {
		return Kro{}, err
	}
	kroDir, err := goListModuleDir(ctx, modDir, kroModule)
	if err != nil {
		return Kro{}, err
	}
	crds, err := filepath.Glob(filepath.Join(kroDir, "helm", "crds", "*.yaml"))
	if err != nil || len(crds) == 0 {
		return Kro{}, fmt.Errorf("kro %s: no CRDs in %s/helm/crds", KroVersion, kroDir)
	}
	for _, f := range crds {
		data, err := os.ReadFile(f)
		if err != nil {
			return Kro{}, err
		}
		if err := writeFileAtomic(filepath.Join(k.CRDDir, strings.ToLower(filepath.Base(f))), data, 0o644); err != nil {
			return Kro{}, err
		}
	}
	return k, nil
}

// KroProcess is a kro controller running out of cluster against a cluster
// through a kubeconfig, as its own process (group).
type KroProcess struct {
	p *process
	// LogPath is where its stdout and stderr go.
	LogPath string
}

// StartKro starts kro's controller against the cluster of kubeconfig. Its
// metrics and health endpoints are off and it does not take part in leader
// election unless args say otherwise (later flags win).
func (k Kro) Start(kubeconfig, logPath string, args ...string) (*KroProcess, error) {
	all := append([]string{
		"--kubeconfig=" + kubeconfig,
		"--metrics-bind-address=0",
		"--health-probe-bind-address=0",
	}, args...)
	p, err := startProcess("kro", k.Path, all, filepath.Dir(logPath), logPath, nil)
	if err != nil {
		return nil, err
	}
	return &KroProcess{p: p, LogPath: logPath}, nil
}

// Running reports whether the process has not exited.
func (k *KroProcess) Running() bool { return k.p.running() }

// Stop stops kro as an operator would (SIGTERM, SIGKILL after grace) and
// waits for it to exit.
func (k *KroProcess) Stop(grace time.Duration) { k.p.stop(grace) }

// Kill kills kro at once (SIGKILL) and waits for it to exit.
func (k *KroProcess) Kill() { k.p.stop(0) }
