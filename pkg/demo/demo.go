// Package demo runs the seed demo: it applies the example RGDs, ACK objects
// and instances (examples/) to a cluster whose ACK controllers talk to a
// local AWS (`trellis up --aws-local`), waits until every instance is ACTIVE
// and reports the time each took and the ARNs and endpoints in its status.
// With Delete it then deletes everything again and checks that the local AWS
// is left as it was found.
package demo

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Options configures a demo run.
type Options struct {
	// Examples is the examples folder (the repository's examples/).
	Examples string
	// AWSEndpoint is the local AWS endpoint (moto), for the bucket that
	// S3BucketAdopt adopts and the check after Delete.
	AWSEndpoint string
	// Timeout bounds each wait.
	Timeout time.Duration
	// Delete deletes the instances again, in reverse order, and checks that
	// nothing is left in AWS.
	Delete bool
	Out    io.Writer
}

// step is one thing the demo applies and waits for.
type step struct {
	// files, relative to Examples, applied together.
	files []string
	// wait is what "done" means for the objects of the last file.
	wait waitKind
	// prepare runs before the files are applied (e.g. creating the bucket
	// that is adopted, or filling in ids from an earlier step).
	prepare func(ctx context.Context, d *runner, objs []*unstructured.Unstructured) error
}

type waitKind int

const (
	waitActive waitKind = iota // kro instance: status.state ACTIVE
	waitSynced                 // ACK resource: ACK.ResourceSynced True
)

// rgdFiles are every RGD of the examples; trellis activates them in any order.
var rgdFiles = []string{
	"webapp/rgd.yaml", "s3bucket/rgd.yaml", "s3bucketadopt/rgd.yaml", "cartsstack/rgd.yaml",
	"application/rgd.yaml", "dbwebstack/network-rgd.yaml", "dbwebstack/rds-rgd.yaml",
	"dbwebstack/podidentity-rgd.yaml", "dbwebstack/webapp-rds-rgd.yaml", "dbwebstack/db-webstack-rgd.yaml",
}

func steps() []step {
	return []step{
		{files: []string{"ack-bucket/bucket.yaml"}, wait: waitSynced},
		{files: []string{"dynamodb-table/table.yaml"}, wait: waitSynced},
		{files: []string{"webapp/instance.yaml"}},
		{files: []string{"s3bucket/instance.yaml"}},
		{files: []string{"s3bucketadopt/instance.yaml"}, prepare: createAdoptedBucket},
		{files: []string{"cartsstack/instance.yaml"}},
		{files: []string{"application/instance.yaml"}},
		{files: []string{"dbwebstack/network-instance.yaml"}},
		{files: []string{"dbwebstack/instance.yaml"}, prepare: fillNetwork},
	}
}

type runner struct {
	opts    Options
	c       client.Client
	applied []*unstructured.Unstructured // in order, for Delete
	results []result
	// adoptedBuckets were created in AWS by the demo, for S3BucketAdopt.
	adoptedBuckets []string
}

type result struct {
	obj      *unstructured.Unstructured
	took     time.Duration
	outcome  string
	findings []string
}

// Run runs the demo against the cluster of cfg.
func Run(ctx context.Context, cfg *rest.Config, opts Options) error {
	if opts.Out == nil {
		opts.Out = os.Stdout
	}
	if opts.Timeout == 0 {
		opts.Timeout = 3 * time.Minute
	}
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		return err
	}
	d := &runner{opts: opts, c: c}
	var before map[string]bool
	if opts.Delete && opts.AWSEndpoint != "" {
		if before, err = awsInventory(ctx, opts.AWSEndpoint); err != nil {
			return fmt.Errorf("reading the local AWS's inventory: %w", err)
		}
	}
	start := time.Now()
	fmt.Fprintf(opts.Out, "demo: applying %d ResourceGraphDefinitions from %s\n", len(rgdFiles), opts.Examples)
	var rgds []*unstructured.Unstructured
	for _, f := range rgdFiles {
		objs, err := d.apply(ctx, f)
		if err != nil {
			return err
		}
		rgds = append(rgds, objs...)
	}
	for _, rgd := range rgds {
		if err := d.waitRGDActive(ctx, rgd); err != nil {
			return err
		}
	}
	fmt.Fprintf(opts.Out, "demo: every RGD is Active (%s)\n", time.Since(start).Round(100*time.Millisecond))

	failed := false
	for _, s := range steps() {
		r, err := d.run(ctx, s)
		if err != nil {
			return err
		}
		d.results = append(d.results, r...)
		for _, x := range r {
			fmt.Fprintf(opts.Out, "  %-36s %-9s %6s\n", describe(x.obj), x.outcome, x.took.Round(100*time.Millisecond))
			if x.outcome != "ACTIVE" && x.outcome != "Synced" {
				failed = true
			}
		}
	}
	fmt.Fprintf(opts.Out, "demo: %d objects in %s; what their statuses hold now:\n", len(d.results), time.Since(start).Round(100*time.Millisecond))
	// Read again: status fields that no readyWhen waits on (an ARN of a
	// child that syncs after the instance went ACTIVE) arrive a moment later.
	for _, x := range d.results {
		if live, err := d.get(ctx, x.obj); err == nil {
			x.findings = findings(live)
		}
		fmt.Fprintf(opts.Out, "  %-36s %s\n", describe(x.obj), strings.Join(x.findings, "  "))
	}
	d.nested(ctx)
	if failed {
		return fmt.Errorf("not every instance became ACTIVE (see above)")
	}
	if !opts.Delete {
		return nil
	}
	if err := d.deleteAll(ctx); err != nil {
		return err
	}
	for _, b := range d.adoptedBuckets {
		if err := deleteAdoptedBucket(ctx, d, b); err != nil {
			return fmt.Errorf("the adopted bucket %s (read-only, so left in AWS as it should be) could not be removed: %w", b, err)
		}
	}
	if before == nil {
		return nil
	}
	after, err := awsInventory(ctx, opts.AWSEndpoint)
	if err != nil {
		return err
	}
	if left := leftovers(before, after); len(left) > 0 {
		return fmt.Errorf("left in the local AWS after deleting everything: %s", strings.Join(left, "; "))
	}
	fmt.Fprintln(opts.Out, "demo: nothing is left in the local AWS")
	return nil
}

func (d *runner) run(ctx context.Context, s step) ([]result, error) {
	var objs []*unstructured.Unstructured
	for _, f := range s.files {
		o, err := readObjects(filepath.Join(d.opts.Examples, f))
		if err != nil {
			return nil, err
		}
		objs = append(objs, o...)
	}
	if s.prepare != nil {
		if err := s.prepare(ctx, d, objs); err != nil {
			return nil, err
		}
	}
	var out []result
	for _, o := range objs {
		begin := time.Now()
		if err := d.applyObject(ctx, o); err != nil {
			return nil, err
		}
		outcome, live := d.waitDone(ctx, o, s.wait)
		out = append(out, result{obj: o, took: time.Since(begin), outcome: outcome, findings: findings(live)})
	}
	return out, nil
}

// nested reports the instances that DbWebStack created itself, with what
// their status shows (the DB endpoint, the secret and role ARNs).
func (d *runner) nested(ctx context.Context) {
	for _, kind := range []string{"RdsInstance", "PodIdentity", "WebAppRds"} {
		l := &unstructured.UnstructuredList{}
		l.SetAPIVersion("kro.run/v1alpha1")
		l.SetKind(kind + "List")
		if err := d.c.List(ctx, l); err != nil {
			continue
		}
		for i := range l.Items {
			it := &l.Items[i]
			state, _, _ := unstructured.NestedString(it.Object, "status", "state")
			fmt.Fprintf(d.opts.Out, "    nested %-29s %-6s %s\n", describe(it), state, strings.Join(findings(it), "  "))
		}
	}
}

func describe(o *unstructured.Unstructured) string {
	return o.GetKind() + "/" + o.GetName()
}

// findings lists the ARNs, ids and endpoints in an object's status.
func findings(o *unstructured.Unstructured) []string {
	if o == nil {
		return nil
	}
	st, _, _ := unstructured.NestedMap(o.Object, "status")
	var out []string
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, vv := range x {
				if k == "conditions" {
					continue
				}
				walk(strings.TrimPrefix(path+"."+k, "."), vv)
			}
		case []any:
			for i, vv := range x {
				walk(fmt.Sprintf("%s[%d]", path, i), vv)
			}
		case string:
			low := strings.ToLower(path)
			if strings.HasPrefix(x, "arn:") || strings.Contains(low, "endpoint") || strings.HasSuffix(low, "id") ||
				strings.Contains(low, "ids[") || strings.HasSuffix(low, "address") {
				out = append(out, path+"="+x)
			}
		}
	}
	walk("", st)
	sort.Strings(out)
	return out
}
