package chaos

import (
	"context"
	"fmt"
	"math/rand"
	"path/filepath"
	"time"

	flowv1 "k8s.io/api/flowcontrol/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"

	"github.com/trellis-dev/trellis/pkg/bench"
)

// starvedUser is who the throttled controller acts as (by impersonation:
// the admin certificate is in system:masters, which APF never limits).
const starvedUser = "trellis-chaos-controller"

// The starved level's share: with the default levels' 245 shares and the
// apiserver's 600 seats, 2 shares are about 5 seats for all of the
// controller's requests (its 16 workers, informers, status writes), and a
// queue of starvedQueue; beyond that, 429.
const (
	starvedShares = 2
	starvedQueue  = 4
)

// starve puts starvedUser into a priority level of its own with a few
// seats and a short queue (excess requests are rejected with 429), and
// writes a kubeconfig that impersonates it. undo removes it all.
func (r *runner) starve(ctx context.Context) (kubeconfig string, undo func(), err error) {
	name := "trellis-chaos-starved"
	rbac := r.kube.RbacV1().ClusterRoleBindings()
	pls := r.kube.FlowcontrolV1().PriorityLevelConfigurations()
	fss := r.kube.FlowcontrolV1().FlowSchemas()
	undo = func() {
		bg := context.WithoutCancel(ctx)
		_ = fss.Delete(bg, name, metav1.DeleteOptions{})
		_ = pls.Delete(bg, name, metav1.DeleteOptions{})
		_ = rbac.Delete(bg, name, metav1.DeleteOptions{})
	}
	if _, err := rbac.Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "cluster-admin"},
		Subjects: []rbacv1.Subject{{APIGroup: "rbac.authorization.k8s.io", Kind: "User", Name: starvedUser}},
	}, metav1.CreateOptions{}); err != nil {
		return "", undo, err
	}
	if _, err := pls.Create(ctx, &flowv1.PriorityLevelConfiguration{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: flowv1.PriorityLevelConfigurationSpec{Type: flowv1.PriorityLevelEnablementLimited, Limited: &flowv1.LimitedPriorityLevelConfiguration{
			NominalConcurrencyShares: ptr.To[int32](starvedShares), LendablePercent: ptr.To[int32](0), BorrowingLimitPercent: ptr.To[int32](0),
			LimitResponse: flowv1.LimitResponse{Type: flowv1.LimitResponseTypeQueue, Queuing: &flowv1.QueuingConfiguration{
				Queues: 1, HandSize: 1, QueueLengthLimit: starvedQueue}},
		}},
	}, metav1.CreateOptions{}); err != nil {
		return "", undo, err
	}
	if _, err := fss.Create(ctx, &flowv1.FlowSchema{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: flowv1.FlowSchemaSpec{
			PriorityLevelConfiguration: flowv1.PriorityLevelConfigurationReference{Name: name},
			MatchingPrecedence:         100,
			DistinguisherMethod:        &flowv1.FlowDistinguisherMethod{Type: flowv1.FlowDistinguisherMethodByUserType},
			Rules: []flowv1.PolicyRulesWithSubjects{{
				Subjects: []flowv1.Subject{{Kind: flowv1.SubjectKindUser, User: &flowv1.UserSubject{Name: starvedUser}}},
				ResourceRules: []flowv1.ResourcePolicyRule{{Verbs: []string{"*"}, APIGroups: []string{"*"}, Resources: []string{"*"},
					ClusterScope: true, Namespaces: []string{"*"}}},
				NonResourceRules: []flowv1.NonResourcePolicyRule{{Verbs: []string{"*"}, NonResourceURLs: []string{"*"}}},
			}},
		},
	}, metav1.CreateOptions{}); err != nil {
		return "", undo, err
	}
	cfg, err := clientcmd.LoadFromFile(r.cluster.Kubeconfig)
	if err != nil {
		return "", undo, err
	}
	for _, ai := range cfg.AuthInfos {
		ai.Impersonate = starvedUser
		ai.ImpersonateGroups = []string{"system:authenticated"}
	}
	kubeconfig = filepath.Join(r.o.LogDir, "kubeconfig-starved")
	return kubeconfig, undo, clientcmd.WriteToFile(*cfg, kubeconfig)
}

func runAPF(ctx context.Context, r *runner) error {
	if err := r.controller(ctx); err != nil {
		return err
	}
	r.stopControllers()
	kubeconfig, undo, err := r.starve(ctx)
	defer undo()
	if err != nil {
		return fmt.Errorf("set up the starved priority level: %w", err)
	}
	c, err := r.startController(ctx, "controller-starved", kubeconfig, []string{"--ack-services=none"}, nil)
	if err != nil {
		return err
	}
	r.ctrl = c
	defer r.stopControllers() // the next scenario starts an unthrottled one
	// The throttling is the fault, from the start: no extra fault.
	ns := "chaos-apf-throttling"
	if err := r.namespace(ctx, ns); err != nil {
		return err
	}
	names := instanceNames(r.o.N)
	r.run(ctx, phase{scenario: "apf-throttling", name: "rollout", ns: ns, instances: r.o.N, want: names,
		act: func(ctx context.Context) error { return r.createAll(ctx, ns, names) },
		report: func(reqs bench.Requests) string {
			var rejected float64
			for k, v := range reqs {
				if k.Code == "429" {
					rejected += v
				}
			}
			return fmt.Sprintf("%.0f requests rejected with 429 (%.2f per instance)", rejected, rejected/float64(r.o.N))
		}})
	r.stopControllers() // before its RBAC goes
	undo()
	return r.cleanup(ctx, ns, names)
}

// leaseHolder reads the holder of trellis's leader-election lease.
func (r *runner) leaseHolder(ctx context.Context) string {
	l, err := r.kube.CoordinationV1().Leases("kube-system").Get(ctx, "controller.trellis.dev", metav1.GetOptions{})
	if err != nil || l.Spec.HolderIdentity == nil {
		return ""
	}
	return *l.Spec.HolderIdentity
}

// leaseDuration and retryPeriod are trellis's default
// --leader-election-lease-duration and -retry-period. The standby counts
// the lease from when it last saw it renewed and looks every retry period
// with client-go's jitter (×1.0–2.2), so a takeover is due within the
// lease duration plus 2.2 retry periods (plus the 200 ms polling here).
const (
	leaseDuration = 15 * time.Second
	retryPeriod   = 2 * time.Second
	takeoverBound = leaseDuration + 22*retryPeriod/10 + time.Second
)

func runLeader(ctx context.Context, r *runner) error {
	if err := r.controller(ctx); err != nil {
		return err
	}
	r.stopControllers()
	args := []string{"--ack-services=none", "--leader-elect", "--leader-election-namespace=kube-system"}
	a, err := r.startController(ctx, "replica-a", r.cluster.Kubeconfig, args, nil)
	if err != nil {
		return err
	}
	var leader string
	if err := retry(ctx, time.Minute, func() error {
		if leader = r.leaseHolder(ctx); leader == "" {
			return fmt.Errorf("no leader")
		}
		return nil
	}); err != nil {
		_ = a.Stop()
		return fmt.Errorf("replica a never became leader: %w", err)
	}
	b, err := r.startController(ctx, "replica-b", r.cluster.Kubeconfig, args, nil)
	if err != nil {
		_ = a.Stop()
		return err
	}
	r.ctrl = b
	defer r.stopControllers()
	ns := "chaos-leader-handover"
	if err := r.namespace(ctx, ns); err != nil {
		return err
	}
	names := instanceNames(r.o.N)
	rng := rand.New(rand.NewSource(1))
	r.run(ctx, phase{scenario: "leader-handover", name: "rollout", ns: ns, instances: r.o.N, want: names,
		act:     func(ctx context.Context) error { return r.createAll(ctx, ns, names) },
		faultAt: r.randomPoint(rng, "rollout"),
		fault: func(ctx context.Context) (string, error) {
			killed := time.Now()
			kill(a)
			for time.Since(killed) < 2*leaseDuration {
				if h := r.leaseHolder(ctx); h != "" && h != leader {
					took := time.Since(killed)
					if took > takeoverBound {
						return "", fmt.Errorf("replica b took over only after %.1fs (lease %s, bound %s)", took.Seconds(), leaseDuration, takeoverBound)
					}
					return fmt.Sprintf("replica b took over %.1fs after the kill (lease %s, bound %s)", took.Seconds(), leaseDuration, takeoverBound), nil
				}
				time.Sleep(200 * time.Millisecond)
			}
			return "", fmt.Errorf("no takeover within %s", 2*leaseDuration)
		}})
	return r.cleanup(ctx, ns, names)
}
