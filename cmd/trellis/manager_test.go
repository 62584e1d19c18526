package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/spf13/pflag"
	coordinationv1 "k8s.io/api/coordination/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/trellis-dev/trellis/pkg/testenv"
)

func TestMain(m *testing.M) {
	os.Exit(testenv.Run(m, testenv.Options{}))
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// `trellis controller` takes the leader-election lease and serves its
// probes and metrics; it stops when its context ends.
func TestControllerLeaderElectionAndEndpoints(t *testing.T) {
	env := testenv.Current(t)
	probe, metrics := freePort(t), freePort(t)
	o := &controllerOptions{}
	fs := pflag.NewFlagSet("controller", pflag.ContinueOnError)
	o.bindFlags(fs, ":8078", ":8079")
	if err := fs.Parse([]string{
		"--leader-elect", "--leader-election-namespace=default", "--ack-services=none",
		fmt.Sprintf("--health-probe-bind-address=127.0.0.1:%d", probe),
		fmt.Sprintf("--metrics-bind-address=127.0.0.1:%d", metrics),
	}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- runControllers(ctx, env.Config, o) }()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("controller returned %v", err)
			}
		case <-time.After(60 * time.Second):
			t.Error("controller did not stop")
		}
	}()

	lease := &coordinationv1.Lease{}
	err := wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		if env.Client.Get(ctx, client.ObjectKey{Namespace: "default", Name: "controller.trellis.dev"}, lease) != nil {
			return false, nil
		}
		return lease.Spec.HolderIdentity != nil && *lease.Spec.HolderIdentity != "", nil
	})
	if err != nil {
		t.Fatal("no leader-election lease held")
	}
	for _, url := range []string{
		fmt.Sprintf("http://127.0.0.1:%d/healthz", probe),
		fmt.Sprintf("http://127.0.0.1:%d/readyz", probe),
		fmt.Sprintf("http://127.0.0.1:%d/metrics", metrics),
	} {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatalf("%s: %v", url, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s: %s", url, resp.Status)
		}
	}
}
