// Package rgd reconciles ResourceGraphDefinitions: build and validate the
// graph, ensure the generated CRD, and hand the graph to the instance
// controller. An RGD that waits for a kind is re-checked when a CRD appears
// or changes, not on a timer.
package rgd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	extv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/trellis-dev/trellis/api/v1alpha1"
	"github.com/trellis-dev/trellis/pkg/admission"
	"github.com/trellis-dev/trellis/pkg/controller/instance"
	"github.com/trellis-dev/trellis/pkg/crd"
	"github.com/trellis-dev/trellis/pkg/events"
	"github.com/trellis-dev/trellis/pkg/graph"
	"github.com/trellis-dev/trellis/pkg/identity"
	trt "github.com/trellis-dev/trellis/pkg/runtime"
)

// Condition types and reasons of RGD status, as kro writes them.
const (
	CondGraphAccepted   = "GraphAccepted"
	CondKindReady       = "KindReady"
	CondControllerReady = "ControllerReady"
	CondReady           = "Ready"

	ReasonWaitingForKind = "WaitingForKind"

	// StateDeletionBlocked is trellis's RGD state (kro has only Active and
	// Inactive) while its deletion waits for instances to go.
	StateDeletionBlocked v1alpha1.ResourceGraphDefinitionState = "DeletionBlocked"
)

// Reconciler reconciles ResourceGraphDefinitions.
type Reconciler struct {
	Client client.Client
	// CRDReader reads the generated CRD uncached, with its schema (the
	// manager's cache may hold CRDs without: resolver.SlimCRD). Nil: Client.
	CRDReader        client.Reader
	Resolver         graph.Resolver
	Instances        *instance.Controller
	AllowCRDDeletion bool
	// OrphanInstances lets RGDs be deleted while instances exist.
	OrphanInstances bool
	// GraphOptions are the builder's feature switches.
	GraphOptions graph.Options
	// MaxRevisions is how many GraphRevisions are kept per RGD.
	MaxRevisions int
	Version      string
	// Admission, if set, keeps a MutatingAdmissionPolicy per RGD that
	// stamps new instances with their finalizer and labels.
	Admission *admission.Policies
	// Events, if set, receives Events about RGDs (see statusWritten).
	Events *events.Recorder
	// EveryReplica runs the reconciler on every replica, not only the
	// leader: with sharded instances each replica must register every
	// graph. Its writes are idempotent across replicas (unchanged objects
	// are not written, revisions have deterministic names).
	EveryReplica bool
	// Identity is the per-RGD identity policy; Access, if set, checks fixed
	// identities when an RGD is built and re-checks them on RBAC changes.
	Identity identity.Policy
	Access   *identity.Reviewer

	mu sync.Mutex
	// kinds maps an RGD name to the kinds it reads or waits for, so a CRD
	// event re-checks exactly the RGDs that depend on it.
	kinds map[string]map[schema.GroupKind]bool
	// identities are the RGDs that act as a ServiceAccount.
	identities map[string]bool
	// wake re-reconciles an RGD by name (instance events during a blocked
	// deletion).
	wake chan event.GenericEvent
}

// SetupWithManager registers the reconciler.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager, workers int) error {
	r.kinds = map[string]map[schema.GroupKind]bool{}
	r.wake = make(chan event.GenericEvent, 128)
	r.identities = map[string]bool{}
	b := ctrl.NewControllerManagedBy(mgr).
		WatchesRawSource(source.Channel(r.wake, &handler.EnqueueRequestForObject{})).
		For(&v1alpha1.ResourceGraphDefinition{}, builder.WithPredicates(predicate.Or(
			predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		Watches(&extv1.CustomResourceDefinition{}, handler.EnqueueRequestsFromMapFunc(r.crdToRGDs))
	return r.watchRBAC(b).
		WithOptions(controller.Options{MaxConcurrentReconciles: workers, NeedLeaderElection: ptr.To(!r.EveryReplica)}).
		Named("resourcegraphdefinition").
		Complete(r)
}

// wakeRGD enqueues the RGD name, without blocking (a full channel already
// holds a wake-up).
func (r *Reconciler) wakeRGD(name string) {
	if r.wake == nil {
		return
	}
	select {
	case r.wake <- event.GenericEvent{Object: &v1alpha1.ResourceGraphDefinition{ObjectMeta: metav1.ObjectMeta{Name: name}}}:
	default:
	}
}

func (r *Reconciler) crdReader() client.Reader {
	if r.CRDReader != nil {
		return r.CRDReader
	}
	return r.Client
}

// crdToRGDs maps a CRD event to the RGD that generated it and to every RGD
// that reads or waits for its kind.
func (r *Reconciler) crdToRGDs(_ context.Context, obj client.Object) []reconcile.Request {
	c, ok := obj.(*extv1.CustomResourceDefinition)
	if !ok {
		return nil
	}
	gk := schema.GroupKind{Group: c.Spec.Group, Kind: c.Spec.Names.Kind}
	seen := map[string]bool{}
	var out []reconcile.Request
	if name := c.Labels[trt.LabelRGDName]; name != "" {
		seen[name] = true
		out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Name: name}})
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for name, kinds := range r.kinds {
		if kinds[gk] && !seen[name] {
			seen[name] = true
			out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Name: name}})
		}
	}
	return out
}

func (r *Reconciler) track(name string, gks []schema.GroupKind) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if gks == nil {
		delete(r.kinds, name)
		return
	}
	set := map[schema.GroupKind]bool{}
	for _, gk := range gks {
		set[gk] = true
	}
	r.kinds[name] = set
}

// Reconcile implements reconcile.Reconciler.
func (r *Reconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	rgd := &v1alpha1.ResourceGraphDefinition{}
	if err := r.Client.Get(ctx, req.NamespacedName, rgd); err != nil {
		if apierrors.IsNotFound(err) {
			return reconcile.Result{}, r.serveOrphans(ctx, req.Name)
		}
		return reconcile.Result{}, err
	}
	if rgd.DeletionTimestamp != nil {
		return r.finalize(ctx, rgd)
	}
	if !controllerutil.ContainsFinalizer(rgd, v1alpha1.Finalizer) {
		patch := client.MergeFrom(rgd.DeepCopy())
		controllerutil.AddFinalizer(rgd, v1alpha1.Finalizer)
		if err := r.Client.Patch(ctx, rgd, patch); err != nil {
			return reconcile.Result{}, err
		}
	}
	st := newStatus(rgd)

	// Track the kinds before reading them: a CRD event that lands while the
	// graph is being built must find this RGD, or the wake-up is lost.
	r.track(rgd.Name, kindsOfSpec(rgd))
	g, err := r.buildGraph(rgd)
	if err != nil {
		msg := err.Error()
		// Instances keep running on the last good revision; after a restart
		// it is rebuilt from its GraphRevision.
		if s := rgd.Spec.Schema; s != nil {
			if _, gvr := instanceKind(s); !r.Instances.Registered(gvr) {
				if last, rev := r.lastGood(ctx, rgd); last != nil {
					_ = r.Instances.Register(ctx, rgd, last, rev)
				}
			}
			if rev := r.Instances.Revision(rgd.Name); rev > 0 {
				msg += fmt.Sprintf(" (instances keep running on graph revision %d)", rev)
			}
		}
		if missing := graph.MissingKinds(err); len(missing) > 0 {
			st.set(CondGraphAccepted, metav1.ConditionFalse, ReasonWaitingForKind, msg)
		} else {
			st.set(CondGraphAccepted, metav1.ConditionFalse, "InvalidResourceGraph", msg)
		}
		st.unknown(CondKindReady)
		st.unknown(CondControllerReady)
		// No requeue: a change of the RGD or of a kind it reads wakes us.
		return reconcile.Result{}, r.writeStatus(ctx, rgd, st, nil)
	}
	reason, msg, err := r.checkIdentity(ctx, rgd, g)
	if err != nil {
		return reconcile.Result{}, err
	}
	if reason != "" {
		st.set(CondGraphAccepted, metav1.ConditionFalse, reason, msg)
		st.unknown(CondKindReady)
		st.unknown(CondControllerReady)
		// RBAC events bring us back; the API server's authorizer may lag
		// behind them, so look again after a while too.
		return reconcile.Result{RequeueAfter: forbiddenRecheck}, r.writeStatus(ctx, rgd, st, nil)
	}
	st.set(CondGraphAccepted, metav1.ConditionTrue, "Valid", "resource graph and schema are valid")

	established, err := r.ensureCRD(ctx, rgd, g)
	if err != nil {
		st.set(CondKindReady, metav1.ConditionFalse, "Failed", err.Error())
		st.unknown(CondControllerReady)
		if werr := r.writeStatus(ctx, rgd, st, g); werr != nil {
			return reconcile.Result{}, werr
		}
		var blocked *breakingChangeError
		if errors.As(err, &blocked) {
			return reconcile.Result{}, nil // waits for the RGD or its annotation to change
		}
		return reconcile.Result{}, err
	}
	if !established {
		st.set(CondKindReady, metav1.ConditionFalse, "Failed", fmt.Sprintf("waiting for CRD %s to be established", g.CRD.Name))
		st.unknown(CondControllerReady)
		// The CRD's status change is watched and brings us back.
		return reconcile.Result{}, r.writeStatus(ctx, rgd, st, g)
	}
	st.set(CondKindReady, metav1.ConditionTrue, "Ready", fmt.Sprintf("kind %s has been accepted and ready", g.Instance.GVK.Kind))
	rev, err := r.ensureRevision(ctx, rgd, g)
	if err != nil {
		st.set(CondControllerReady, metav1.ConditionFalse, "FailedToStart", err.Error())
		_ = r.writeStatus(ctx, rgd, st, g)
		return reconcile.Result{}, err
	}
	st.revision = rev
	// The policy goes first, so instances created once the RGD shows Ready
	// are stamped (give or take the API server picking it up). It only saves
	// the instance controller a write per new instance: a failure is
	// retried, never shown as not ready.
	admissionWait, admissionErr := r.ensureAdmission(ctx, rgd, g)
	if err := r.Instances.Register(ctx, rgd, g, rev); err != nil {
		st.set(CondControllerReady, metav1.ConditionFalse, "FailedToStart", err.Error())
		_ = r.writeStatus(ctx, rgd, st, g)
		return reconcile.Result{}, err
	}
	st.set(CondControllerReady, metav1.ConditionTrue, "Running", "controller is running")
	if err := r.writeStatus(ctx, rgd, st, g); err != nil {
		return reconcile.Result{}, err
	}
	return reconcile.Result{RequeueAfter: admissionWait}, admissionErr
}

// ensureAdmission keeps the policy that stamps new instances with the
// finalizer, labels and annotations the instance controller would patch in.
func (r *Reconciler) ensureAdmission(ctx context.Context, rgd *v1alpha1.ResourceGraphDefinition, g *graph.Graph) (time.Duration, error) {
	if r.Admission == nil {
		return 0, nil
	}
	labels, annotations := instance.NewInstanceStamp(r.Version, rgd, g)
	return r.Admission.Ensure(ctx, admission.Owner{Name: rgd.Name, UID: rgd.UID}, g.Instance.GVK, g.Instance.GVR(),
		admission.Stamp{Finalizer: v1alpha1.Finalizer, Labels: labels, Annotations: annotations})
}

type breakingChangeError struct{ changes []string }

func (e *breakingChangeError) Error() string {
	return fmt.Sprintf("breaking changes to the generated CRD are refused (set annotation %s: \"true\" to allow): %s",
		v1alpha1.AllowBreakingChangesAnnotation, strings.Join(e.changes, "; "))
}

// ensureCRD creates or updates the generated CRD, and reports whether it is
// established. An unchanged CRD is never written.
func (r *Reconciler) ensureCRD(ctx context.Context, rgd *v1alpha1.ResourceGraphDefinition, g *graph.Graph) (bool, error) {
	desired := g.CRD.DeepCopy()
	if desired.Labels == nil {
		desired.Labels = map[string]string{}
	}
	for k, v := range trt.InstanceLabels(r.Version, rgd.Name, string(rgd.UID)) {
		desired.Labels[k] = v
	}

	live := &extv1.CustomResourceDefinition{}
	err := r.crdReader().Get(ctx, client.ObjectKey{Name: desired.Name}, live)
	if apierrors.IsNotFound(err) {
		if err := r.Client.Create(ctx, desired); err != nil {
			return false, fmt.Errorf("creating CRD %s: %w", desired.Name, err)
		}
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if owner := live.Labels[trt.LabelRGDName]; live.Labels[trt.LabelOwned] != "true" || (owner != "" && owner != rgd.Name) {
		return false, fmt.Errorf("CRD %s exists and is not owned by this ResourceGraphDefinition", desired.Name)
	}
	if crd.NeedsUpdate(live, desired) {
		if changes := crd.Breaking(live, desired); len(changes) > 0 && rgd.Annotations[v1alpha1.AllowBreakingChangesAnnotation] != "true" {
			return false, &breakingChangeError{changes: changes}
		}
		updated := live.DeepCopy()
		updated.Spec = desired.Spec
		for k, v := range desired.Labels {
			if updated.Labels == nil {
				updated.Labels = map[string]string{}
			}
			updated.Labels[k] = v
		}
		for k, v := range desired.Annotations {
			if updated.Annotations == nil {
				updated.Annotations = map[string]string{}
			}
			updated.Annotations[k] = v
		}
		if err := r.Client.Update(ctx, updated); err != nil {
			return false, fmt.Errorf("updating CRD %s: %w", desired.Name, err)
		}
		return false, nil
	}
	for _, c := range live.Status.Conditions {
		if c.Type == extv1.Established && c.Status == extv1.ConditionTrue {
			return true, nil
		}
	}
	return false, nil
}

// OrphanInstancesAnnotation on an RGD lets it be deleted while instances of
// its kind exist. Without it, deletion waits for the instances to go (kro
// deletes the RGD and leaves the instances unmanaged, kro#1067).
const OrphanInstancesAnnotation = "trellis.dev/orphan-instances"

// finalize stops serving the kind, optionally deletes the CRD, and releases
// the RGD, unless instances exist and orphaning them was not asked for.
func (r *Reconciler) finalize(ctx context.Context, rgd *v1alpha1.ResourceGraphDefinition) (reconcile.Result, error) {
	r.track(rgd.Name, nil)
	r.trackIdentity(rgd.Name, false)
	if !controllerutil.ContainsFinalizer(rgd, v1alpha1.Finalizer) {
		return reconcile.Result{}, nil
	}
	s := rgd.Spec.Schema
	if s != nil {
		other, err := r.kindServedByOther(ctx, rgd.Name, s)
		if err != nil {
			return reconcile.Result{}, err
		}
		if other && r.Admission != nil {
			// Its own admission objects (named after it) are still its own.
			if err := r.Admission.Remove(ctx, rgd.Name); err != nil {
				return reconcile.Result{}, err
			}
		}
		if other {
			s = nil // kro#1169: a rejected duplicate must not touch the active RGD's kind
		}
	}
	if s != nil {
		gvk, gvr := instanceKind(s)
		n, err := r.countInstances(ctx, gvk)
		if err != nil {
			return reconcile.Result{}, err
		}
		if n > 0 && !r.OrphanInstances && rgd.Annotations[OrphanInstancesAnnotation] != "true" {
			// Instance creations and deletions wake us, so the count in the
			// message stays current; new instances are not reconciled.
			name := rgd.Name
			r.Instances.MarkDeleting(gvr, rgd.DeletionTimestamp.Time, func() { r.wakeRGD(name) })
			msg := fmt.Sprintf("deletion blocked: %d instance(s) of %s still exist; delete them first, or annotate the ResourceGraphDefinition with %s: \"true\" to delete it anyway (instances created from now on are not reconciled)", n, gvk.Kind, OrphanInstancesAnnotation)
			if err := r.setDeletionBlocked(ctx, rgd, msg); err != nil {
				return reconcile.Result{}, err
			}
			return reconcile.Result{RequeueAfter: 10 * time.Second}, nil
		}
		if r.Admission != nil {
			if err := r.Admission.Remove(ctx, rgd.Name); err != nil {
				return reconcile.Result{}, err
			}
		}
		if n > 0 {
			// Instances left behind can still be deleted: their children
			// are removed and their finalizers released.
			r.Instances.ServeOrphans(gvr, rgd.Name)
		} else {
			r.Instances.Unregister(gvr)
		}
		if r.AllowCRDDeletion {
			live := &extv1.CustomResourceDefinition{}
			name := gvr.Resource + "." + gvr.Group
			if err := r.Client.Get(ctx, client.ObjectKey{Name: name}, live); err == nil && live.Labels[trt.LabelRGDName] == rgd.Name {
				if err := r.Client.Delete(ctx, live); client.IgnoreNotFound(err) != nil {
					return reconcile.Result{}, err
				}
			}
		}
	}
	patch := client.MergeFrom(rgd.DeepCopy())
	controllerutil.RemoveFinalizer(rgd, v1alpha1.Finalizer)
	return reconcile.Result{}, client.IgnoreNotFound(r.Client.Patch(ctx, rgd, patch))
}

// kindServedByOther reports whether the kind s defines belongs to another
// RGD (its CRD carries that RGD's name): then this RGD was rejected as a
// duplicate, and its instances, admission binding and registration are
// the other RGD's.
func (r *Reconciler) kindServedByOther(ctx context.Context, rgdName string, s *v1alpha1.Schema) (bool, error) {
	_, gvr := instanceKind(s)
	live := &extv1.CustomResourceDefinition{}
	err := r.Client.Get(ctx, client.ObjectKey{Name: gvr.Resource + "." + gvr.Group}, live)
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	owner := live.Labels[trt.LabelRGDName]
	return owner != "" && owner != rgdName, nil
}

func instanceKind(s *v1alpha1.Schema) (schema.GroupVersionKind, schema.GroupVersionResource) {
	group := s.Group
	if group == "" {
		group = v1alpha1.DefaultGroup
	}
	gvk := schema.GroupVersionKind{Group: group, Version: s.APIVersion, Kind: s.Kind}
	return gvk, gvk.GroupVersion().WithResource(strings.TrimSuffix(crd.Name(s.Kind, group), "."+group))
}

// countInstances counts the instances of a kind straight from the API
// server (0 when the kind is not served).
func (r *Reconciler) countInstances(ctx context.Context, gvk schema.GroupVersionKind) (int, error) {
	list := &unstructured.UnstructuredList{}
	list.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
	err := r.Client.List(ctx, list)
	if apierrors.IsNotFound(err) || meta.IsNoMatchError(err) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return len(list.Items), nil
}

// serveOrphans: an RGD is gone, but the CRD it generated still labels it;
// instances left of it must stay deletable (e.g. after a restart).
func (r *Reconciler) serveOrphans(ctx context.Context, rgdName string) error {
	var crds extv1.CustomResourceDefinitionList
	if err := r.Client.List(ctx, &crds, client.MatchingLabels{trt.LabelRGDName: rgdName}); err != nil {
		return err
	}
	for _, c := range crds.Items {
		for _, v := range c.Spec.Versions {
			if v.Storage {
				gvk := schema.GroupVersionKind{Group: c.Spec.Group, Version: v.Name, Kind: c.Spec.Names.Kind}
				gvr := gvk.GroupVersion().WithResource(c.Spec.Names.Plural)
				if !r.Instances.Registered(gvr) {
					r.Instances.ServeOrphans(gvr, rgdName)
				}
			}
		}
	}
	return nil
}

// setDeletionBlocked shows a blocked deletion: state DeletionBlocked and
// the root Ready condition False with reason DeletionBlocked, leaving the
// other conditions as they are.
func (r *Reconciler) setDeletionBlocked(ctx context.Context, rgd *v1alpha1.ResourceGraphDefinition, msg string) error {
	next := rgd.Status.DeepCopy()
	next.State = StateDeletionBlocked
	meta.SetStatusCondition(&next.Conditions, metav1.Condition{Type: CondReady, Status: metav1.ConditionFalse, Reason: "DeletionBlocked", Message: msg, ObservedGeneration: rgd.Generation})
	if equality.Semantic.DeepEqual(&rgd.Status, next) {
		return nil
	}
	patch := client.MergeFrom(rgd.DeepCopy())
	rgd.Status = *next
	return client.IgnoreNotFound(r.Client.Status().Patch(ctx, rgd, patch))
}

// kindsOfSpec reads the kinds an RGD references without building it, so a
// broken or waiting RGD still gets re-checked when one of them changes.
func kindsOfSpec(rgd *v1alpha1.ResourceGraphDefinition) []schema.GroupKind {
	out := []schema.GroupKind{}
	for _, res := range rgd.Spec.Resources {
		if res == nil {
			continue
		}
		var apiVersion, kind string
		if res.ExternalRef != nil {
			apiVersion, kind = res.ExternalRef.APIVersion, res.ExternalRef.Kind
		} else if res.Template != nil {
			var t struct {
				APIVersion string `json:"apiVersion"`
				Kind       string `json:"kind"`
			}
			_ = json.Unmarshal(res.Template.Raw, &t)
			apiVersion, kind = t.APIVersion, t.Kind
		}
		if gv, err := schema.ParseGroupVersion(apiVersion); err == nil {
			out = append(out, gv.WithKind(kind).GroupKind())
		}
	}
	return out
}

// ---- status ----

type status struct {
	gen      int64
	conds    []metav1.Condition
	revision int64 // newest graph revision issued, 0 if none this pass
}

func newStatus(rgd *v1alpha1.ResourceGraphDefinition) *status {
	s := &status{gen: rgd.Generation}
	for _, c := range rgd.Status.Conditions {
		if c.Type == CondGraphAccepted || c.Type == CondKindReady || c.Type == CondControllerReady || c.Type == CondReady {
			s.conds = append(s.conds, c)
		}
	}
	return s
}

func (s *status) set(t string, st metav1.ConditionStatus, reason, msg string) {
	meta.SetStatusCondition(&s.conds, metav1.Condition{Type: t, Status: st, Reason: reason, Message: msg, ObservedGeneration: s.gen})
}

func (s *status) unknown(t string) {
	s.set(t, metav1.ConditionUnknown, "AwaitingReconciliation", fmt.Sprintf("condition %q is awaiting reconciliation", t))
}

// writeStatus computes state, Ready and the graph fields and writes the
// status only when it changed.
func (r *Reconciler) writeStatus(ctx context.Context, rgd *v1alpha1.ResourceGraphDefinition, s *status, g *graph.Graph) error {
	ready := metav1.Condition{Type: CondReady, Status: metav1.ConditionTrue, Reason: "Ready", ObservedGeneration: s.gen}
	for _, t := range []string{CondGraphAccepted, CondKindReady, CondControllerReady} {
		c := meta.FindStatusCondition(s.conds, t)
		if c == nil || c.Status == metav1.ConditionTrue {
			continue
		}
		if ready.Status == metav1.ConditionTrue || (c.Status == metav1.ConditionFalse && ready.Status != metav1.ConditionFalse) {
			ready.Status, ready.Reason, ready.Message = c.Status, c.Reason, c.Message
		}
	}
	meta.SetStatusCondition(&s.conds, ready)

	next := rgd.Status.DeepCopy()
	next.LastIssuedRevision = max(next.LastIssuedRevision, s.revision)
	next.Conditions = nil
	for _, t := range []string{CondGraphAccepted, CondKindReady, CondControllerReady, CondReady} {
		if c := meta.FindStatusCondition(s.conds, t); c != nil {
			next.Conditions = append(next.Conditions, *c)
		}
	}
	next.State = v1alpha1.StateInactive
	if ready.Status == metav1.ConditionTrue {
		next.State = v1alpha1.StateActive
	}
	if g != nil {
		next.TopologicalOrder = g.TopologicalOrder()
		next.Resources = nil
		for _, n := range g.Nodes {
			if len(n.Dependencies) == 0 {
				continue
			}
			info := v1alpha1.ResourceInformation{ID: n.ID}
			for _, d := range n.Dependencies {
				info.Dependencies = append(info.Dependencies, v1alpha1.Dependency{ID: d})
			}
			next.Resources = append(next.Resources, info)
		}
	}
	if equality.Semantic.DeepEqual(&rgd.Status, next) {
		return nil
	}
	prev := rgd.Status
	patch := client.MergeFrom(rgd.DeepCopy())
	rgd.Status = *next
	err := r.Client.Status().Patch(ctx, rgd, patch)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err == nil {
		r.statusWritten(rgd, &prev)
	}
	return err
}
