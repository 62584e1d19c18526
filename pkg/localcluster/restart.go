package localcluster

import (
	"context"
	"fmt"
	"time"
)

// StopComponent stops one running component (SIGTERM, then SIGKILL after
// grace) without counting its exit as a failure; StartComponent brings it
// back with the same arguments, ports and data. Chaos runs use the pair to
// take etcd or kube-apiserver away from a working cluster.
func (c *Cluster) StopComponent(name string, grace time.Duration) error {
	p, err := c.component(name)
	if err != nil {
		return err
	}
	p.stop(grace)
	return nil
}

// StartComponent starts a component stopped by StopComponent again and waits
// until it serves (etcd: /health, kube-apiserver: /readyz; the others as
// soon as they run).
func (c *Cluster) StartComponent(ctx context.Context, name string) error {
	old, err := c.component(name)
	if err != nil {
		return err
	}
	if old.running() {
		return fmt.Errorf("%s is running", name)
	}
	p, err := startProcess(old.name, old.bin, old.args, old.dir, old.logPath, old.onExit)
	if err != nil {
		return err
	}
	c.mu.Lock()
	for i, q := range c.procs {
		if q == old {
			c.procs[i] = p
		}
	}
	stopped := c.stopped
	ready := c.ready[name]
	c.mu.Unlock()
	if stopped {
		p.stop(time.Second)
		return fmt.Errorf("cluster stopped")
	}
	if ready == nil {
		return nil
	}
	return c.waitFor(ctx, p, name, ready)
}

// RestartComponent stops a component, waits down, and starts it again.
func (c *Cluster) RestartComponent(ctx context.Context, name string, down time.Duration) error {
	if err := c.StopComponent(name, 10*time.Second); err != nil {
		return err
	}
	select {
	case <-ctx.Done():
	case <-time.After(down):
	}
	return c.StartComponent(ctx, name)
}

func (c *Cluster) component(name string) (*process, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range c.procs {
		if p.name == name {
			return p, nil
		}
	}
	return nil, fmt.Errorf("no component %q in this cluster", name)
}
