package bench

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	httppprof "net/http/pprof"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// Controller is a running trellis controller for one trellis phase.
type Controller interface {
	// Pid of the controller process; 0 when it runs in this process (then
	// memory and CPU are not reported).
	Pid() int
	// MetricsURL of the controller's /metrics, or "".
	MetricsURL() string
	// StartProfile/StopProfile bracket a CPU profile (no-ops when profiling
	// is off).
	StartProfile(path string) error
	StopProfile() error
	// HeapProfile writes a heap profile (no-op when profiling is off).
	HeapProfile(path string) error
	// Stop ends the controller and waits for it.
	Stop() error
}

// StartController starts trellis's controllers with the given number of
// instance workers against the cluster of kubeconfig.
type StartController func(ctx context.Context, kubeconfig string, workers int, logPath string) (Controller, error)

// ProcessController runs `<binary> controller` as a separate process, so its
// memory and CPU can be read from /proc. With profile set it runs the hidden
// `<binary> bench controller`, which adds a profiling endpoint.
func ProcessController(binary string, profile bool, extraArgs, env []string) StartController {
	return func(ctx context.Context, kubeconfig string, workers int, logPath string) (Controller, error) {
		ports, err := freePorts(3)
		if err != nil {
			return nil, err
		}
		p := &procController{
			metrics: "127.0.0.1:" + strconv.Itoa(ports[0]),
			probe:   "127.0.0.1:" + strconv.Itoa(ports[1]),
		}
		args := []string{"controller"}
		if profile {
			p.pprof = "127.0.0.1:" + strconv.Itoa(ports[2])
			args = []string{"bench", "controller", "--pprof-bind-address=" + p.pprof}
		}
		args = append(args,
			"--kubeconfig="+kubeconfig,
			"--metrics-bind-address="+p.metrics,
			"--health-probe-bind-address="+p.probe,
			"--dynamic-controller-concurrent-reconciles="+strconv.Itoa(workers),
		)
		args = append(args, extraArgs...)
		if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
			return nil, err
		}
		logf, err := os.Create(logPath)
		if err != nil {
			return nil, err
		}
		p.cmd = exec.Command(binary, args...)
		p.cmd.Stdout, p.cmd.Stderr = logf, logf
		if len(env) > 0 {
			p.cmd.Env = append(os.Environ(), env...)
		}
		p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := p.cmd.Start(); err != nil {
			logf.Close()
			return nil, fmt.Errorf("start controller: %w", err)
		}
		p.exited = make(chan struct{})
		go func() { p.waitErr = p.cmd.Wait(); logf.Close(); close(p.exited) }()
		deadline := time.Now().Add(2 * time.Minute)
		for {
			if httpGet(ctx, "http://"+p.probe+"/readyz") == nil {
				return p, nil
			}
			select {
			case <-p.exited:
				return nil, fmt.Errorf("controller exited: %v (log: %s)", p.waitErr, logPath)
			case <-ctx.Done():
				p.Stop()
				return nil, ctx.Err()
			case <-time.After(200 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				p.Stop()
				return nil, fmt.Errorf("controller not ready after 2m (log: %s)", logPath)
			}
		}
	}
}

type procController struct {
	cmd                   *exec.Cmd
	metrics, probe, pprof string
	exited                chan struct{}
	waitErr               error
	stopOnce              sync.Once
}

func (p *procController) Pid() int           { return p.cmd.Process.Pid }
func (p *procController) MetricsURL() string { return "http://" + p.metrics + "/metrics" }

func (p *procController) StartProfile(path string) error {
	if p.pprof == "" {
		return nil
	}
	return httpGet(context.Background(), "http://"+p.pprof+"/bench/cpu/start?path="+path)
}

func (p *procController) StopProfile() error {
	if p.pprof == "" {
		return nil
	}
	return httpGet(context.Background(), "http://"+p.pprof+"/bench/cpu/stop")
}

func (p *procController) HeapProfile(path string) error {
	if p.pprof == "" {
		return nil
	}
	body, err := httpBody(context.Background(), "http://"+p.pprof+"/debug/pprof/heap")
	if err != nil {
		return err
	}
	return os.WriteFile(path, []byte(body), 0o644)
}

func (p *procController) Stop() error {
	p.stopOnce.Do(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(30 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
	})
	return nil
}

func httpGet(ctx context.Context, url string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %d %s", url, resp.StatusCode, body)
	}
	return nil
}

func freePorts(n int) ([]int, error) {
	var out []int
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		out = append(out, l.Addr().(*net.TCPAddr).Port)
	}
	return out, nil
}

// ProfileMux is what the hidden `trellis bench controller` serves on
// --pprof-bind-address: net/http/pprof under /debug/pprof/ (the heap
// profiles) and CPU profiling that the benchmark starts and stops around a
// phase, /bench/cpu/start?path=<file> and /bench/cpu/stop.
func ProfileMux() *http.ServeMux {
	var (
		mu  sync.Mutex
		out *os.File
	)
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", httppprof.Index)
	mux.HandleFunc("/debug/pprof/profile", httppprof.Profile)
	mux.HandleFunc("/bench/cpu/start", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if out != nil {
			http.Error(w, "profile already running", http.StatusConflict)
			return
		}
		f, err := os.Create(r.URL.Query().Get("path"))
		if err == nil {
			if err = pprof.StartCPUProfile(f); err != nil {
				f.Close()
			}
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		out = f
	})
	mux.HandleFunc("/bench/cpu/stop", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if out == nil {
			http.Error(w, "no profile running", http.StatusConflict)
			return
		}
		pprof.StopCPUProfile()
		err := out.Close()
		out = nil
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})
	return mux
}
