package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	ackv1alpha1 "github.com/trellis-dev/trellis/api/ack/core/v1alpha1"
)

// Reconciler runs the ACK reconcile loop for one kind.
type Reconciler[T Object] struct {
	Manager Manager[T]
	AWS     *AWS
	Config  Config
	// Client writes to the API server; Reader reads without a cache.
	Client client.Client
	Reader client.Reader
	GVK    schema.GroupVersionKind
	Log    logr.Logger
}

// Finalizer is finalizers.<service>.services.k8s.aws/<Kind>.
func (r *Reconciler[T]) Finalizer() string {
	return "finalizers." + r.Manager.Service() + ".services.k8s.aws/" + r.Manager.Kind()
}

// SetupWithManager registers the controller. Like ACK, it reconciles on
// generation changes (creation, spec edits, deletion) and on resync.
func (r *Reconciler[T]) SetupWithManager(mgr ctrl.Manager) error {
	if r.Client == nil {
		r.Client = mgr.GetClient()
	}
	if r.Reader == nil {
		r.Reader = mgr.GetAPIReader()
	}
	n := r.Config.MaxConcurrentSyncs
	if n <= 0 {
		n = 1
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named("ack-"+r.Manager.Service()+"-"+strings.ToLower(r.Manager.Kind())).
		For(r.Manager.New(), builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		WithOptions(controller.Options{MaxConcurrentReconciles: n}).
		Complete(r)
}

// Reconcile implements reconcile.Reconciler.
func (r *Reconciler[T]) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	log := logf.FromContext(ctx)
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(r.GVK)
	if err := r.Reader.Get(ctx, req.NamespacedName, u); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	desired := r.Manager.New()
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, desired); err != nil {
		return ctrl.Result{}, fmt.Errorf("decoding %s: %w", req.NamespacedName, err)
	}
	env, err := r.env(ctx, desired)
	if err != nil {
		// Region or account drift: no condition, retried with backoff.
		log.Error(err, "cannot reconcile")
		return ctrl.Result{}, err
	}
	if !desired.GetDeletionTimestamp().IsZero() {
		return r.delete(ctx, env, desired)
	}
	specType := reflect.ValueOf(desired).Elem().FieldByName("Spec").Type()
	unknown := UnknownFields("spec", u.Object["spec"], specType)
	return r.sync(ctx, env, desired, unknown)
}

// env works out region and account: status wins over the annotation, which
// wins over the flag. A change after creation is an error, never a move.
func (r *Reconciler[T]) env(ctx context.Context, obj T) (Env, error) {
	id := r.AWS.Identity(ctx)
	region := r.AWS.Region()
	if a := obj.GetAnnotations()[ackv1alpha1.AnnotationRegion]; a != "" {
		region = a
	}
	if md := obj.ACKStatus().ACKResourceMetadata; md != nil {
		if md.Region != nil && *md.Region != "" && string(*md.Region) != region {
			if obj.GetAnnotations()[ackv1alpha1.AnnotationRegion] != "" {
				return Env{}, Terminal("region annotation %q differs from the resource's region %q; a resource cannot move", region, *md.Region)
			}
			region = string(*md.Region)
		}
		if md.OwnerAccountID != nil && *md.OwnerAccountID != "" && string(*md.OwnerAccountID) != id.AccountID {
			return Env{}, Terminal("resource is owned by account %s, but the controller acts as %s", *md.OwnerAccountID, id.AccountID)
		}
	}
	cfg := r.AWS.Config.Copy()
	cfg.Region = region
	return Env{AWS: cfg, Region: region, AccountID: id.AccountID, Partition: id.Partition, Config: r.Config}, nil
}

func (r *Reconciler[T]) deletionPolicy(obj T) string {
	if p := obj.GetAnnotations()[ackv1alpha1.AnnotationDeletionPolicy]; p != "" {
		return strings.ToLower(p)
	}
	if r.Config.DeletionPolicy != "" {
		return r.Config.DeletionPolicy
	}
	return ackv1alpha1.DeletionPolicyDelete
}

func isReadOnly(obj client.Object) bool {
	return strings.EqualFold(obj.GetAnnotations()[ackv1alpha1.AnnotationReadOnly], "true")
}

func (r *Reconciler[T]) delete(ctx context.Context, env Env, desired T) (ctrl.Result, error) {
	log := logf.FromContext(ctx)
	if !controllerutil.ContainsFinalizer(desired, r.Finalizer()) {
		return ctrl.Result{}, nil
	}
	policy := r.deletionPolicy(desired)
	if policy != ackv1alpha1.DeletionPolicyRetain && !isReadOnly(desired) {
		if policy != ackv1alpha1.DeletionPolicyDelete {
			log.Info("unknown deletion policy; deleting", "policy", policy)
		}
		cl := r.Manager.Classifier()
		target := desired
		if isReadOnly(desired) || desired.GetAnnotations()[ackv1alpha1.AnnotationAdopted] == "true" {
			r.fillFromAdoptionFields(desired)
		}
		// As in ACK, references are resolved for the delete, errors ignored.
		_, _ = r.resolveReferences(ctx, desired)
		latest, err := r.Manager.ReadOne(ctx, env, target)
		switch {
		case err != nil && cl.IsNotFound(err):
		case err != nil:
			return r.finishDelete(ctx, desired, err)
		default:
			done, err := r.Manager.Delete(ctx, env, latest)
			if err != nil && !cl.IsNotFound(err) {
				return r.finishDelete(ctx, latest, err)
			}
			if err == nil && !done {
				log.V(1).Info("deletion in progress")
				return ctrl.Result{RequeueAfter: r.notSyncedRequeue()}, nil
			}
			log.Info("deleted AWS resource")
		}
	} else {
		log.Info("leaving the AWS resource in place", "deletionPolicy", policy, "readOnly", isReadOnly(desired))
	}
	if err := r.patchFinalizer(ctx, desired, false); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	return ctrl.Result{}, nil
}

// finishDelete reports a failed delete in the status and retries.
func (r *Reconciler[T]) finishDelete(ctx context.Context, obj T, err error) (ctrl.Result, error) {
	o := r.outcome(err, false, "")
	orig := obj.DeepCopyObject().(T)
	setConditions(obj.ACKStatus(), orig.ACKStatus().Conditions, o, metav1.Now())
	if perr := r.Client.Status().Patch(ctx, obj, client.MergeFrom(orig)); perr != nil && !apierrors.IsNotFound(perr) {
		logf.FromContext(ctx).Error(perr, "patching status")
	}
	if o.class == ClassTerminal {
		return ctrl.Result{RequeueAfter: r.Config.ResyncPeriod}, nil
	}
	return ctrl.Result{}, err
}

func (r *Reconciler[T]) notSyncedRequeue() time.Duration {
	if r.Config.NotSyncedRequeue > 0 {
		return r.Config.NotSyncedRequeue
	}
	return 30 * time.Second
}

func (r *Reconciler[T]) outcome(err error, synced bool, reason string) outcome {
	cl := r.Manager.Classifier()
	o := outcome{class: cl.Classify(err), synced: synced, notSyncedReason: reason}
	if err != nil {
		var te *TerminalError
		if errors.As(err, &te) {
			o.message = te.Msg
		} else {
			o.message = AWSErrorMessage(err)
		}
	}
	return o
}

// syncResult is what doSync hands back to sync.
type syncResult[T Object] struct {
	latest  T
	have    bool
	requeue bool
	// refsUsed: the spec has references, resolved with refsErr.
	refsUsed bool
	refsErr  error
}

func (r *Reconciler[T]) sync(ctx context.Context, env Env, desired T, unknown []string) (ctrl.Result, error) {
	log := logf.FromContext(ctx)
	orig := desired.DeepCopyObject().(T)
	res, err := r.doSync(ctx, env, desired, unknown)

	synced, reason := false, ""
	if err == nil && res.have {
		var serr error
		synced, reason, serr = r.Manager.IsSynced(res.latest)
		if serr != nil {
			err = serr
		}
	}
	o := r.outcome(err, synced, reason)
	o.refs, o.refsMessage = refState(res.refsUsed, res.refsErr)
	if o.class == ClassRequeue {
		o.synced, o.notSyncedReason = false, o.message
	}

	// The status is always written, from the latest observation if any.
	target := desired
	if res.have {
		target = res.latest
		r.setMetadata(env, target)
	}
	// Status patches are computed against the object as it was read; only
	// the status subresource is written.
	statusObj := orig.DeepCopyObject().(T)
	setStatus(statusObj, target)
	setConditions(statusObj.ACKStatus(), orig.ACKStatus().Conditions, o, metav1.Now())
	if perr := r.Client.Status().Patch(ctx, statusObj, client.MergeFrom(orig)); perr != nil {
		if apierrors.IsNotFound(perr) {
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, fmt.Errorf("patching status: %w", perr)
	}

	switch o.class {
	case ClassTerminal:
		// A spec change retries at once; the resync period retries anyway,
		// since what made it terminal may lie outside the spec (ACK
		// community#1844/#2098: Terminal was only retried after a restart).
		log.Info("terminal error; retrying on a spec change or after the resync period", "error", o.message)
		return ctrl.Result{RequeueAfter: r.Config.ResyncPeriod}, nil
	case ClassRequeue:
		var re *RequeueError
		errors.As(err, &re)
		return ctrl.Result{RequeueAfter: re.After}, nil
	case ClassRecoverable, ClassNotFound:
		var re *ReferenceError
		if errors.As(err, &re) {
			// Waiting on another resource: look again soon, without the
			// growing backoff of an error.
			log.V(1).Info("waiting for a reference", "reason", re.Msg)
			return ctrl.Result{RequeueAfter: ReferenceWait}, nil
		}
		return ctrl.Result{}, err
	}
	if res.requeue {
		return ctrl.Result{RequeueAfter: time.Millisecond}, nil
	}
	if !synced {
		return ctrl.Result{RequeueAfter: r.notSyncedRequeue()}, nil
	}
	return ctrl.Result{RequeueAfter: r.Config.ResyncPeriod}, nil
}

// setStatus copies the Status field of from into to.
func setStatus[T Object](to, from T) {
	reflect.ValueOf(to).Elem().FieldByName("Status").Set(reflect.ValueOf(from).Elem().FieldByName("Status"))
}

// setSpec copies the Spec field of from into to.
func setSpec[T Object](to, from T) {
	reflect.ValueOf(to).Elem().FieldByName("Spec").Set(reflect.ValueOf(from).Elem().FieldByName("Spec"))
}

func (r *Reconciler[T]) setMetadata(env Env, obj T) {
	st := obj.ACKStatus()
	acct := ackv1alpha1.AWSAccountID(env.AccountID)
	region := ackv1alpha1.AWSRegion(env.Region)
	part := ackv1alpha1.AWSPartition(env.Partition)
	md := &ackv1alpha1.ResourceMetadata{OwnerAccountID: &acct, Region: &region, Partition: &part}
	if a := r.Manager.ARN(env, obj); a != "" {
		arnV := ackv1alpha1.ARN(a)
		md.ARN = &arnV
	}
	st.ACKResourceMetadata = md
}

func (r *Reconciler[T]) adoptionFields(obj T) (map[string]string, error) {
	raw := obj.GetAnnotations()[ackv1alpha1.AnnotationAdoptionFields]
	if strings.TrimSpace(raw) == "" {
		return nil, Terminal("annotation %s is required with adoption-policy adopt", ackv1alpha1.AnnotationAdoptionFields)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(raw), &m); err != nil {
		return nil, Terminal("annotation %s is not a JSON object: %v", ackv1alpha1.AnnotationAdoptionFields, err)
	}
	out := map[string]string{}
	for k, v := range m {
		s, ok := v.(string)
		if !ok {
			return nil, Terminal("annotation %s: field %q is not a string", ackv1alpha1.AnnotationAdoptionFields, k)
		}
		out[k] = strings.TrimSpace(s)
	}
	return out, nil
}

// fillFromAdoptionFields sets the identifier from adoption-fields in
// memory, for read-only adopted resources whose spec was never rewritten.
func (r *Reconciler[T]) fillFromAdoptionFields(obj T) {
	if obj.GetAnnotations()[ackv1alpha1.AnnotationAdoptionFields] == "" {
		return
	}
	if f, err := r.adoptionFields(obj); err == nil {
		_ = r.Manager.AdoptionFields(obj, f)
	}
}

func (r *Reconciler[T]) doSync(ctx context.Context, env Env, desired T, unknown []string) (res syncResult[T], err error) {
	log := logf.FromContext(ctx)
	var none syncResult[T]
	m := r.Manager
	cl := m.Classifier()
	ann := desired.GetAnnotations()
	policy := ann[ackv1alpha1.AnnotationAdoptionPolicy]
	switch policy {
	case "", ackv1alpha1.AdoptionPolicyAdopt, ackv1alpha1.AdoptionPolicyAdoptOrCreate:
	default:
		return none, Terminal("unknown %s %q: use %s or %s", ackv1alpha1.AnnotationAdoptionPolicy, policy,
			ackv1alpha1.AdoptionPolicyAdopt, ackv1alpha1.AdoptionPolicyAdoptOrCreate)
	}
	if len(unknown) > 0 {
		return none, Terminal("not supported by trellis's %s %s: %s", m.Service(), m.Kind(), strings.Join(unknown, ", "))
	}
	readOnly := isReadOnly(desired)
	adopted := ann[ackv1alpha1.AnnotationAdopted] == "true"
	managed := controllerutil.ContainsFinalizer(desired, r.Finalizer())

	// Adoption: identifier from adoption-fields, then ReadOne.
	if policy == ackv1alpha1.AdoptionPolicyAdopt && !managed && !adopted {
		fields, err := r.adoptionFields(desired)
		if err != nil {
			return none, err
		}
		base := desired.DeepCopyObject().(T) // as on the API server
		if err := m.AdoptionFields(desired, fields); err != nil {
			return none, Terminal("annotation %s: %v", ackv1alpha1.AnnotationAdoptionFields, err)
		}
		read := m.ReadOne
		if ar, ok := m.(AdoptionReader[T]); ok && !readOnly {
			read = ar.ReadForAdoption
		}
		latest, err := read(ctx, env, desired)
		if err != nil {
			if cl.IsNotFound(err) {
				return none, errors.New("adopted resource not found")
			}
			return none, err
		}
		if err := r.markAdopted(ctx, base, desired, latest, !readOnly); err != nil {
			return none, err
		}
		log.Info("adopted AWS resource", "readOnly", readOnly)
		if !readOnly {
			setSpec(desired, latest)
		}
		managed, adopted = true, true
		if readOnly {
			return syncResult[T]{latest: latest, have: true}, nil
		}
	}
	if readOnly || adopted {
		r.fillFromAdoptionFields(desired)
	}
	// References: on an error the loop stops (nothing is created), unless
	// the resource is only observed.
	refsUsed, refsErr := r.resolveReferences(ctx, desired)
	// Every outcome from here on reports the references (True once resolved).
	defer func() { res.refsUsed, res.refsErr = refsUsed, refsErr }()
	if refsErr != nil && !readOnly {
		return syncResult[T]{refsUsed: refsUsed, refsErr: refsErr}, refsErr
	}
	if err := m.Validate(desired); err != nil {
		var te *TerminalError
		if !errors.As(err, &te) {
			err = &TerminalError{Msg: err.Error()}
		}
		return none, err
	}

	if readOnly {
		latest, err := m.ReadOne(ctx, env, desired)
		if err != nil {
			if cl.IsNotFound(err) {
				return none, errors.New("read-only resource not found")
			}
			return none, err
		}
		if d := m.Delta(desired, latest); len(d) > 0 {
			log.Info("read-only resource differs from its spec; not updating", "fields", d)
		}
		return syncResult[T]{latest: latest, have: true, refsUsed: refsUsed, refsErr: refsErr}, nil
	}

	latest, err := m.ReadOne(ctx, env, desired)
	if err != nil && !cl.IsNotFound(err) {
		return none, err
	}
	if err != nil { // not found
		if policy == ackv1alpha1.AdoptionPolicyAdopt || adopted {
			return none, errors.New("adopted resource not found")
		}
		latest, err = r.create(ctx, env, desired)
		if err != nil {
			return none, err
		}
	} else {
		if !managed {
			if policy != ackv1alpha1.AdoptionPolicyAdoptOrCreate {
				return syncResult[T]{latest: latest, have: true}, Terminal("Resource already exists")
			}
			if err := r.markAdopted(ctx, desired.DeepCopyObject().(T), desired, latest, false); err != nil {
				return none, err
			}
			log.Info("adopted existing AWS resource (adopt-or-create)")
			return syncResult[T]{latest: latest, have: true, refsUsed: refsUsed, refsErr: refsErr, requeue: true}, nil
		}
		if delta := m.Delta(desired, latest); len(delta) > 0 {
			log.Info("updating AWS resource", "fields", delta)
			latest, err = m.Update(ctx, env, desired, latest, delta)
			if err != nil {
				return none, err
			}
		}
	}

	// Late initialisation: server defaults into the spec.
	withDefaults := desired.DeepCopyObject().(T)
	if m.LateInitialize(withDefaults, latest) {
		if err := r.Client.Patch(ctx, withDefaults, client.MergeFrom(desired)); err != nil {
			return syncResult[T]{latest: latest, have: true}, fmt.Errorf("patching late-initialised spec: %w", err)
		}
		setSpec(latest, withDefaults)
	}
	return syncResult[T]{latest: latest, have: true, refsUsed: refsUsed, refsErr: refsErr}, nil
}

func (r *Reconciler[T]) create(ctx context.Context, env Env, desired T) (T, error) {
	log := logf.FromContext(ctx)
	var zero T
	// The finalizer is patched on a copy: decoding the answer into desired
	// would drop the values its references resolved to (kept in memory).
	fin := desired.DeepCopyObject().(T)
	if err := r.patchFinalizer(ctx, fin, true); err != nil {
		return zero, err
	}
	desired.SetFinalizers(fin.GetFinalizers())
	desired.SetResourceVersion(fin.GetResourceVersion())
	log.Info("creating AWS resource")
	created, err := r.Manager.Create(ctx, env, desired)
	if err != nil {
		if AWSErrorCode(err) != "" {
			if ferr := r.patchFinalizer(ctx, desired, false); ferr != nil {
				log.Error(ferr, "removing finalizer after failed create")
			}
		}
		return zero, err
	}
	// Eventual consistency: read back, retrying NotFound for up to 10s.
	cl := r.Manager.Classifier()
	wait := 100 * time.Millisecond
	deadline := time.Now().Add(10 * time.Second)
	for {
		latest, err := r.Manager.ReadOne(ctx, env, desired)
		if err == nil {
			if h, ok := r.Manager.(CreateStatusMerger[T]); ok {
				h.MergeCreateStatus(created, latest)
			}
			return latest, nil
		}
		if !cl.IsNotFound(err) || time.Now().After(deadline) {
			// Report what Create returned; the next loop reads again.
			if cl.IsNotFound(err) {
				return created, nil
			}
			return zero, err
		}
		select {
		case <-ctx.Done():
			return zero, ctx.Err()
		case <-time.After(wait):
		}
		wait *= 2
	}
}

// patchFinalizer adds or removes the kind's finalizer on obj (in place).
// The patch is sent from a copy and only the metadata is taken back: the
// answer would overwrite obj's values resolved in memory (references,
// Secret values), which the API server does not have.
func (r *Reconciler[T]) patchFinalizer(ctx context.Context, obj T, add bool) error {
	before := obj.DeepCopyObject().(T)
	after := obj.DeepCopyObject().(T)
	var changed bool
	if add {
		changed = controllerutil.AddFinalizer(after, r.Finalizer())
	} else {
		changed = controllerutil.RemoveFinalizer(after, r.Finalizer())
	}
	if !changed {
		return nil
	}
	if err := r.Client.Patch(ctx, after, client.MergeFrom(before)); err != nil {
		return err
	}
	obj.SetFinalizers(after.GetFinalizers())
	obj.SetResourceVersion(after.GetResourceVersion())
	return nil
}

// markAdopted adds the finalizer and adopted=true, and with writeSpec the
// observed spec, to the object on the API server (base is the object as
// read from it); desired gets the new metadata.
func (r *Reconciler[T]) markAdopted(ctx context.Context, base, desired, latest T, writeSpec bool) error {
	before := base
	after := base.DeepCopyObject().(T)
	controllerutil.AddFinalizer(after, r.Finalizer())
	a := after.GetAnnotations()
	if a == nil {
		a = map[string]string{}
	}
	a[ackv1alpha1.AnnotationAdopted] = "true"
	after.SetAnnotations(a)
	if writeSpec {
		setSpec(after, latest)
		if rr, ok := r.Manager.(ReferenceResolver[T]); ok {
			rr.ClearResolvedReferences(after)
		}
	}
	if err := r.Client.Patch(ctx, after, client.MergeFrom(before)); err != nil {
		return err
	}
	desired.SetFinalizers(after.GetFinalizers())
	desired.SetAnnotations(after.GetAnnotations())
	desired.SetResourceVersion(after.GetResourceVersion())
	return nil
}

// resolveReferences resolves desired's references in memory when the kind
// has any; used reports whether the spec uses one.
func (r *Reconciler[T]) resolveReferences(ctx context.Context, desired T) (used bool, err error) {
	rr, ok := r.Manager.(ReferenceResolver[T])
	if !ok {
		return false, nil
	}
	refs := &Refs{Reader: r.Reader, Namespace: desired.GetNamespace()}
	err = rr.ResolveReferences(ctx, refs, desired)
	return refs.Used, err
}
