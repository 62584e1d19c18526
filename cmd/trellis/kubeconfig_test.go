package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/trellis-dev/trellis/pkg/localcluster"
)

func TestClusterKubeconfig(t *testing.T) {
	t.Setenv(localcluster.EnvCacheDir, t.TempDir())
	t.Setenv("KUBECONFIG", "")
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	if got := clusterKubeconfig("", ""); got != "" {
		t.Errorf("no trellis up running: %q, want client-go's defaults", got)
	}
	up := defaultKubeconfigPath()
	if err := os.MkdirAll(filepath.Dir(up), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(up, []byte("apiVersion: v1\nkind: Config\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := clusterKubeconfig("", ""); got != up {
		t.Errorf("trellis up running: %q, want %q", got, up)
	}
	if got := clusterKubeconfig("/my/kubeconfig", ""); got != "/my/kubeconfig" {
		t.Errorf("--kubeconfig given: %q", got)
	}
	if got := clusterKubeconfig("", "prod"); got != "" {
		t.Errorf("--context given: %q, want the default kubeconfig's context", got)
	}
	t.Setenv("KUBECONFIG", "/elsewhere")
	if got := clusterKubeconfig("", ""); got != "" {
		t.Errorf("$KUBECONFIG set: %q", got)
	}
	t.Setenv("KUBECONFIG", "")
	t.Setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1")
	if got := clusterKubeconfig("", ""); got != "" {
		t.Errorf("in a pod: %q, want the in-cluster config", got)
	}
}
