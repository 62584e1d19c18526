// Package localcluster starts a real, local Kubernetes control plane: etcd,
// kube-apiserver and optionally kube-controller-manager, kube-scheduler and
// kwok with fake nodes, each as its own process on loopback ports. The
// components come from one multi-call binary (tools/localcluster) that is
// built into a cache directory on first use; see EnsureBinary.
package localcluster

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"k8s.io/client-go/rest"
)

const (
	serviceCIDR = "10.96.0.0/12"
	serviceIP   = "10.96.0.1"
	podCIDR     = "10.244.0.0/16"
	// FakeNodeAnnotation marks the nodes kwok manages.
	FakeNodeAnnotation = "kwok.x-k8s.io/node"
)

// Options selects the components of a control plane.
type Options struct {
	// Dir holds certificates, the kubeconfig and component logs. Empty means a
	// new temporary directory that Stop removes.
	Dir string
	// DataDir keeps etcd's data and the certificates between runs. Empty
	// means inside Dir (so a run starts clean unless Dir is reused).
	DataDir string
	// ControllerManager runs kube-controller-manager (garbage collection,
	// namespace deletion, Deployments → ReplicaSets → Pods, service accounts).
	ControllerManager bool
	// Profiling serves the apiserver's /debug/pprof (off by default).
	Profiling bool
	// Scheduler runs kube-scheduler.
	Scheduler bool
	// Kwok runs kwok and creates Nodes fake nodes whose pods become Ready
	// without containers.
	Kwok bool
	// Nodes is the number of fake nodes (default 1 when Kwok is set).
	Nodes int
	// APIServerPort fixes the apiserver's port on 127.0.0.1; 0 picks a free one.
	APIServerPort int
	// Log receives progress lines (building, starting, ready). Nil discards.
	Log io.Writer
	// Binary uses this multi-call binary instead of EnsureBinary's.
	Binary *Binary
	// StartTimeout bounds the start of each component (default 2 minutes).
	StartTimeout time.Duration
	// FeatureGates are passed to kube-apiserver's --feature-gates, e.g.
	// {"ShardedListAndWatch": true}.
	FeatureGates map[string]bool
}

// Minimal is etcd + kube-apiserver + kube-controller-manager: fast, with
// garbage collection and namespace deletion.
func Minimal() Options { return Options{ControllerManager: true} }

// Full adds kube-scheduler, kwok and one fake node, so Deployments get
// running, ready pods.
func Full() Options { return Options{ControllerManager: true, Scheduler: true, Kwok: true, Nodes: 1} }

// Cluster is a running local control plane.
type Cluster struct {
	// Dir holds pki/, logs/ and kubeconfig.
	Dir string
	// Kubeconfig is the path of an admin kubeconfig.
	Kubeconfig string
	// Host is the apiserver URL (https://127.0.0.1:<port>).
	Host string
	// Config is an admin rest.Config (client-side rate limits high).
	Config *rest.Config
	// Binary is the multi-call binary the components run from.
	Binary Binary
	// EtcdURL is etcd's client URL (http://127.0.0.1:<port>).
	EtcdURL string

	opts      Options
	pki       pki
	removeDir bool
	log       io.Writer

	mu    sync.Mutex
	procs []*process
	// ready checks, by component, whether a (re)started one serves.
	ready   map[string]func() error
	stopped bool
	failed  error // a start failure or a component's unexpected exit
	done    chan struct{}
	err     error
}

// Start builds (if needed) and starts a control plane, and returns once the
// apiserver is ready and, with Kwok, the fake nodes are Ready. On failure
// everything already started is stopped again, and the error is one line
// naming the component that failed. Cancelling ctx aborts the start.
func Start(ctx context.Context, opts Options) (c *Cluster, err error) {
	if opts.Log == nil {
		opts.Log = io.Discard
	}
	if opts.StartTimeout == 0 {
		opts.StartTimeout = 2 * time.Minute
	}
	if opts.Kwok && opts.Nodes == 0 {
		opts.Nodes = 1
	}
	c = &Cluster{opts: opts, log: opts.Log, done: make(chan struct{}), ready: map[string]func() error{}}

	// Check a fixed port before spending time on anything else.
	if opts.APIServerPort != 0 {
		if err := portFree(opts.APIServerPort); err != nil {
			return nil, fmt.Errorf("apiserver port 127.0.0.1:%d is not available: %v", opts.APIServerPort, err)
		}
	}

	if opts.Binary != nil {
		c.Binary = *opts.Binary
	} else {
		b, err := EnsureBinary(ctx, opts.Log)
		if err != nil {
			return nil, fmt.Errorf("local control plane binary: %w", err)
		}
		c.Binary = b
	}

	c.Dir = opts.Dir
	if c.Dir == "" {
		d, err := os.MkdirTemp("", "trellis-cluster-")
		if err != nil {
			return nil, err
		}
		c.Dir = d
		c.removeDir = true
	}
	defer func() {
		if err != nil {
			if ctx.Err() != nil {
				err = fmt.Errorf("start of the local control plane interrupted")
			} else {
				c.mu.Lock()
				c.failed = err
				c.mu.Unlock()
			}
			c.Stop()
		}
	}()
	for _, d := range []string{c.Dir, filepath.Join(c.Dir, "logs")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return c, err
		}
	}
	dataDir := opts.DataDir
	if dataDir == "" {
		dataDir = c.Dir
	}
	if dataDir, err = filepath.Abs(dataDir); err != nil {
		return c, err
	}
	c.pki, err = ensurePKI(filepath.Join(dataDir, "pki"))
	if err != nil {
		return c, fmt.Errorf("certificates: %w", err)
	}

	ports, err := freePorts(2)
	if err != nil {
		return c, err
	}
	etcdPort, peerPort := ports[0], ports[1]
	apiPort := opts.APIServerPort
	if apiPort == 0 {
		p, err := freePorts(1)
		if err != nil {
			return c, err
		}
		apiPort = p[0]
	}
	c.Host = "https://127.0.0.1:" + strconv.Itoa(apiPort)
	c.Kubeconfig = filepath.Join(c.Dir, "kubeconfig")
	if err := writeKubeconfig(c.Kubeconfig, c.Host, c.pki); err != nil {
		return c, err
	}
	c.Config = &rest.Config{
		Host: c.Host,
		TLSClientConfig: rest.TLSClientConfig{
			CAFile: c.pki.CACert, CertFile: c.pki.AdminCert, KeyFile: c.pki.AdminKey,
		},
		QPS:   1000,
		Burst: 2000,
	}

	// etcd
	etcdURL := "http://127.0.0.1:" + strconv.Itoa(etcdPort)
	peerURL := "http://127.0.0.1:" + strconv.Itoa(peerPort)
	etcdArgs := []string{
		"--name=trellis",
		"--data-dir=" + filepath.Join(dataDir, "etcd"),
		"--listen-client-urls=" + etcdURL,
		"--advertise-client-urls=" + etcdURL,
		"--listen-peer-urls=" + peerURL,
		"--initial-advertise-peer-urls=" + peerURL,
		"--initial-cluster=trellis=" + peerURL,
		"--log-level=warn",
		"--quota-backend-bytes=8589934592",
	}
	if opts.DataDir == "" {
		// Throw-away data: fsync buys nothing and costs most of etcd's latency.
		etcdArgs = append(etcdArgs, "--unsafe-no-fsync")
	}
	etcd, err := c.start(ctx, "etcd", etcdArgs)
	if err != nil {
		return c, err
	}
	c.EtcdURL = etcdURL
	plain := &http.Client{Timeout: 2 * time.Second}
	c.ready["etcd"] = func() error { return httpOK(plain, etcdURL+"/health", "true") }
	if err := c.waitFor(ctx, etcd, "etcd", c.ready["etcd"]); err != nil {
		return c, err
	}
	fmt.Fprintf(c.log, "trellis: etcd ready on %s\n", etcdURL)

	// kube-apiserver
	apiArgs := []string{
		"--etcd-servers=" + etcdURL,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(apiPort),
		"--tls-cert-file=" + c.pki.ServingCert,
		"--tls-private-key-file=" + c.pki.ServingKey,
		"--client-ca-file=" + c.pki.CACert,
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + c.pki.SAPublicKey,
		"--service-account-signing-key-file=" + c.pki.SAPrivateKey,
		"--service-cluster-ip-range=" + serviceCIDR,
		"--authorization-mode=RBAC",
		"--allow-privileged=true",
		"--profiling=" + strconv.FormatBool(opts.Profiling),
		// Stop quickly: nothing load-balances in front of a local apiserver.
		"--shutdown-delay-duration=0s",
		"--shutdown-watch-termination-grace-period=0s",
		// Nothing here needs these, and they slow the start or add requests.
		"--disable-admission-plugins=StorageObjectInUseProtection,PersistentVolumeClaimResize,DefaultStorageClass,DefaultIngressClass,RuntimeClass,CertificateApproval,CertificateSigning,CertificateSubjectRestriction,ClusterTrustBundleAttest,NodeRestriction",
		"--event-ttl=1h",
		"--v=1",
	}
	if gates := featureGates(opts.FeatureGates); gates != "" {
		apiArgs = append(apiArgs, "--feature-gates="+gates)
	}
	api, err := c.start(ctx, "kube-apiserver", apiArgs)
	if err != nil {
		return c, err
	}
	tlsClient, err := c.httpsClient()
	if err != nil {
		return c, err
	}
	c.ready["kube-apiserver"] = func() error { return httpOK(tlsClient, c.Host+"/readyz", "ok") }
	if err := c.waitFor(ctx, api, "kube-apiserver", c.ready["kube-apiserver"]); err != nil {
		return c, err
	}
	fmt.Fprintf(c.log, "trellis: kube-apiserver ready on %s\n", c.Host)

	componentKubeconfig := c.Kubeconfig
	if opts.ControllerManager {
		args := []string{
			"--kubeconfig=" + componentKubeconfig,
			"--authentication-kubeconfig=" + componentKubeconfig,
			"--authorization-kubeconfig=" + componentKubeconfig,
			"--secure-port=0",
			"--leader-elect=false",
			"--service-account-private-key-file=" + c.pki.SAPrivateKey,
			"--root-ca-file=" + c.pki.CACert,
			"--cluster-signing-cert-file=" + c.pki.CACert,
			"--cluster-signing-key-file=" + c.pki.CAKey,
			"--service-cluster-ip-range=" + serviceCIDR,
			"--use-service-account-credentials=false",
			"--kube-api-qps=500",
			"--kube-api-burst=1000",
			"--concurrent-gc-syncs=50",
			"--concurrent-namespace-syncs=20",
			"--v=1",
		}
		if _, err := c.start(ctx, "kube-controller-manager", args); err != nil {
			return c, err
		}
	}
	if opts.Scheduler {
		args := []string{
			"--kubeconfig=" + componentKubeconfig,
			"--authentication-kubeconfig=" + componentKubeconfig,
			"--authorization-kubeconfig=" + componentKubeconfig,
			"--secure-port=0",
			"--leader-elect=false",
			"--v=1",
		}
		if _, err := c.start(ctx, "kube-scheduler", args); err != nil {
			return c, err
		}
	}
	if opts.Kwok {
		args := []string{
			"--kubeconfig=" + componentKubeconfig,
			"--manage-all-nodes=false",
			"--manage-nodes-with-annotation-selector=" + FakeNodeAnnotation + "=fake",
			"--cidr=" + podCIDR,
			"--node-ip=127.0.0.1",
			"--node-lease-duration-seconds=40",
		}
		for _, s := range c.Binary.StageFiles() {
			args = append(args, "-c", s)
		}
		if _, err := c.start(ctx, "kwok", args); err != nil {
			return c, err
		}
		if err := c.createNodes(ctx); err != nil {
			return c, err
		}
	}
	// A component that died right after starting fails the start too.
	if err := c.Err(); err != nil {
		return c, err
	}
	return c, nil
}

// start starts one component from the multi-call binary.
func (c *Cluster) start(ctx context.Context, name string, args []string) (*process, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return nil, errors.New("cluster stopped")
	}
	sub := strings.TrimPrefix(name, "kube-")
	p, err := startProcess(name, c.Binary.Path, append([]string{sub}, args...), c.Dir,
		filepath.Join(c.Dir, "logs", name+".log"), c.fail)
	if err != nil {
		return nil, err
	}
	c.procs = append(c.procs, p)
	return p, nil
}

// fail records the first unexpected exit of a component.
func (c *Cluster) fail(p *process) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped || c.err != nil {
		return
	}
	c.err = p.exitError()
	c.failed = c.err
	close(c.done)
}

// Done is closed when a component exits unexpectedly; Err then says which.
func (c *Cluster) Done() <-chan struct{} { return c.done }

// Err is the first unexpected component exit, or nil.
func (c *Cluster) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// LogFile is the log of a component ("etcd", "kube-apiserver",
// "kube-controller-manager", "kube-scheduler", "kwok").
func (c *Cluster) LogFile(component string) string {
	return filepath.Join(c.Dir, "logs", component+".log")
}

// Stop stops all components (newest first; SIGTERM, then SIGKILL after a few
// seconds) and removes the temporary directory if Start created it, unless a
// component failed (its logs stay for inspection). It is safe to call more
// than once.
func (c *Cluster) Stop() {
	c.mu.Lock()
	if c.stopped {
		c.mu.Unlock()
		return
	}
	c.stopped = true
	procs := c.procs
	failed := c.failed
	c.mu.Unlock()
	for _, p := range procs {
		p.stopping.Store(true)
	}
	// Clients of the apiserver first, all at once; then the apiserver; then etcd.
	var wg sync.WaitGroup
	for _, p := range procs {
		if p.name == "etcd" || p.name == "kube-apiserver" {
			continue
		}
		wg.Add(1)
		go func(p *process) { defer wg.Done(); p.stop(5 * time.Second) }(p)
	}
	wg.Wait()
	for _, name := range []string{"kube-apiserver", "etcd"} {
		for _, p := range procs {
			if p.name == name {
				p.stop(10 * time.Second)
			}
		}
	}
	// A temporary directory goes, unless a component failed: then its logs
	// are what the user needs.
	if c.removeDir && c.Dir != "" && failed == nil {
		os.RemoveAll(c.Dir)
	}
}

// waitFor polls ready until it succeeds, the process exits, the start
// timeout passes or ctx ends.
func (c *Cluster) waitFor(ctx context.Context, p *process, what string, ready func() error) error {
	deadline := time.Now().Add(c.opts.StartTimeout)
	var last error
	for {
		if !p.running() {
			return fmt.Errorf("%s failed to start: %w", what, p.exitError())
		}
		if last = ready(); last == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %s: %v (log: %s)", what, c.opts.StartTimeout, last, p.logPath)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-p.exited:
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (c *Cluster) httpsClient() (*http.Client, error) {
	ca, err := os.ReadFile(c.pki.CACert)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	cert, err := tls.LoadX509KeyPair(c.pki.AdminCert, c.pki.AdminKey)
	if err != nil {
		return nil, err
	}
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}},
	}}, nil
}

func httpOK(client *http.Client, url, want string) error {
	resp, err := client.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), want) {
		return fmt.Errorf("%s: %d %s", url, resp.StatusCode, strings.TrimSpace(string(body)))
	}
	return nil
}

// freePorts reserves n distinct free loopback ports. The listeners are closed
// before returning, so a port could in theory be taken again before the
// component binds it; the component then fails to start with a clear error.
func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var ports []int
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("no free port on 127.0.0.1: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func portFree(port int) error {
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		return errors.Unwrap(errors.Unwrap(err))
	}
	return l.Close()
}

func writeKubeconfig(path, host string, p pki) error {
	data := map[string]string{}
	for k, f := range map[string]string{"ca": p.CACert, "cert": p.AdminCert, "key": p.AdminKey} {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		data[k] = base64.StdEncoding.EncodeToString(b)
	}
	cfg := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: trellis
  cluster:
    server: %s
    certificate-authority-data: %s
users:
- name: trellis-admin
  user:
    client-certificate-data: %s
    client-key-data: %s
contexts:
- name: trellis
  context:
    cluster: trellis
    user: trellis-admin
current-context: trellis
`, host, data["ca"], data["cert"], data["key"])
	return writeFileAtomic(path, []byte(cfg), 0o600)
}

// Pids returns the process ids of the running components by name.
func (c *Cluster) Pids() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]int{}
	for _, p := range c.procs {
		if p.running() {
			out[p.name] = p.cmd.Process.Pid
		}
	}
	return out
}

// featureGates is gates as a --feature-gates value (sorted: stable args).
func featureGates(gates map[string]bool) string {
	var out []string
	for k, v := range gates {
		out = append(out, k+"="+strconv.FormatBool(v))
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}
