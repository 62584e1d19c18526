// Package events emits Kubernetes Events about trellis's objects (instances
// and ResourceGraphDefinitions) through client-go's record broadcaster.
//
// Events are best effort and bounded, so that thousands of instances cannot
// flood the API server:
//   - the controllers emit only on written status changes (an instance that
//     becomes ACTIVE, fails, or leaves ACTIVE; an RGD accepted or rejected),
//     never on a reconcile that changes nothing;
//   - Normal events of all objects together pass a token bucket
//     (NormalQPS/NormalBurst), Warnings a larger one; an event over budget is
//     dropped where it is produced, so nothing queues up to be written later;
//   - client-go's correlator then aggregates similar events and rate-limits
//     each object (its spam filter), and one goroutine writes them in order.
package events

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/flowcontrol"
)

// Component is the source of trellis's events.
const Component = "trellis"

// Budgets of all objects together, in events per second and burst.
const (
	NormalQPS    = 20
	NormalBurst  = 200
	WarningQPS   = 50
	WarningBurst = 500
)

// Object names the object an event is about.
type Object struct {
	APIVersion, Kind, Namespace, Name string
	UID                               types.UID
}

// Recorder emits events. A nil *Recorder emits nothing.
type Recorder struct {
	rec     record.EventRecorder
	normal  flowcontrol.RateLimiter
	warning flowcontrol.RateLimiter
}

// New starts a broadcaster writing to the API server through kube. stop
// flushes what is queued and stops it.
func New(kube kubernetes.Interface) (rec *Recorder, stop func()) {
	b := record.NewBroadcaster()
	b.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: kube.CoreV1().Events("")})
	return NewWith(b.NewRecorder(scheme.Scheme, corev1.EventSource{Component: Component})), b.Shutdown
}

// NewWith wraps an EventRecorder (e.g. record.FakeRecorder in tests).
func NewWith(rec record.EventRecorder) *Recorder {
	return &Recorder{
		rec:     rec,
		normal:  flowcontrol.NewTokenBucketRateLimiter(NormalQPS, NormalBurst),
		warning: flowcontrol.NewTokenBucketRateLimiter(WarningQPS, WarningBurst),
	}
}

// Normal emits a Normal event, if the budget allows.
func (r *Recorder) Normal(o Object, reason, message string) {
	if r == nil || !r.normal.TryAccept() {
		return
	}
	r.rec.Event(o.ref(), corev1.EventTypeNormal, reason, truncate(message))
}

// Warning emits a Warning event, if the budget allows.
func (r *Recorder) Warning(o Object, reason, message string) {
	if r == nil || !r.warning.TryAccept() {
		return
	}
	r.rec.Event(o.ref(), corev1.EventTypeWarning, reason, truncate(message))
}

func (o Object) ref() *corev1.ObjectReference {
	return &corev1.ObjectReference{APIVersion: o.APIVersion, Kind: o.Kind, Namespace: o.Namespace, Name: o.Name, UID: o.UID}
}

// maxMessage keeps messages within what the API server accepts for an
// event's note (1 KiB).
const maxMessage = 1024

func truncate(s string) string {
	if len(s) <= maxMessage {
		return s
	}
	cut := maxMessage - len("...")
	for cut > 0 && s[cut]&0xC0 == 0x80 { // not inside a UTF-8 sequence
		cut--
	}
	return s[:cut] + "..."
}
