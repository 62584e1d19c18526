package kroswitch

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"

	trt "github.com/trellis-dev/trellis/pkg/runtime"
	"github.com/trellis-dev/trellis/pkg/testenv"
)

// trellisBinary is TRELLIS_BIN (make test sets it to bin/trellis) or a
// trellis built here.
func trellisBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("TRELLIS_BIN"); p != "" {
		return p
	}
	p := filepath.Join(t.TempDir(), "trellis")
	build := exec.Command("go", "build", "-o", p, "github.com/trellis-dev/trellis/cmd/trellis")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		t.Fatalf("go build ./cmd/trellis: %v", err)
	}
	return p
}

// TestKillDuringSwitch: kro manages the fixture and stops; trellis (its
// own process) starts and is killed (SIGKILL) during its first reconciles;
// a second trellis finishes the switch. No child is created twice or
// deleted, no GraphRevision is issued twice, every instance ends ACTIVE.
func TestKillDuringSwitch(t *testing.T) {
	env := testenv.Current(t)
	dyn := dynamic.NewForConfigOrDie(env.Config)
	ns := env.Namespace(t)
	bin := trellisBinary(t)

	resetFixtureKinds(t, dyn)
	env.InstallKroCRDs(t)
	kro := env.StartKro(t)
	f := createFixture(t, dyn, ns, 10)
	children := childUIDs(t, dyn, ns)
	revs := revisionsByRGD(t, dyn)
	kro.Stop(30 * time.Second)
	events := watchChildren(t, dyn, ns)

	logPath := filepath.Join(t.TempDir(), "trellis.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	cmd := exec.Command(bin, "controller", "--kubeconfig", env.Kubeconfig, "--metrics-bind-address=0",
		"--health-probe-bind-address=0", "--ack-services=none")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); <-exited })

	// Kill it as soon as it has applied its first child.
	waitList(t, dyn, 5*time.Minute, configMaps, ns, func(items []unstructured.Unstructured) string {
		for _, u := range items {
			if _, ok := u.GetAnnotations()[trt.AnnotationDesiredHash]; ok {
				return ""
			}
		}
		return "trellis has applied no child yet"
	})
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-exited
	annotated := 0
	for _, gvr := range childKinds {
		items := waitList(t, dyn, time.Minute, gvr, ns, func([]unstructured.Unstructured) string { return "" })
		for _, u := range items {
			if _, ok := u.GetAnnotations()[trt.AnnotationDesiredHash]; ok {
				annotated++
			}
		}
	}
	t.Logf("trellis killed after applying %d of %d children", annotated, len(children))

	startTrellis(t, env)
	f.deleteAtEnd(t, dyn)
	f.waitActive(t, dyn, true)
	if ev := events.seen(); len(ev) > 0 {
		t.Errorf("children created or deleted: %s", strings.Join(ev, ", "))
	}
	after := childUIDs(t, dyn, ns)
	if fmt.Sprint(after) != fmt.Sprint(children) {
		t.Errorf("children changed:\n before %v\n after  %v", children, after)
	}
	if got := revisionsByRGD(t, dyn); fmt.Sprint(got) != fmt.Sprint(revs) {
		t.Errorf("GraphRevisions changed:\n before %v\n after  %v", revs, got)
	}
	if t.Failed() {
		if b, err := os.ReadFile(logPath); err == nil && len(b) > 6000 {
			t.Logf("killed trellis's log (tail):\n%s", b[len(b)-6000:])
		}
	}
}
