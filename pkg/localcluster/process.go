package localcluster

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// process is one running control-plane component in its own process group.
type process struct {
	name    string
	bin     string
	args    []string
	dir     string
	onExit  func(p *process)
	cmd     *exec.Cmd
	logPath string
	logFile *os.File
	exited  chan struct{}
	waitErr error
	// stopping is set before we signal the process, so its exit is not
	// reported as a failure.
	stopping atomic.Bool
}

// startProcess starts bin with args; its stdout and stderr go to logPath.
// onExit runs (in a goroutine) if the process exits without being stopped.
func startProcess(name, bin string, args []string, dir, logPath string, onExit func(p *process)) (*process, error) {
	lf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Stdout = lf
	cmd.Stderr = lf
	cmd.Env = os.Environ()
	cmd.SysProcAttr = &syscall.SysProcAttr{
		// Own process group: a terminal's Ctrl-C reaches trellis only, which
		// then stops the components in order; stop() signals the whole group.
		Setpgid: true,
		// If trellis itself dies (even by SIGKILL) the kernel kills the component.
		Pdeathsig: syscall.SIGKILL,
	}
	if err := cmd.Start(); err != nil {
		lf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{name: name, bin: bin, args: args, dir: dir, onExit: onExit, cmd: cmd, logPath: logPath, logFile: lf, exited: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		lf.Close()
		close(p.exited)
		if !p.stopping.Load() && onExit != nil {
			onExit(p)
		}
	}()
	return p, nil
}

func (p *process) running() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// exitError describes an unexpected exit with the most telling log line.
func (p *process) exitError() error {
	status := "exit status 0"
	if p.waitErr != nil {
		status = p.waitErr.Error()
	}
	msg := fmt.Sprintf("%s exited unexpectedly (%s)", p.name, status)
	var ee *exec.ExitError
	if errors.As(p.waitErr, &ee) && ee.ExitCode() == -1 {
		// Killed by a signal: its log says nothing about why.
		return fmt.Errorf("%s (log: %s)", msg, p.logPath)
	}
	if l := lastErrorLine(p.logPath); l != "" {
		msg += ": " + l
	}
	return fmt.Errorf("%s (log: %s)", msg, p.logPath)
}

// stop sends SIGTERM to the process group, then SIGKILL after grace.
func (p *process) stop(grace time.Duration) {
	p.stopping.Store(true)
	if !p.running() {
		return
	}
	pgid := p.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(grace):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-p.exited
	}
	// Anything the component left behind in its group goes too.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
}

var klogErr = regexp.MustCompile(`^[EF]\d{4} `)

// lastErrorLine returns the last line of a log that looks like an error, or
// else its last non-empty line, shortened.
func lastErrorLine(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	var last, lastErr string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if l == "" {
			continue
		}
		last = l
		ll := strings.ToLower(l)
		if klogErr.MatchString(l) || strings.Contains(ll, "error") ||
			strings.Contains(ll, "fatal") || strings.Contains(ll, "panic") || strings.Contains(ll, "failed") {
			lastErr = l
		}
	}
	l := lastErr
	if l == "" {
		l = last
	}
	if len(l) > 400 {
		l = l[:400] + "…"
	}
	return l
}
