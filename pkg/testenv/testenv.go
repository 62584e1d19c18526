// Package testenv gives integration tests a real local control plane (see
// pkg/localcluster): one per test package, started from TestMain, and a
// fresh namespace per test.
//
//	func TestMain(m *testing.M) { os.Exit(testenv.Run(m, testenv.Options{})) }
//
//	func TestSomething(t *testing.T) {
//		env := testenv.Current(t) // skips when integration tests are off
//		ns := env.Namespace(t)
//		...
//	}
//
// Integration tests are skipped when TRELLIS_SKIP_INTEGRATION=1 or with
// `go test -short`. If the control-plane binary is not built yet, Start builds
// it first (10+ minutes, progress on stderr); `make prepare` does that ahead.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/trellis-dev/trellis/pkg/localcluster"
)

// EnvSkip set to 1 skips integration tests.
const EnvSkip = "TRELLIS_SKIP_INTEGRATION"

// Options selects the control plane.
type Options struct {
	// Full adds kube-scheduler, kwok and a fake node: Deployments get ready pods.
	Full bool
	// ControllerManager adds kube-controller-manager (garbage collection,
	// namespace deletion, Deployment → ReplicaSet → Pod). Implied by Full.
	ControllerManager bool
	// FeatureGates of kube-apiserver, e.g. {"ShardedListAndWatch": true}.
	FeatureGates map[string]bool
}

// Env is a running control plane.
type Env struct {
	// Config is an admin rest.Config (client-side rate limits high).
	Config *rest.Config
	// Kubeconfig is the path of an admin kubeconfig.
	Kubeconfig string
	// Client is a controller-runtime client with the built-in types and CRDs.
	Client client.Client
	// Cluster is the underlying control plane (logs, host, binary).
	Cluster *localcluster.Cluster
}

// Skipped reports whether integration tests are turned off.
func Skipped() bool {
	return os.Getenv(EnvSkip) == "1" || os.Getenv(EnvSkip) == "true" || (flag.Parsed() && testing.Short())
}

// Start starts a control plane. If the cached binary is missing it builds it
// first, printing progress to stderr.
func Start(opts Options) (*Env, error) {
	lo := localcluster.Options{ControllerManager: opts.ControllerManager || opts.Full, Log: os.Stderr}
	if opts.Full {
		lo = localcluster.Full()
		lo.Log = os.Stderr
	}
	lo.FeatureGates = opts.FeatureGates
	c, err := localcluster.Start(context.Background(), lo)
	if err != nil {
		return nil, err
	}
	scheme := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(scheme)
	_ = apiextensionsv1.AddToScheme(scheme)
	cl, err := client.New(c.Config, client.Options{Scheme: scheme})
	if err != nil {
		c.Stop()
		return nil, err
	}
	return &Env{Config: c.Config, Kubeconfig: c.Kubeconfig, Client: cl, Cluster: c}, nil
}

// Stop stops the control plane; nothing is left running.
func (e *Env) Stop() {
	if e != nil && e.Cluster != nil {
		e.Cluster.Stop()
	}
}

var nameCleaner = regexp.MustCompile(`[^a-z0-9-]+`)

// Namespace creates a namespace unique to the test and deletes it (without
// waiting) when the test ends.
func (e *Env) Namespace(t testing.TB) string {
	t.Helper()
	base := strings.Trim(nameCleaner.ReplaceAllString(strings.ToLower(t.Name()), "-"), "-")
	if len(base) > 40 {
		base = strings.Trim(base[:40], "-")
	}
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	name := fmt.Sprintf("%s-%s", base, hex.EncodeToString(b))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if err := e.Client.Create(ctx, ns); err != nil {
		t.Fatalf("create namespace %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := e.Client.Delete(ctx, ns); err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("delete namespace %s: %v", name, err)
		}
	})
	return name
}

var current *Env

// Current returns the control plane Run started for this test package, or
// skips the test when integration tests are off.
func Current(t testing.TB) *Env {
	t.Helper()
	if current == nil {
		if Skipped() {
			t.Skipf("integration test skipped (%s=1 or -short)", EnvSkip)
		}
		t.Fatal("testenv: no control plane; call testenv.Run from TestMain")
	}
	return current
}

// Run is for TestMain: it starts a control plane (unless integration tests
// are off), runs the tests, stops the control plane and returns the exit code.
// A control plane that fails to start fails the package with one clear line.
func Run(m *testing.M, opts Options) int {
	flag.Parse()
	if Skipped() {
		return m.Run()
	}
	start := time.Now()
	env, err := Start(opts)
	if err != nil {
		fmt.Fprintf(os.Stderr, "testenv: local control plane failed to start: %v\n", err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "testenv: control plane up in %s (%s)\n", time.Since(start).Round(100*time.Millisecond), env.Cluster.Host)
	current = env
	defer func() {
		env.Stop()
		current = nil
	}()
	return m.Run()
}
