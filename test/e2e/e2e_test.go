//go:build e2e

// Package e2e runs the chainsaw end-to-end cases in test/e2e/kro (copied
// unmodified from kro) against a local control plane with `trellis
// controller` running as its own process: with admin credentials
// (TestKroChainsaw), and installed by dist/install.yaml, running with the
// chart's identity (TestKroChainsawChartIdentity).
//
//	make e2e                                # all cases, both ways
//	TRELLIS_E2E_CASES=check-rgd go test -tags e2e ./test/e2e/ -v -timeout 30m
//
// Environment: TRELLIS_E2E_CASES (regular expression of case names),
// TRELLIS_BIN (a prebuilt trellis binary; default: built here),
// TRELLIS_E2E_ARTIFACTS (report, controller log, cluster logs; default
// _output/e2e), TRELLIS_E2E_PARALLEL (chainsaw --parallel, default 4).
package e2e

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/trellis-dev/trellis/pkg/localcluster"
	"github.com/trellis-dev/trellis/test/chart"
)

func TestKroChainsaw(t *testing.T) { runChainsaw(t, false) }

// TestKroChainsawChartIdentity runs the same cases as kro's own e2e runs
// them: the chart installed in rbac.mode=aggregation (dist/install.yaml)
// and the controller with the chart's identity (its ServiceAccount,
// impersonated) and its Deployment's flags. Each case brings the
// ClusterRole, labelled rbac.kro.run/aggregate-to-controller, for the kinds
// it creates; nothing else is granted.
func TestKroChainsawChartIdentity(t *testing.T) { runChainsaw(t, true) }

func runChainsaw(t *testing.T, chartIdentity bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Minute)
	defer cancel()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	artifacts := os.Getenv("TRELLIS_E2E_ARTIFACTS")
	if artifacts == "" {
		artifacts = filepath.Join(root, "_output", "e2e")
	}
	if chartIdentity {
		artifacts = filepath.Join(artifacts, "chart-identity")
	}
	if err := os.MkdirAll(artifacts, 0o755); err != nil {
		t.Fatal(err)
	}

	chainsaw, err := localcluster.EnsureChainsaw(ctx, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	trellis := os.Getenv("TRELLIS_BIN")
	if trellis == "" {
		trellis = filepath.Join(t.TempDir(), "trellis")
		build := exec.CommandContext(ctx, "go", "build", "-o", trellis, "./cmd/trellis")
		build.Dir = root
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			t.Fatalf("go build ./cmd/trellis: %v", err)
		}
	}

	opts := localcluster.Full()
	opts.Log = os.Stderr
	cluster, err := localcluster.Start(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		// Keep the component logs next to the report.
		for _, c := range []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"} {
			copyFile(cluster.LogFile(c), filepath.Join(artifacts, c+".log"))
		}
		cluster.Stop()
	}()

	ctrlLog := filepath.Join(artifacts, "trellis-controller.log")
	lf, err := os.Create(ctrlLog)
	if err != nil {
		t.Fatal(err)
	}
	defer lf.Close()
	flags := []string{"--zap-log-level=info"}
	kubeconfig := cluster.Kubeconfig
	if chartIdentity {
		flags, kubeconfig = installChart(ctx, t, root, cluster.Kubeconfig)
	}
	ctrl := exec.Command(trellis, append(append([]string{"controller"}, flags...), chart.OutOfCluster(kubeconfig)...)...)
	ctrl.Stdout, ctrl.Stderr = lf, lf
	ctrl.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := ctrl.Start(); err != nil {
		t.Fatal(err)
	}
	ctrlDone := make(chan error, 1)
	go func() { ctrlDone <- ctrl.Wait() }()
	defer func() {
		_ = syscall.Kill(-ctrl.Process.Pid, syscall.SIGTERM)
		select {
		case <-ctrlDone:
		case <-time.After(15 * time.Second):
			_ = syscall.Kill(-ctrl.Process.Pid, syscall.SIGKILL)
			<-ctrlDone
		}
	}()
	t.Logf("trellis controller running (log: %s)", ctrlLog)

	parallel := os.Getenv("TRELLIS_E2E_PARALLEL")
	if parallel == "" {
		parallel = "4"
	}
	args := []string{"test", "--test-dir", filepath.Join(root, "test", "e2e", "kro"),
		"--parallel", parallel, "--no-color",
		"--report-format", "JSON", "--report-path", artifacts, "--report-name", "chainsaw-report"}
	if re := os.Getenv("TRELLIS_E2E_CASES"); re != "" {
		args = append(args, "--include-test-regex", re)
	}
	cs := exec.CommandContext(ctx, chainsaw, args...)
	cs.Env = append(os.Environ(), "KUBECONFIG="+cluster.Kubeconfig)
	cs.Stdout, cs.Stderr = os.Stdout, os.Stderr
	csErr := cs.Run()
	select {
	case err := <-ctrlDone:
		ctrlDone <- err
		t.Errorf("trellis controller exited during the run: %v (log: %s)", err, ctrlLog)
	default:
	}
	if err := cluster.Err(); err != nil {
		t.Errorf("local control plane: %v", err)
	}
	if csErr != nil {
		t.Fatalf("chainsaw: %v (report: %s, controller log: %s)", csErr, filepath.Join(artifacts, "chainsaw-report.json"), ctrlLog)
	}
}

// installChart applies dist/install.yaml with the admin kubeconfig and
// returns the Deployment's flags and a kubeconfig with the chart's identity.
func installChart(ctx context.Context, t *testing.T, root, adminKubeconfig string) (args []string, kubeconfig string) {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", adminKubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	manifest, err := chart.ReadDist(root, "install.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := chart.Install(ctx, cfg, manifest); err != nil {
		t.Fatal(err)
	}
	if args, err = chart.DeploymentArgs(manifest); err != nil {
		t.Fatal(err)
	}
	if kubeconfig, err = chart.IdentityKubeconfig(adminKubeconfig, t.TempDir()); err != nil {
		t.Fatal(err)
	}
	t.Logf("dist/install.yaml applied; controller flags %v, as %s:%s", args, chart.Namespace, chart.ServiceAccount)
	return args, kubeconfig
}

func copyFile(from, to string) {
	in, err := os.Open(from)
	if err != nil {
		return
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		return
	}
	defer out.Close()
	if _, err := io.Copy(out, in); err != nil {
		fmt.Fprintf(os.Stderr, "copy %s: %v\n", from, err)
	}
}
