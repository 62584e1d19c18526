package bench

import (
	"context"

	"os"
	"path/filepath"
	"strconv"
	"time"
)

// apiserverProfile starts a CPU profile of the kube-apiserver for d (its
// /debug/pprof endpoint) and writes it to ProfileDir/<name>.pprof. It returns
// a function that waits for the profile; a no-op without ProfileDir.
func (r *runner) apiserverProfile(ctx context.Context, name string, d time.Duration) (wait func()) {
	if r.o.ProfileDir == "" {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		body, err := r.rest.Get().AbsPath("/debug/pprof/profile").Param("seconds", strconv.Itoa(int(d.Seconds()))).Timeout(d + time.Minute).DoRaw(ctx)
		if err == nil {
			err = os.MkdirAll(r.o.ProfileDir, 0o755)
		}
		if err == nil {
			err = os.WriteFile(filepath.Join(r.o.ProfileDir, name+".pprof"), body, 0o644)
		}
		if err != nil {
			r.logf("apiserver profile %s: %v", name, err)
		}
	}()
	return func() { <-done }
}

// profileSeconds is how long the apiserver is profiled in each phase: long
// enough to be representative, short enough to end inside the phase at N=1000.
const profileSeconds = 8 * time.Second
