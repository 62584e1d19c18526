package demo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

const fieldManager = "trellis-demo"

// readObjects reads every document of a YAML file.
func readObjects(path string) ([]*unstructured.Unstructured, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var out []*unstructured.Unstructured
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if len(u.Object) > 0 {
			out = append(out, u)
		}
	}
}

// apply applies every object of a file under Examples.
func (d *runner) apply(ctx context.Context, file string) ([]*unstructured.Unstructured, error) {
	objs, err := readObjects(d.opts.Examples + "/" + file)
	if err != nil {
		return nil, err
	}
	for _, o := range objs {
		if err := d.applyObject(ctx, o); err != nil {
			return nil, err
		}
	}
	return objs, nil
}

// applyObject server-side applies o, retrying while its kind is not served
// yet (an RGD's CRD appears a moment after the RGD is Active).
func (d *runner) applyObject(ctx context.Context, o *unstructured.Unstructured) error {
	err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, d.opts.Timeout, true, func(ctx context.Context) (bool, error) {
		if o.GetNamespace() == "" {
			namespaced, err := d.c.IsObjectNamespaced(o)
			if err != nil {
				if meta.IsNoMatchError(err) {
					return false, nil
				}
				return false, err
			}
			if namespaced {
				o.SetNamespace("default")
			}
		}
		err := d.c.Patch(ctx, o.DeepCopy(), client.Apply, client.FieldOwner(fieldManager), client.ForceOwnership)
		if meta.IsNoMatchError(err) || apierrors.IsNotFound(err) {
			return false, nil
		}
		return err == nil, err
	})
	if err != nil {
		return fmt.Errorf("applying %s: %w", describe(o), err)
	}
	d.applied = append(d.applied, o)
	return nil
}

func (d *runner) get(ctx context.Context, o *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	live := &unstructured.Unstructured{}
	live.SetGroupVersionKind(o.GroupVersionKind())
	err := d.c.Get(ctx, client.ObjectKeyFromObject(o), live)
	return live, err
}

func (d *runner) waitRGDActive(ctx context.Context, rgd *unstructured.Unstructured) error {
	var state string
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, d.opts.Timeout, true, func(ctx context.Context) (bool, error) {
		live, err := d.get(ctx, rgd)
		if err != nil {
			return false, nil
		}
		state, _, _ = unstructured.NestedString(live.Object, "status", "state")
		return state == "Active", nil
	})
	if err != nil {
		return fmt.Errorf("RGD %s is %q, not Active: %w", rgd.GetName(), state, err)
	}
	return nil
}

// waitDone waits until o is ACTIVE (an instance) or synced (an ACK
// resource) and returns the outcome and the last object read.
func (d *runner) waitDone(ctx context.Context, o *unstructured.Unstructured, w waitKind) (string, *unstructured.Unstructured) {
	var live *unstructured.Unstructured
	outcome := "missing"
	_ = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, d.opts.Timeout, true, func(ctx context.Context) (bool, error) {
		l, err := d.get(ctx, o)
		if err != nil {
			return false, nil
		}
		live = l
		if w == waitSynced {
			outcome = "NotSynced"
			if conditionTrue(l, "ACK.ResourceSynced") {
				outcome = "Synced"
				return true, nil
			}
			return false, nil
		}
		outcome, _, _ = unstructured.NestedString(l.Object, "status", "state")
		return outcome == "ACTIVE", nil
	})
	return outcome, live
}

func conditionTrue(o *unstructured.Unstructured, typ string) bool {
	conds, _, _ := unstructured.NestedSlice(o.Object, "status", "conditions")
	for _, c := range conds {
		if m, ok := c.(map[string]any); ok && m["type"] == typ && m["status"] == "True" {
			return true
		}
	}
	return false
}

// deleteAll deletes what the demo applied (not the RGDs), newest first, and
// waits for each to be gone: an instance goes once trellis has deleted its
// children in reverse dependency order, an ACK resource once its AWS resource
// is deleted.
func (d *runner) deleteAll(ctx context.Context) error {
	start := time.Now()
	for i := len(d.applied) - 1; i >= 0; i-- {
		o := d.applied[i]
		if o.GetKind() == "ResourceGraphDefinition" {
			continue
		}
		begin := time.Now()
		if err := d.c.Delete(ctx, o.DeepCopy()); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("deleting %s: %w", describe(o), err)
		}
		err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, d.opts.Timeout, true, func(ctx context.Context) (bool, error) {
			_, err := d.get(ctx, o)
			return apierrors.IsNotFound(err), nil
		})
		if err != nil {
			return fmt.Errorf("%s was not deleted within %s", describe(o), d.opts.Timeout)
		}
		fmt.Fprintf(d.opts.Out, "  deleted %-36s %6s\n", describe(o), time.Since(begin).Round(100*time.Millisecond))
	}
	fmt.Fprintf(d.opts.Out, "demo: everything deleted (%s)\n", time.Since(start).Round(100*time.Millisecond))
	return nil
}
