package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// interruptHelperEnv makes the test binary act as a command that stops
// slowly after its first Ctrl-C (see TestMain).
const interruptHelperEnv = "TRELLIS_TEST_INTERRUPT_HELPER"

// interruptHelper waits for the first interrupt, then takes its time to
// stop, as `trellis bench` does while it cleans up.
func interruptHelper() {
	ctx, stop := interruptContext()
	defer stop()
	fmt.Println("ready")
	<-ctx.Done()
	fmt.Println("stopping")
	time.Sleep(30 * time.Second)
	os.Exit(0)
}

// TestSecondInterruptEndsAtOnce: the first Ctrl-C starts an orderly stop;
// a second one ends the process by the signal instead of waiting for it.
func TestSecondInterruptEndsAtOnce(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), interruptHelperEnv+"=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(out)
	expect := func(want string) {
		t.Helper()
		if !lines.Scan() || lines.Text() != want {
			t.Fatalf("helper said %q, want %q (%v)", lines.Text(), want, lines.Err())
		}
	}
	expect("ready")
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	expect("stopping")
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		t.Fatalf("the helper finished its orderly stop after the second Ctrl-C: %v", err)
	}
	if ws, ok := exit.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGINT {
		t.Fatalf("the helper ended with %v, want killed by SIGINT", err)
	}
}
