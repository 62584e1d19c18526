package shard

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	coordv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	coordclient "k8s.io/client-go/kubernetes/typed/coordination/v1"
	listers "k8s.io/client-go/listers/coordination/v1"
	"k8s.io/client-go/tools/cache"
)

const (
	// LabelRing marks the Leases of one ring of replicas (value: the ring's name).
	LabelRing = "trellis.dev/shard-ring"
	// AnnotationBuckets on a replica's Lease is the Set (hex) it works on
	// or is about to: no other replica starts on those buckets meanwhile.
	AnnotationBuckets = "trellis.dev/shard-buckets"
)

// Target is what a Ring hands buckets to (the instance controller).
type Target interface {
	// Cache makes the caches hold the instances of s and their children,
	// and returns once they are listed.
	Cache(ctx context.Context, s Set) error
	// Serve reconciles the instances of s from now on (those of buckets new
	// to s are enqueued) and starts no other reconcile.
	Serve(s Set)
	// Drain returns once no reconcile of an instance in s is running.
	Drain(ctx context.Context, s Set)
}

// Config names a replica and times its Lease, as leader election does.
type Config struct {
	Namespace string
	// Name of the ring (the label value and the Leases' name prefix).
	Name string
	// Identity of this replica; unique per process (see NewIdentity).
	Identity      string
	LeaseDuration time.Duration
	// RenewDeadline: a replica that could not renew its Lease for this long
	// stops all work (before the Lease expires and others take over).
	RenewDeadline time.Duration
	RetryPeriod   time.Duration
}

// Ring keeps this replica's Lease and, from the live Leases, the buckets
// it serves. Hand-over is fenced by the Leases: a replica releases buckets
// (stops, drains, then drops them from its Lease) before the new owner,
// which claims them on its Lease and re-reads every Lease from the API
// server, starts on them. A replica that dies stops renewing; its buckets
// are taken once its Lease has expired.
type Ring struct {
	cfg    Config
	leases coordclient.LeaseInterface
	kube   kubernetes.Interface
	target Target
	log    logr.Logger
	wake   chan struct{}
	lister listers.LeaseNamespaceLister

	mu        sync.Mutex
	lease     *coordv1.Lease // ours, as last written
	lastRenew time.Time
	serving   Set  // handed to target.Serve
	lost      bool // the Lease was not renewed within RenewDeadline
}

// NewRing returns a Ring; run it with Start (a manager.Runnable that runs
// on every replica).
func NewRing(kube kubernetes.Interface, cfg Config, target Target, log logr.Logger) (*Ring, error) {
	switch {
	case cfg.Namespace == "":
		return nil, fmt.Errorf("sharding: the Lease namespace is empty (--leader-election-namespace, or run in a pod)")
	case cfg.Identity == "":
		return nil, fmt.Errorf("sharding: the replica identity is empty")
	case cfg.LeaseDuration <= cfg.RenewDeadline || cfg.RenewDeadline <= cfg.RetryPeriod || cfg.RetryPeriod <= 0:
		return nil, fmt.Errorf("sharding: want lease duration (%s) > renew deadline (%s) > retry period (%s) > 0", cfg.LeaseDuration, cfg.RenewDeadline, cfg.RetryPeriod)
	}
	if cfg.Name == "" {
		cfg.Name = "trellis"
	}
	return &Ring{cfg: cfg, kube: kube, leases: kube.CoordinationV1().Leases(cfg.Namespace), target: target, log: log, wake: make(chan struct{}, 1)}, nil
}

// NeedLeaderElection: every replica runs its ring.
func (r *Ring) NeedLeaderElection() bool { return false }

// LeaseName is the name of this replica's Lease.
func (r *Ring) LeaseName() string {
	return leaseName(r.cfg.Name, r.cfg.Identity)
}

func leaseName(ring, identity string) string {
	n := strings.ToLower(ring + "-shard-" + identity)
	n = strings.Map(func(c rune) rune {
		if (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' {
			return c
		}
		return '-'
	}, n)
	if len(n) > 253 {
		n = n[:253]
	}
	return n
}

// Start keeps the Lease and the buckets until ctx ends; then it stops
// work, waits for running reconciles and deletes its Lease, so the others
// take its buckets at once.
func (r *Ring) Start(ctx context.Context) error {
	if err := r.create(ctx); err != nil {
		return err
	}
	factory := informers.NewSharedInformerFactoryWithOptions(r.kube, 0, informers.WithNamespace(r.cfg.Namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = LabelRing + "=" + r.cfg.Name }))
	inf := factory.Coordination().V1().Leases()
	_, _ = inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { r.poke() },
		UpdateFunc: func(old, obj any) { r.poke() },
		DeleteFunc: func(any) { r.poke() },
	})
	r.lister = inf.Lister().Leases(r.cfg.Namespace)
	factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), inf.Informer().HasSynced) {
		return nil
	}
	go r.renewLoop(ctx)
	tick := time.NewTicker(r.cfg.RetryPeriod)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			r.shutdown()
			factory.Shutdown()
			return nil
		case <-r.wake:
		case <-tick.C:
		}
		r.rebalance(ctx)
	}
}

func (r *Ring) poke() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

func (r *Ring) create(ctx context.Context) error {
	now := metav1.NowMicro()
	secs := int32(r.cfg.LeaseDuration / time.Second)
	if secs < 1 {
		secs = 1
	}
	l := &coordv1.Lease{
		ObjectMeta: metav1.ObjectMeta{
			Name: r.LeaseName(), Namespace: r.cfg.Namespace,
			Labels:      map[string]string{LabelRing: r.cfg.Name},
			Annotations: map[string]string{AnnotationBuckets: Set(0).String()},
		},
		Spec: coordv1.LeaseSpec{HolderIdentity: &r.cfg.Identity, LeaseDurationSeconds: &secs, AcquireTime: &now, RenewTime: &now},
	}
	got, err := r.leases.Create(ctx, l, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		// Identities are unique per process: this is ours from before a
		// restart, and that process is gone.
		var live *coordv1.Lease
		if live, err = r.leases.Get(ctx, l.Name, metav1.GetOptions{}); err == nil {
			l.ResourceVersion = live.ResourceVersion
			got, err = r.leases.Update(ctx, l, metav1.UpdateOptions{})
		}
	}
	if err != nil {
		return fmt.Errorf("sharding: creating Lease %s/%s: %w", r.cfg.Namespace, l.Name, err)
	}
	r.mu.Lock()
	r.lease, r.lastRenew = got, time.Now()
	r.mu.Unlock()
	r.log.Info("joined the shard ring", "ring", r.cfg.Name, "lease", l.Name, "identity", r.cfg.Identity)
	return nil
}

// publish writes claimed to the Lease and renews it.
func (r *Ring) publish(ctx context.Context, claimed Set) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.publishLocked(ctx, claimed)
}

func (r *Ring) publishLocked(ctx context.Context, claimed Set) error {
	l := r.lease.DeepCopy()
	now := metav1.NowMicro()
	l.Spec.RenewTime = &now
	l.Annotations[AnnotationBuckets] = claimed.String()
	got, err := r.leases.Update(ctx, l, metav1.UpdateOptions{})
	if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
		// Someone edited or deleted it: write ours over it.
		live, gerr := r.leases.Get(ctx, l.Name, metav1.GetOptions{})
		switch {
		case gerr == nil:
			l.ResourceVersion = live.ResourceVersion
			got, err = r.leases.Update(ctx, l, metav1.UpdateOptions{})
		case apierrors.IsNotFound(gerr):
			l.ResourceVersion = ""
			got, err = r.leases.Create(ctx, l, metav1.CreateOptions{})
		}
	}
	if err != nil {
		return err
	}
	r.lease, r.lastRenew = got, time.Now()
	return nil
}

func (r *Ring) claimed() Set {
	s, _ := ParseSet(r.lease.Annotations[AnnotationBuckets])
	return s
}

// renewLoop renews the Lease every RetryPeriod; past RenewDeadline without
// a renewal, the replica stops all work before others may take it.
func (r *Ring) renewLoop(ctx context.Context) {
	tick := time.NewTicker(r.cfg.RetryPeriod)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		r.mu.Lock()
		err := r.publishLocked(ctx, r.claimed())
		if err != nil && !r.lost && time.Since(r.lastRenew) > r.cfg.RenewDeadline {
			r.lost = true
			r.serving = 0
			r.target.Serve(0)
			r.log.Error(err, "shard Lease not renewed within the renew deadline: stopped all work")
		}
		if err == nil && r.lost {
			r.lost = false
			r.log.Info("shard Lease renewed again: taking buckets anew")
		}
		r.mu.Unlock()
		if err != nil {
			r.log.V(1).Info("renewing shard Lease failed", "err", err.Error())
		} else {
			r.poke()
		}
	}
}

// live reads the members whose Lease has not expired and the buckets the
// others claim.
func (r *Ring) live(leases []*coordv1.Lease, now time.Time) (members []string, others Set) {
	for _, l := range leases {
		if l.Spec.HolderIdentity == nil || expired(l, now) {
			continue
		}
		members = append(members, *l.Spec.HolderIdentity)
		if *l.Spec.HolderIdentity != r.cfg.Identity {
			s, _ := ParseSet(l.Annotations[AnnotationBuckets])
			others |= s
		}
	}
	return members, others
}

// expired: the holder has not renewed within the Lease's duration (judged
// by this replica's clock against the holder's renewTime: replicas'
// clocks are assumed to agree to well under a Lease duration).
func expired(l *coordv1.Lease, now time.Time) bool {
	if l.Spec.RenewTime == nil || l.Spec.LeaseDurationSeconds == nil {
		return true
	}
	return now.After(l.Spec.RenewTime.Add(time.Duration(*l.Spec.LeaseDurationSeconds) * time.Second))
}

// rebalance releases the buckets this replica no longer wins, then takes
// the ones it wins that nobody else claims.
func (r *Ring) rebalance(ctx context.Context) {
	r.mu.Lock()
	lost, serving, claimed := r.lost, r.serving, r.claimed()
	r.mu.Unlock()
	if lost {
		if claimed != 0 {
			r.target.Drain(ctx, claimed)
			_ = r.publish(ctx, 0)
			_ = r.target.Cache(ctx, 0)
		}
		return
	}
	all, err := r.lister.List(labels.Everything())
	if err != nil {
		return
	}
	now := time.Now()
	members, others := r.live(all, now)
	if !contains(members, r.cfg.Identity) {
		members = append(members, r.cfg.Identity) // our renewals are fresh (not lost)
	}
	r.collect(ctx, all, now)
	wins := Assign(members)[r.cfg.Identity]

	if drop := serving &^ wins; drop != 0 {
		start := time.Now()
		r.mu.Lock()
		r.serving &^= drop
		r.target.Serve(r.serving)
		r.mu.Unlock()
		r.target.Drain(ctx, drop)
		if err := r.publish(ctx, serving&^drop); err != nil {
			return // retried on the next tick; our claim stays meanwhile
		}
		serving &^= drop
		r.log.Info("released buckets", "buckets", drop.Len(), "serving", serving.Len(), "members", len(members), "drained", time.Since(start).Round(time.Millisecond).String())
		if err := r.target.Cache(ctx, serving); err != nil {
			r.log.Error(err, "shrinking caches to the buckets served")
		}
	}
	want := wins &^ serving &^ others
	if want == 0 {
		if claimed != serving { // a claim withdrawn earlier but not yet written
			_ = r.publish(ctx, serving)
		}
		return
	}
	// Claim, then re-read every Lease from the API server: of two replicas
	// that claim a bucket at once, the second to read sees the first.
	start := time.Now()
	if err := r.publish(ctx, serving|want); err != nil {
		return
	}
	fresh, err := r.leases.List(ctx, metav1.ListOptions{LabelSelector: LabelRing + "=" + r.cfg.Name})
	if err != nil {
		_ = r.publish(ctx, serving)
		return
	}
	var ptrs []*coordv1.Lease
	for i := range fresh.Items {
		ptrs = append(ptrs, &fresh.Items[i])
	}
	if _, taken := r.live(ptrs, time.Now()); want&taken != 0 {
		want &^= taken
		if err := r.publish(ctx, serving|want); err != nil {
			return
		}
	}
	if want == 0 {
		return
	}
	if err := r.target.Cache(ctx, serving|want); err != nil {
		r.log.Error(err, "listing the buckets to take")
		_ = r.publish(ctx, serving)
		return
	}
	r.mu.Lock()
	if r.lost {
		r.mu.Unlock()
		return
	}
	r.serving = serving | want
	r.target.Serve(r.serving)
	r.mu.Unlock()
	r.log.Info("took buckets", "buckets", want.Len(), "serving", (serving | want).Len(), "members", len(members), "took", time.Since(start).Round(time.Millisecond).String())
}

// collect deletes Leases of replicas gone for long (ten Lease durations).
func (r *Ring) collect(ctx context.Context, all []*coordv1.Lease, now time.Time) {
	for _, l := range all {
		if l.Name != r.LeaseName() && l.Spec.RenewTime != nil && expired(l, now.Add(-10*r.cfg.LeaseDuration)) {
			_ = r.leases.Delete(ctx, l.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{ResourceVersion: &l.ResourceVersion}})
		}
	}
}

// shutdown stops work, drains it and deletes the Lease.
func (r *Ring) shutdown() {
	ctx, cancel := context.WithTimeout(context.Background(), r.cfg.RenewDeadline)
	defer cancel()
	r.mu.Lock()
	serving := r.serving
	r.serving = 0
	r.target.Serve(0)
	r.mu.Unlock()
	r.target.Drain(ctx, serving)
	if err := r.leases.Delete(ctx, r.LeaseName(), metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		r.log.Error(err, "deleting shard Lease (others take its buckets once it expires)")
		return
	}
	r.log.Info("left the shard ring", "buckets", serving.Len())
}

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}
