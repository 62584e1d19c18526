// Package localaws runs a local AWS-compatible server next to the local
// cluster, so the ACK-compatible controllers work with no AWS account:
// moto_server, which serves IAM, STS, EC2, RDS, Secrets Manager, SQS, S3 and
// DynamoDB on one endpoint with its state in memory.
package localaws

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// Credentials and region the controllers use with the local server (moto
// accepts any key).
const (
	AccessKeyID     = "trellislocal"
	SecretAccessKey = "trellislocalsecret"
	Region          = "us-west-2"
	// AccountID is the account moto answers STS GetCallerIdentity with.
	AccountID = "123456789012"
)

// Command returns the command line that starts moto: $TRELLIS_MOTO, else
// moto_server on $PATH, else python3 -m moto.server; nil when none is there.
func Command() []string {
	if p := os.Getenv("TRELLIS_MOTO"); p != "" {
		return []string{p}
	}
	if p, err := exec.LookPath("moto_server"); err == nil {
		return []string{p}
	}
	for _, py := range []string{"python3", "python"} {
		if p, err := exec.LookPath(py); err == nil && exec.Command(p, "-c", "import moto.server").Run() == nil {
			return []string{p, "-m", "moto.server"}
		}
	}
	return nil
}

// ErrNotInstalled says how to get moto.
var ErrNotInstalled = errors.New("moto_server is not installed (looked at $TRELLIS_MOTO, $PATH and python3 -m moto.server): pip install 'moto[server]==5.2.1'")

// Server is a running moto_server.
type Server struct {
	// Endpoint is http://127.0.0.1:<port>.
	Endpoint string
	cmd      *exec.Cmd
	exited   chan struct{}
}

// Start starts moto_server on 127.0.0.1:port (0: a free port), writing its
// output to log, and waits until it answers.
func Start(ctx context.Context, port int, log io.Writer) (*Server, error) {
	args := Command()
	if args == nil {
		return nil, ErrNotInstalled
	}
	if port == 0 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		port = l.Addr().(*net.TCPAddr).Port
		l.Close()
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	cmd := exec.Command(args[0], append(args[1:], "-H", "127.0.0.1", "-p", fmt.Sprint(port))...)
	cmd.Stdout, cmd.Stderr = log, log
	// The server must not outlive trellis, even after a SIGKILL.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting moto_server: %w", err)
	}
	s := &Server{Endpoint: "http://" + addr, cmd: cmd, exited: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(s.exited) }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(s.Endpoint + "/moto-api/data.json")
		if err == nil {
			resp.Body.Close()
			return s, nil
		}
		select {
		case <-s.exited:
			return nil, fmt.Errorf("moto_server exited before answering on %s", addr)
		case <-ctx.Done():
			s.Stop()
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.Stop()
			return nil, fmt.Errorf("moto_server did not answer on %s within 60s", addr)
		}
	}
}

// Done is closed when the server exits.
func (s *Server) Done() <-chan struct{} { return s.exited }

// Stop kills the server and waits for it to exit.
func (s *Server) Stop() {
	if s.cmd.Process != nil {
		_ = s.cmd.Process.Kill()
	}
	<-s.exited
}
