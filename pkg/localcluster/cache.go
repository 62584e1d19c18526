package localcluster

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"
)

// Environment variables that change where trellis keeps its built tools.
const (
	// EnvCacheDir overrides the cache root (default ${XDG_CACHE_HOME:-~/.cache}/trellis).
	EnvCacheDir = "TRELLIS_CACHE_DIR"
	// EnvSourceDir points at a trellis checkout (the directory holding tools/);
	// needed only when the binary was built somewhere else.
	EnvSourceDir = "TRELLIS_SOURCE_DIR"
	// EnvBinary uses a prebuilt multi-call binary instead of the cache. Its
	// kwok stages are looked up in a "stages" directory next to it.
	EnvBinary = "TRELLIS_LOCALCLUSTER_BINARY"
)

// The stage files kwok gets with -c, from sigs.k8s.io/kwok/kustomize/stage.
var kwokStages = []string{
	"node/fast/node-initialize.yaml",
	"node/heartbeat-with-lease/node-heartbeat-with-lease.yaml",
	"pod/fast/pod-ready.yaml",
	"pod/fast/pod-complete.yaml",
	"pod/fast/pod-delete.yaml",
}

// KubernetesVersion is the version of the Kubernetes components in the
// local control plane (tools/localcluster/go.mod).
const KubernetesVersion = "v1.36.3"

// localclusterLDFlags stamps the Kubernetes version into the components (as
// Kubernetes' own build does), so that /version and kubectl report it.
var localclusterLDFlags = func() string {
	var b strings.Builder
	b.WriteString("-s -w")
	for _, pkg := range []string{"k8s.io/component-base/version", "k8s.io/client-go/pkg/version"} {
		fmt.Fprintf(&b, " -X %s.gitMajor=1 -X %s.gitMinor=36 -X %s.gitVersion=%s -X %s.gitTreeState=clean",
			pkg, pkg, pkg, KubernetesVersion, pkg)
	}
	return b.String()
}()

// Binary is a built multi-call control-plane binary.
type Binary struct {
	// Path of the executable (`<Path> etcd|apiserver|controller-manager|scheduler|kwok|kubectl`).
	Path string
	// StagesDir holds the kwok stage files.
	StagesDir string
}

// StageFiles returns the kwok stage files in the order kwok gets them.
func (b Binary) StageFiles() []string {
	out := make([]string, 0, len(kwokStages))
	for _, s := range kwokStages {
		out = append(out, filepath.Join(b.StagesDir, filepath.Base(s)))
	}
	return out
}

// CacheRoot is the directory under which built tools are kept.
func CacheRoot() string {
	if d := os.Getenv(EnvCacheDir); d != "" {
		return d
	}
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "trellis")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".cache", "trellis")
	}
	return filepath.Join(os.TempDir(), "trellis-cache")
}

// SourceDir finds the trellis checkout whose tools/ modules are built: the
// directory named by TRELLIS_SOURCE_DIR, the checkout this package was compiled
// from, or a parent of the working directory.
func SourceDir() (string, error) {
	if d := os.Getenv(EnvSourceDir); d != "" {
		if isSourceDir(d) {
			return d, nil
		}
		return "", fmt.Errorf("%s=%s has no tools/localcluster/go.mod", EnvSourceDir, d)
	}
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		d := filepath.Dir(filepath.Dir(filepath.Dir(file))) // pkg/localcluster/cache.go -> root
		if isSourceDir(d) {
			return d, nil
		}
	}
	if wd, err := os.Getwd(); err == nil {
		for d := wd; ; d = filepath.Dir(d) {
			if isSourceDir(d) {
				return d, nil
			}
			if filepath.Dir(d) == d {
				break
			}
		}
	}
	return "", fmt.Errorf("cannot find the trellis source tree (tools/localcluster); run from a checkout or set %s", EnvSourceDir)
}

func isSourceDir(d string) bool {
	_, err := os.Stat(filepath.Join(d, "tools", "localcluster", "go.mod"))
	return err == nil
}

// toolHash identifies a build of a tools module: its sources, the Go version
// and the platform.
func toolHash(dir, flags string, files ...string) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "%s %s/%s %s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH, flags)
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s %d\n", f, len(b))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

// EnsureBinary returns the multi-call control-plane binary, building it into
// the cache directory first if it is missing. Build progress goes to log.
func EnsureBinary(ctx context.Context, log io.Writer) (Binary, error) {
	if log == nil {
		log = io.Discard
	}
	if p := os.Getenv(EnvBinary); p != "" {
		b := Binary{Path: p, StagesDir: filepath.Join(filepath.Dir(p), "stages")}
		if _, err := os.Stat(p); err != nil {
			return Binary{}, fmt.Errorf("%s: %w", EnvBinary, err)
		}
		return b, nil
	}
	src, err := SourceDir()
	if err != nil {
		return Binary{}, err
	}
	modDir := filepath.Join(src, "tools", "localcluster")
	hash, err := toolHash(modDir, localclusterLDFlags, "go.mod", "go.sum", "main.go")
	if err != nil {
		return Binary{}, fmt.Errorf("reading tools/localcluster: %w", err)
	}
	dir := filepath.Join(CacheRoot(), "localcluster-"+hash)
	b := Binary{Path: filepath.Join(dir, "localcluster"), StagesDir: filepath.Join(dir, "stages")}
	complete := func() bool {
		if _, err := os.Stat(b.Path); err != nil {
			return false
		}
		for _, f := range b.StageFiles() {
			if _, err := os.Stat(f); err != nil {
				return false
			}
		}
		return true
	}
	if complete() {
		return b, nil
	}
	unlock, err := lockFile(ctx, dir+".lock", log)
	if err != nil {
		return Binary{}, err
	}
	defer unlock()
	if complete() { // built by someone else while we waited
		return b, nil
	}
	if err := os.MkdirAll(b.StagesDir, 0o755); err != nil {
		return Binary{}, err
	}
	fmt.Fprintf(log, "trellis: building the local control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok, kubectl) into %s\n", dir)
	fmt.Fprintf(log, "trellis: this happens once per version and takes about 10-15 minutes on 2 cores\n")
	if err := goBuild(ctx, log, modDir, nil, b.Path, ".", "-ldflags="+localclusterLDFlags); err != nil {
		return Binary{}, err
	}
	kwokDir, err := goListModuleDir(ctx, modDir, "sigs.k8s.io/kwok")
	if err != nil {
		return Binary{}, err
	}
	for _, s := range kwokStages {
		data, err := os.ReadFile(filepath.Join(kwokDir, "kustomize", "stage", s))
		if err != nil {
			return Binary{}, fmt.Errorf("kwok stage: %w", err)
		}
		if err := writeFileAtomic(filepath.Join(b.StagesDir, filepath.Base(s)), data, 0o644); err != nil {
			return Binary{}, err
		}
	}
	return b, nil
}

// EnsureChainsaw returns the path of the chainsaw e2e runner (kyverno/chainsaw
// v0.2.15, pinned in tools/chainsaw), building it into the cache if missing.
func EnsureChainsaw(ctx context.Context, log io.Writer) (string, error) {
	if log == nil {
		log = io.Discard
	}
	src, err := SourceDir()
	if err != nil {
		return "", err
	}
	modDir := filepath.Join(src, "tools", "chainsaw")
	hash, err := toolHash(modDir, "", "go.mod", "go.sum")
	if err != nil {
		return "", fmt.Errorf("reading tools/chainsaw: %w", err)
	}
	dir := filepath.Join(CacheRoot(), "chainsaw-"+hash)
	path := filepath.Join(dir, "chainsaw")
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	unlock, err := lockFile(ctx, dir+".lock", log)
	if err != nil {
		return "", err
	}
	defer unlock()
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	fmt.Fprintf(log, "trellis: building chainsaw into %s (a few minutes, once)\n", dir)
	env := []string{"GONOSUMDB=github.com/kyverno/chainsaw", "GOFLAGS=-mod=mod"}
	if err := goBuild(ctx, log, modDir, env, path, "github.com/kyverno/chainsaw"); err != nil {
		return "", err
	}
	return path, nil
}

// goBuild runs `go build -v -o out pkg` in dir and reports progress to log
// every 15 seconds. The complete output goes to out+".build.log"; a failure
// is reported in one line with the most telling compiler line.
func goBuild(ctx context.Context, log io.Writer, dir string, env []string, out, pkg string, flags ...string) error {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return errors.New("building the local control plane needs the Go toolchain (`go` is not on PATH)")
	}
	tmp := out + ".tmp"
	buildLog := out + ".build.log"
	lf, err := os.Create(buildLog)
	if err != nil {
		return err
	}
	defer lf.Close()
	args := append(append([]string{"build", "-v", "-o", tmp}, flags...), pkg)
	cmd := exec.CommandContext(ctx, goBin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	// Own process group, so that an interrupt stops the compilers too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	fmt.Fprintf(log, "trellis: resolving %s's dependencies (downloads modules on first use)\n", filepath.Base(out))
	total := ""
	if n := countDeps(ctx, goBin, dir, cmd.Env, pkg); n > 0 {
		total = fmt.Sprintf(" of at most %d", n)
	}
	pr, pw := io.Pipe()
	cmd.Stdout = pw
	cmd.Stderr = pw
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("go build: %w", err)
	}
	var telling string
	scanDone := make(chan struct{})
	go func() {
		defer close(scanDone)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		n := 0
		last := time.Now()
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(lf, line)
			isPkg := !strings.HasPrefix(line, "#") && !strings.Contains(line, " ")
			if isPkg {
				n++
			} else if !strings.HasPrefix(line, "#") && !strings.HasPrefix(line, "go: downloading") && strings.TrimSpace(line) != "" {
				telling = strings.TrimSpace(line)
			}
			if time.Since(last) >= 15*time.Second {
				last = time.Now()
				fmt.Fprintf(log, "trellis: building %s: %d%s packages compiled, %s elapsed\n",
					filepath.Base(out), n, total, time.Since(start).Round(time.Second))
			}
		}
	}()
	werr := cmd.Wait()
	pw.Close()
	<-scanDone
	if werr != nil {
		os.Remove(tmp)
		if ctx.Err() != nil {
			return fmt.Errorf("build of %s interrupted", filepath.Base(out))
		}
		if telling == "" {
			telling = "no compiler output"
		}
		return fmt.Errorf("building %s failed (%v): %s (full output: %s)", filepath.Base(out), werr, telling, buildLog)
	}
	if err := os.Rename(tmp, out); err != nil {
		return err
	}
	fmt.Fprintf(log, "trellis: built %s in %s\n", out, time.Since(start).Round(time.Second))
	return nil
}

// countDeps is the number of packages pkg depends on (0 if unknown), for
// progress output.
func countDeps(ctx context.Context, goBin, dir string, env []string, pkg string) int {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goBin, "list", "-deps", pkg)
	cmd.Dir = dir
	cmd.Env = env
	out, err := cmd.Output()
	if err != nil {
		return 0
	}
	return bytes.Count(out, []byte("\n"))
}

func goListModuleDir(ctx context.Context, dir, module string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Dir}}", module)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go list -m %s: %v: %s", module, err, strings.TrimSpace(stderr.String()))
	}
	d := strings.TrimSpace(string(out))
	if d == "" {
		return "", fmt.Errorf("go list -m %s: module not downloaded", module)
	}
	return d, nil
}

func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, perm); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// lockFile takes an exclusive flock on path, so that parallel test packages do
// not build the same tool at the same time.
func lockFile(ctx context.Context, path string, log io.Writer) (func(), error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	said := false
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		if !said {
			fmt.Fprintf(log, "trellis: waiting for another process that is building into %s\n", strings.TrimSuffix(path, ".lock"))
			said = true
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(time.Second):
		}
	}
}
