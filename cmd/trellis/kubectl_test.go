package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/trellis-dev/trellis/pkg/localcluster"
)

func kubeconfigOf(env []string) string {
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, "KUBECONFIG="); ok {
			return v
		}
	}
	return ""
}

// `trellis up --kubeconfig-out F` records F, and `trellis kubectl` uses it
// (the banner says so); with no cluster, kubectl's help still works and
// everything else names the missing kubeconfig.
func TestKubectlFindsTheUpKubeconfig(t *testing.T) {
	t.Setenv(localcluster.EnvCacheDir, t.TempDir())
	t.Setenv("KUBECONFIG", "")
	base := []string{"PATH=/usr/bin"}

	// No cluster at all.
	if _, err := kubectlEnv([]string{"get", "nodes"}, base); err == nil || !strings.Contains(err.Error(), "no cluster") {
		t.Errorf("get nodes without a cluster: err = %v, want \"no cluster\"", err)
	}
	for _, args := range [][]string{{"--help"}, {"get", "-h"}, {"help"}, {}} {
		env, err := kubectlEnv(args, base)
		if err != nil {
			t.Errorf("kubectl %v without a cluster: %v", args, err)
		}
		if kubeconfigOf(env) != "" {
			t.Errorf("kubectl %v: KUBECONFIG set to %q without a cluster", args, kubeconfigOf(env))
		}
	}

	// A run with --kubeconfig-out elsewhere.
	out := filepath.Join(t.TempDir(), "my-kubeconfig")
	if err := os.WriteFile(out, []byte("apiVersion: v1\nkind: Config\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cleanup := recordKubeconfig(out)
	env, err := kubectlEnv([]string{"get", "nodes"}, base)
	if err != nil {
		t.Fatal(err)
	}
	if got := kubeconfigOf(env); got != out {
		t.Errorf("KUBECONFIG = %q, want the --kubeconfig-out file %q", got, out)
	}

	// The caller's choice wins.
	env, _ = kubectlEnv([]string{"--kubeconfig=/x", "get", "nodes"}, base)
	if kubeconfigOf(env) != "" {
		t.Errorf("--kubeconfig given, but KUBECONFIG set to %q", kubeconfigOf(env))
	}
	env, _ = kubectlEnv([]string{"get", "nodes"}, append(slices.Clone(base), "KUBECONFIG=/y"))
	if kubeconfigOf(env) != "/y" {
		t.Errorf("KUBECONFIG=/y given, got %q", kubeconfigOf(env))
	}

	// After the run, the pointer is gone and the default path is used again.
	cleanup()
	if _, err := os.Stat(upPointerPath()); !os.IsNotExist(err) {
		t.Errorf("pointer file left behind: %v", err)
	}
	def := defaultKubeconfigPath()
	_ = os.MkdirAll(filepath.Dir(def), 0o755)
	if err := os.WriteFile(def, []byte("apiVersion: v1\nkind: Config\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env, err = kubectlEnv([]string{"get", "nodes"}, base)
	if err != nil || kubeconfigOf(env) != def {
		t.Errorf("default kubeconfig: got %q, %v; want %q", kubeconfigOf(env), err, def)
	}
}
