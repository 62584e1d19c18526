package chaos

import (
	"context"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/trellis-dev/trellis/pkg/localaws"
)

// awsKind is one ACK kind of the ACK scenario and how its AWS resources
// are listed.
type awsKind struct {
	short string // name infix
	gvr   schema.GroupVersionResource
	kind  string
	spec  func(name string) map[string]any
	// list returns the names of the AWS resources (with their ids).
	list func(ctx context.Context) (map[string][]string, error)
	// id is the CR's AWS id whose resource must be the one AWS has by name
	// ("" when the name is the id).
	id []string
}

const assumeRolePolicy = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}`

func (r *runner) awsKinds(ctx context.Context, endpoint string) ([]awsKind, error) {
	cfg := aws.Config{Region: localaws.Region, BaseEndpoint: aws.String(endpoint),
		Credentials: credentials.NewStaticCredentialsProvider(localaws.AccessKeyID, localaws.SecretAccessKey, "")}
	s3c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	iamc := iam.NewFromConfig(cfg)
	ec2c := ec2.NewFromConfig(cfg)
	vpcs, err := ec2c.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{Filters: []ec2types.Filter{{Name: aws.String("is-default"), Values: []string{"true"}}}})
	if err != nil || len(vpcs.Vpcs) == 0 {
		return nil, fmt.Errorf("moto's default VPC: %v", err)
	}
	vpc := aws.ToString(vpcs.Vpcs[0].VpcId)
	return []awsKind{
		{short: "b", kind: "Bucket", gvr: schema.GroupVersionResource{Group: "s3.services.k8s.aws", Version: "v1alpha1", Resource: "buckets"},
			spec: func(n string) map[string]any { return map[string]any{"name": n} },
			list: func(ctx context.Context) (map[string][]string, error) {
				out, err := s3c.ListBuckets(ctx, &s3.ListBucketsInput{})
				if err != nil {
					return nil, err
				}
				m := map[string][]string{}
				for _, b := range out.Buckets {
					m[aws.ToString(b.Name)] = append(m[aws.ToString(b.Name)], aws.ToString(b.Name))
				}
				return m, nil
			}},
		{short: "r", kind: "Role", gvr: schema.GroupVersionResource{Group: "iam.services.k8s.aws", Version: "v1alpha1", Resource: "roles"},
			spec: func(n string) map[string]any {
				return map[string]any{"name": n, "assumeRolePolicyDocument": assumeRolePolicy}
			},
			list: func(ctx context.Context) (map[string][]string, error) {
				m := map[string][]string{}
				p := iam.NewListRolesPaginator(iamc, &iam.ListRolesInput{})
				for p.HasMorePages() {
					out, err := p.NextPage(ctx)
					if err != nil {
						return nil, err
					}
					for _, role := range out.Roles {
						m[aws.ToString(role.RoleName)] = append(m[aws.ToString(role.RoleName)], aws.ToString(role.RoleId))
					}
				}
				return m, nil
			}},
		{short: "sg", kind: "SecurityGroup", gvr: schema.GroupVersionResource{Group: "ec2.services.k8s.aws", Version: "v1alpha1", Resource: "securitygroups"},
			spec: func(n string) map[string]any { return map[string]any{"name": n, "description": "chaos", "vpcID": vpc} },
			id:   []string{"status", "id"},
			list: func(ctx context.Context) (map[string][]string, error) {
				m := map[string][]string{}
				p := ec2.NewDescribeSecurityGroupsPaginator(ec2c, &ec2.DescribeSecurityGroupsInput{})
				for p.HasMorePages() {
					out, err := p.NextPage(ctx)
					if err != nil {
						return nil, err
					}
					for _, g := range out.SecurityGroups {
						m[aws.ToString(g.GroupName)] = append(m[aws.ToString(g.GroupName)], aws.ToString(g.GroupId))
					}
				}
				return m, nil
			}},
	}, nil
}

// ackResource is one custom resource of the scenario.
type ackResource struct {
	kind awsKind
	name string
}

func runACK(ctx context.Context, r *runner) error {
	r.stopControllers()
	logFile, err := os.Create(filepath.Join(r.o.LogDir, "moto.log"))
	if err != nil {
		return err
	}
	defer logFile.Close()
	moto, err := localaws.Start(ctx, 0, logFile)
	if err != nil {
		return err
	}
	defer moto.Stop()
	kinds, err := r.awsKinds(ctx, moto.Endpoint)
	if err != nil {
		return err
	}
	start := func(ctx context.Context) error {
		c, err := r.startController(ctx, "controller-ack", r.cluster.Kubeconfig,
			[]string{"--ack-services=s3,iam,ec2", "--aws-endpoint-url=" + moto.Endpoint, "--aws-region=" + localaws.Region, "--ack-s3-use-path-style"},
			[]string{"AWS_ACCESS_KEY_ID=" + localaws.AccessKeyID, "AWS_SECRET_ACCESS_KEY=" + localaws.SecretAccessKey})
		r.ctrl = c
		return err
	}
	if err := start(ctx); err != nil {
		return err
	}
	defer r.stopControllers()
	ns := "chaos-ack"
	if err := r.namespace(ctx, ns); err != nil {
		return err
	}
	// The baseline first (no kill), then one kill per seed (two at most:
	// each is a few hundred AWS resources created and deleted).
	seeds := append([]int64{0}, r.o.Seeds[:min(2, len(r.o.Seeds))]...)
	for _, seed := range seeds {
		var all []ackResource
		for _, k := range kinds {
			for i := 0; i < r.o.AWSN; i++ {
				all = append(all, ackResource{kind: k, name: fmt.Sprintf("chaos-%d-%s-%03d", seed, k.short, i)})
			}
		}
		rng := rand.New(rand.NewSource(seed))
		for _, ph := range []string{"aws-create", "aws-delete"} {
			var fault func(ctx context.Context, done *atomic.Int64) (string, error)
			if seed != 0 {
				frac := 0.1 + 0.8*rng.Float64()
				fault = func(ctx context.Context, done *atomic.Int64) (string, error) {
					for int(done.Load()) < int(frac*float64(len(all))) && ctx.Err() == nil {
						time.Sleep(100 * time.Millisecond)
					}
					n := done.Load()
					kill(r.ctrl)
					r.ctrl = nil
					return fmt.Sprintf("killed with %d of %d done", n, len(all)), start(ctx)
				}
			}
			scenario := "ack-kill-controller"
			if seed == 0 {
				scenario = "ack-baseline"
			}
			r.ackPhase(ctx, scenario, ph, seed, ns, all, fault)
			if ctx.Err() != nil {
				return ctx.Err()
			}
		}
	}
	return nil
}

var ackWorkload = []string{"buckets", "roles", "securitygroups"}

// ackPhase creates (aws-create) or deletes (aws-delete) all, with fault
// running alongside, waits until the custom resources are synced or gone
// and compares AWS with them.
func (r *runner) ackPhase(ctx context.Context, scenario, ph string, seed int64, ns string, all []ackResource,
	fault func(ctx context.Context, done *atomic.Int64) (string, error)) {
	row := Row{Scenario: scenario, Phase: ph, Seed: seed, Instances: len(all)}
	var (
		mu    sync.Mutex // the fault runs alongside
		notes []string
	)
	fail := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		row.Err = strings.TrimPrefix(row.Err+"; "+err.Error(), "; ")
	}
	if err := r.meter.start(ctx); err != nil {
		fail(err)
		r.record(row)
		return
	}
	begin := time.Now()
	var done atomic.Int64
	pctx, cancel := context.WithCancel(ctx)
	progress := make(chan struct{})
	go func() { // counts synced / gone resources for the fault's trigger
		defer close(progress)
		for pctx.Err() == nil {
			n, _ := r.ackProgress(pctx, ns, all, ph == "aws-delete")
			done.Store(int64(n))
			time.Sleep(500 * time.Millisecond)
		}
	}()
	faulted := make(chan struct{})
	go func() {
		defer close(faulted)
		if fault == nil {
			return
		}
		note, err := fault(pctx, &done)
		mu.Lock()
		row.FaultAfter = round1(time.Since(begin).Seconds())
		notes = append(notes, note)
		mu.Unlock()
		if err != nil {
			fail(fmt.Errorf("fault: %w", err))
		}
	}()
	names := make([]string, len(all))
	byName := map[string]ackResource{}
	for i, a := range all {
		names[i] = a.name
		byName[a.name] = a
	}
	err := forEach(ctx, names, func(ctx context.Context, name string) error {
		a := byName[name]
		res := r.dyn.Resource(a.kind.gvr).Namespace(ns)
		if ph == "aws-delete" {
			err := res.Delete(ctx, name, metav1.DeleteOptions{})
			if apierrors.IsNotFound(err) {
				return nil
			}
			return err
		}
		u := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": a.kind.gvr.GroupVersion().String(), "kind": a.kind.kind,
			"metadata": map[string]any{"name": name, "namespace": ns}, "spec": a.kind.spec(name)}}
		_, err := res.Create(ctx, u, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			return nil
		}
		return err
	})
	if err != nil {
		fail(err)
	}
	// Converged: all synced (or all gone), and the fault has run.
	<-faulted
	if err := r.waitACK(ctx, ns, all, ph == "aws-delete"); err != nil {
		fail(err)
	}
	row.Converge = round1(time.Since(begin).Seconds())
	cancel()
	<-progress
	time.Sleep(r.o.Settle)
	f, err := r.checkAWS(ctx, ns, all, fmt.Sprintf("chaos-%d-", seed), ph == "aws-delete")
	if err != nil {
		fail(err)
	}
	row.Lost, row.Duplicates, row.Leaked, row.Finalizers = f.lost, f.duplicates, f.leaked, f.finalizers
	notes = append(notes, f.examples...)
	if reqs, err := r.meter.total(ctx); err == nil {
		row.WritesPerInstance = round2(reqs.Mutating().Resources(ackWorkload...).Total() / float64(len(all)))
	}
	if b, ok := r.baseline[ph]; ok && seed != 0 {
		row.Extra = round2(row.WritesPerInstance - b.writesPerInstance)
	}
	if seed == 0 && row.Err == "" {
		r.baseline[ph] = phaseFigures{seconds: row.Converge, writesPerInstance: row.WritesPerInstance}
	}
	row.Note = strings.Join(notes, "; ")
	r.record(row)
}

// waitACK waits until every resource of all is synced (or gone).
func (r *runner) waitACK(ctx context.Context, ns string, all []ackResource, gone bool) error {
	deadline := time.Now().Add(r.o.Timeout)
	for {
		n, err := r.ackProgress(ctx, ns, all, gone)
		if err == nil && n == len(all) {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("%d of %d converged after %s (%v)", n, len(all), r.o.Timeout, err)
		}
		time.Sleep(time.Second)
	}
}

// ackProgress counts the resources of all that are synced (or, gone, absent).
func (r *runner) ackProgress(ctx context.Context, ns string, all []ackResource, gone bool) (int, error) {
	crs, err := r.listACK(ctx, ns, all)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, a := range all {
		u, ok := crs[a.kind.gvr.Resource+"/"+a.name]
		switch {
		case gone && !ok:
			n++
		case !gone && ok && synced(u):
			n++
		}
	}
	return n, nil
}

func (r *runner) listACK(ctx context.Context, ns string, all []ackResource) (map[string]unstructured.Unstructured, error) {
	out := map[string]unstructured.Unstructured{}
	seen := map[schema.GroupVersionResource]bool{}
	for _, a := range all {
		if seen[a.kind.gvr] {
			continue
		}
		seen[a.kind.gvr] = true
		l, err := r.dyn.Resource(a.kind.gvr).Namespace(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, err
		}
		for _, u := range l.Items {
			out[a.kind.gvr.Resource+"/"+u.GetName()] = u
		}
	}
	return out, nil
}

func synced(u unstructured.Unstructured) bool {
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] == "ACK.ResourceSynced" && m["status"] == "True" {
			return true
		}
	}
	return false
}

type awsFindings struct {
	lost, duplicates, leaked, finalizers int
	examples                             []string
}

func (f *awsFindings) example(format string, args ...any) {
	if len(f.examples) < 3 {
		f.examples = append(f.examples, fmt.Sprintf(format, args...))
	}
}

// checkAWS lists the AWS resources of all's kinds and compares them with
// the custom resources: after a create every one exists once in AWS, under
// the id its custom resource records; after a delete none is left; either
// way no AWS resource of this round (its name prefix) exists without a
// custom resource.
func (r *runner) checkAWS(ctx context.Context, ns string, all []ackResource, prefix string, deleted bool) (awsFindings, error) {
	var f awsFindings
	crs, err := r.listACK(ctx, ns, all)
	if err != nil {
		return f, err
	}
	for _, u := range crs {
		if u.GetDeletionTimestamp() != nil {
			f.finalizers++
			f.example("%s %s stuck deleting", u.GetKind(), u.GetName())
		}
	}
	byKind := map[string][]ackResource{}
	var kinds []awsKind
	for _, a := range all {
		if len(byKind[a.kind.short]) == 0 {
			kinds = append(kinds, a.kind)
		}
		byKind[a.kind.short] = append(byKind[a.kind.short], a)
	}
	for _, k := range kinds {
		inAWS, err := k.list(ctx)
		if err != nil {
			return f, fmt.Errorf("list %ss in AWS: %w", k.kind, err)
		}
		want := map[string]bool{}
		for _, a := range byKind[k.short] {
			want[a.name] = true
			ids := inAWS[a.name]
			if len(ids) > 1 {
				f.duplicates += len(ids) - 1
				f.example("%d %ss named %s", len(ids), k.kind, a.name)
			}
			if deleted {
				continue
			}
			u, ok := crs[k.gvr.Resource+"/"+a.name]
			if len(ids) == 0 || !ok {
				f.lost++
				f.example("%s %s missing (in AWS: %d, custom resource: %v)", k.kind, a.name, len(ids), ok)
				continue
			}
			if k.id != nil {
				id, _, _ := unstructured.NestedString(u.Object, k.id...)
				if !contains(ids, id) {
					f.lost++
					f.example("%s %s records id %q, AWS has %v", k.kind, a.name, id, ids)
				}
			}
		}
		var leaked []string
		for name, ids := range inAWS {
			if strings.HasPrefix(name, prefix) && (deleted || !want[name]) {
				f.leaked += len(ids)
				leaked = append(leaked, name)
			}
		}
		sort.Strings(leaked)
		if len(leaked) > 0 {
			f.example("leaked %ss: %v", k.kind, leaked[:min(3, len(leaked))])
		}
	}
	return f, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
