package localcluster

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"time"
)

// NodeName is the name of fake node i.
func NodeName(i int) string { return fmt.Sprintf("kwok-node-%d", i) }

// createNodes registers the fake nodes kwok manages and waits until they are Ready.
func (c *Cluster) createNodes(ctx context.Context) error {
	client, err := c.httpsClient()
	if err != nil {
		return err
	}
	var kwok *process
	for _, p := range c.procs {
		if p.name == "kwok" {
			kwok = p
		}
	}
	resources := map[string]string{"cpu": "1000", "memory": "1Ti", "pods": "10000", "ephemeral-storage": "1Ti"}
	for i := 0; i < c.opts.Nodes; i++ {
		name := NodeName(i)
		node := map[string]any{
			"apiVersion": "v1",
			"kind":       "Node",
			"metadata": map[string]any{
				"name":        name,
				"annotations": map[string]string{FakeNodeAnnotation: "fake", "node.alpha.kubernetes.io/ttl": "0"},
				"labels": map[string]string{
					"kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
					"kubernetes.io/arch": runtime.GOARCH, "type": "kwok",
				},
			},
			"status": map[string]any{
				"allocatable": resources,
				"capacity":    resources,
				"nodeInfo": map[string]string{
					"architecture": runtime.GOARCH, "operatingSystem": "linux",
					"kubeletVersion": "fake", "kubeProxyVersion": "fake",
				},
			},
		}
		body, _ := json.Marshal(node)
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, c.Host+"/api/v1/nodes", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			return fmt.Errorf("create fake node %s: %w", name, err)
		}
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusConflict {
			return fmt.Errorf("create fake node %s: %d %s", name, resp.StatusCode, msg)
		}
		if err := c.waitFor(ctx, kwok, "kwok node "+name, func() error { return nodeReady(client, c.Host, name) }); err != nil {
			return err
		}
	}
	fmt.Fprintf(c.log, "trellis: %d fake node(s) ready (kwok)\n", c.opts.Nodes)
	return nil
}

func nodeReady(client *http.Client, host, name string) error {
	resp, err := client.Get(host + "/api/v1/nodes/" + name)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var n struct {
		Status struct {
			Conditions []struct{ Type, Status string }
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&n); err != nil {
		return err
	}
	for _, cond := range n.Status.Conditions {
		if cond.Type == "Ready" && cond.Status == "True" {
			return nil
		}
	}
	return fmt.Errorf("node %s not Ready yet", name)
}

var _ = time.Second
