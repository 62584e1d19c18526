package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/trellis-dev/trellis/api/v1alpha1"
	"github.com/trellis-dev/trellis/pkg/controller/instance"
	"github.com/trellis-dev/trellis/pkg/graph"
	trt "github.com/trellis-dev/trellis/pkg/runtime"
)

// kroLeaseName is the leader-election Lease kro's controller holds (its
// --leader-elect, on in kro's Helm chart).
const kroLeaseName = "controller.kro.run"

var (
	deploymentsGVR    = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
	leasesGVR         = schema.GroupVersionResource{Group: "coordination.k8s.io", Version: "v1", Resource: "leases"}
	graphRevisionsGVR = schema.GroupVersionResource{Group: "internal.kro.run", Version: "v1alpha1", Resource: "graphrevisions"}
	// ackKinds are the ACK kinds trellis's controllers take over.
	ackKinds = []schema.GroupVersionResource{
		{Group: "s3.services.k8s.aws", Version: "v1alpha1", Resource: "buckets"},
		{Group: "dynamodb.services.k8s.aws", Version: "v1alpha1", Resource: "tables"},
	}
)

// MigrateOptions configures RunMigrate.
type MigrateOptions struct {
	// GraphOptions are the feature switches trellis will run with.
	GraphOptions graph.Options
	// Now is the time leases are judged against (default time.Now).
	Now func() time.Time
}

// MigrateReport is what `trellis migrate --from kro` found.
type MigrateReport struct {
	// Blockers make the switch unsafe now; each says how to clear it.
	Blockers []string
	// Notes are differences the switch brings that need no action.
	Notes []string
	// RGDs, one line per ResourceGraphDefinition.
	RGDs []MigrateRGD
	// Instances, Children: totals over every RGD.
	Instances, Children int
	// KroOwned is how many children have fields kro's field manager owns
	// (they move to trellis's on trellis's first apply of each).
	KroOwned int
	// Revisions is the number of GraphRevisions (read by trellis as they are).
	Revisions int
	// ACK counts the ACK resources trellis's controllers will take over, by kind.
	ACK map[string]int
}

// MigrateRGD is one RGD in a MigrateReport.
type MigrateRGD struct {
	Name, Kind          string
	Instances, Children int
	KroOwned            int
	// Problem is why trellis would not serve it ("" when it will).
	Problem string
	// Differences trellis's behaviour shows for this RGD.
	Differences []string
}

// Safe reports whether nothing blocks the switch.
func (r *MigrateReport) Safe() bool { return len(r.Blockers) == 0 }

// Migrate inspects a cluster kro manages, read-only, and reports what a
// switch to trellis will do and whether it is safe now.
func Migrate(ctx context.Context, c *Cluster, opts MigrateOptions) (*MigrateReport, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	r := &MigrateReport{ACK: map[string]int{}}
	if err := r.checkKroRunning(ctx, c, opts.Now()); err != nil {
		return nil, err
	}
	var list v1alpha1.ResourceGraphDefinitionList
	if err := c.Client.List(ctx, &list); err != nil {
		if apierrors.IsNotFound(err) || strings.Contains(err.Error(), "no matches for kind") {
			r.Notes = append(r.Notes, "no ResourceGraphDefinition CRD installed: nothing of kro's to take over")
			return r, nil
		}
		return nil, fmt.Errorf("listing ResourceGraphDefinitions: %w", err)
	}
	sort.Slice(list.Items, func(i, j int) bool { return list.Items[i].Name < list.Items[j].Name })
	for i := range list.Items {
		m, err := inspectRGD(ctx, c, &list.Items[i], opts.GraphOptions)
		if err != nil {
			return nil, err
		}
		if m.Problem != "" {
			r.Blockers = append(r.Blockers, fmt.Sprintf("RGD %s: trellis would not serve it: %s (fix the RGD, or run trellis with the matching flag, before switching)", m.Name, m.Problem))
		}
		r.RGDs = append(r.RGDs, m)
		r.Instances += m.Instances
		r.Children += m.Children
		r.KroOwned += m.KroOwned
	}
	if revs, err := c.Dynamic.Resource(graphRevisionsGVR).List(ctx, metav1.ListOptions{}); err == nil {
		r.Revisions = len(revs.Items)
	}
	for _, gvr := range ackKinds {
		l, err := c.Dynamic.Resource(gvr).List(ctx, metav1.ListOptions{})
		if err != nil {
			continue // the kind is not served
		}
		r.ACK[gvr.Resource+"."+gvr.Group] = len(l.Items)
	}
	return r, nil
}

// checkKroRunning looks for a kro that still runs: a Deployment of kro's
// chart with replicas, or a held, unexpired leader-election Lease.
func (r *MigrateReport) checkKroRunning(ctx context.Context, c *Cluster, now time.Time) error {
	for _, sel := range []string{"app.kubernetes.io/part-of=kro", "app.kubernetes.io/name=kro"} {
		l, err := c.Dynamic.Resource(deploymentsGVR).List(ctx, metav1.ListOptions{LabelSelector: sel})
		if err != nil {
			return fmt.Errorf("listing Deployments: %w", err)
		}
		for _, d := range l.Items {
			spec, _, _ := unstructured.NestedInt64(d.Object, "spec", "replicas")
			running, _, _ := unstructured.NestedInt64(d.Object, "status", "replicas")
			if spec == 0 && running == 0 {
				continue
			}
			msg := fmt.Sprintf("kro's Deployment %s/%s has %d replicas (%d running): stop it first: kubectl -n %s scale deployment %s --replicas=0",
				d.GetNamespace(), d.GetName(), spec, running, d.GetNamespace(), d.GetName())
			if !contains(r.Blockers, msg) {
				r.Blockers = append(r.Blockers, msg)
			}
		}
	}
	l, err := c.Dynamic.Resource(leasesGVR).List(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + kroLeaseName})
	if err != nil {
		return fmt.Errorf("listing Leases: %w", err)
	}
	for _, lease := range l.Items {
		if lease.GetName() != kroLeaseName {
			continue
		}
		holder, _, _ := unstructured.NestedString(lease.Object, "spec", "holderIdentity")
		renew, _, _ := unstructured.NestedString(lease.Object, "spec", "renewTime")
		secs, _, _ := unstructured.NestedInt64(lease.Object, "spec", "leaseDurationSeconds")
		t, err := time.Parse(time.RFC3339Nano, renew)
		if holder == "" || err != nil || !now.Before(t.Add(time.Duration(secs)*time.Second)) {
			continue
		}
		r.Blockers = append(r.Blockers, fmt.Sprintf("kro's leader Lease %s/%s is held by %q (renewed %s ago, valid for %ds): kro is running; stop it and wait until the lease expires",
			lease.GetNamespace(), lease.GetName(), holder, now.Sub(t).Round(time.Second), secs))
	}
	r.Notes = append(r.Notes, "a kro running outside the cluster without --leader-elect leaves no trace here: make sure none runs")
	return nil
}

// inspectRGD builds one RGD as trellis would and counts its instances,
// their children and the children whose fields kro owns.
func inspectRGD(ctx context.Context, c *Cluster, rgd *v1alpha1.ResourceGraphDefinition, opts graph.Options) (MigrateRGD, error) {
	m := MigrateRGD{Name: rgd.Name, Kind: rgd.Spec.Schema.Kind}
	spec, _ := json.Marshal(rgd.Spec)
	for _, fn := range []string{"random.seededString", "random.seededInt"} {
		if strings.Contains(string(spec), fn) {
			m.Differences = append(m.Differences, fn+" gives other values than kro's for the same seed: children that use it change on trellis's first apply")
		}
	}
	g, err := graph.BuildWithOptions(rgd, c.Resolver, opts)
	if err != nil {
		m.Problem = err.Error()
		if strings.Contains(err.Error(), "omit") && !opts.Omit {
			m.Problem += " (kro's CELOmitFunction gate: run trellis with --feature-gates CELOmitFunction=true)"
		}
		return m, nil
	}
	insts, err := c.Dynamic.Resource(g.Instance.GVR()).List(ctx, metav1.ListOptions{})
	if err != nil {
		if apierrors.IsNotFound(err) {
			return m, nil
		}
		return m, fmt.Errorf("listing %s: %w", g.Instance.GVR().Resource, err)
	}
	m.Instances = len(insts.Items)
	if m.Instances == 0 {
		return m, nil
	}
	ids := map[string]bool{}
	for _, i := range insts.Items {
		ids[string(i.GetUID())] = true
	}
	seen := map[schema.GroupVersionResource]bool{}
	for _, n := range g.Nodes {
		if n.External != nil || seen[n.GVR] {
			continue
		}
		seen[n.GVR] = true
		l, err := c.Dynamic.Resource(n.GVR).List(ctx, metav1.ListOptions{LabelSelector: trt.LabelOwned + "=true"})
		if err != nil {
			return m, fmt.Errorf("listing %s: %w", n.GVR.Resource, err)
		}
		for _, child := range l.Items {
			if !ids[child.GetLabels()[trt.LabelInstanceID]] {
				continue
			}
			m.Children++
			for _, e := range child.GetManagedFields() {
				if e.Manager == instance.KroFieldManager && e.Operation == metav1.ManagedFieldsOperationApply {
					m.KroOwned++
					break
				}
			}
		}
	}
	return m, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Print writes the report for people.
func (r *MigrateReport) Print(w io.Writer) {
	fmt.Fprintf(w, "ResourceGraphDefinitions: %d\n", len(r.RGDs))
	for _, m := range r.RGDs {
		state := "ok"
		if m.Problem != "" {
			state = "REJECTED: " + m.Problem
		}
		fmt.Fprintf(w, "  %-36s kind %-20s %5d instances %6d children  %s\n", m.Name, m.Kind, m.Instances, m.Children, state)
		for _, d := range m.Differences {
			fmt.Fprintf(w, "    differs: %s\n", d)
		}
	}
	fmt.Fprintf(w, "Instances: %d (finalizer, labels and status kept; trellis writes each one's status once)\n", r.Instances)
	fmt.Fprintf(w, "Children: %d (none created again, none deleted)\n", r.Children)
	fmt.Fprintf(w, "Ownership: %d children have fields owned by %q; they move to %q on trellis's first apply of each\n", r.KroOwned, instance.KroFieldManager, "trellis")
	fmt.Fprintf(w, "GraphRevisions: %d (read as they are; the next RGD change issues the next number)\n", r.Revisions)
	kinds := make([]string, 0, len(r.ACK))
	for k := range r.ACK {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		fmt.Fprintf(w, "ACK %s: %d (taken over by trellis's ACK-compatible controllers: no AWS create, no AWS delete)\n", k, r.ACK[k])
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	if r.Safe() {
		fmt.Fprintln(w, "Safe to switch: start trellis (trellis controller); it takes over on its first reconcile of each instance.")
		return
	}
	fmt.Fprintln(w, "NOT safe to switch yet:")
	for _, b := range r.Blockers {
		fmt.Fprintf(w, "  - %s\n", b)
	}
}
