package instance

import (
	"strconv"
	"sync"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

// echoes recognises the watch events our own applies cause, so that they do
// not trigger another reconcile: the reconcile that applied already holds
// the object from the apply's response. An event can arrive before that
// response does, so writes are tracked from the moment they are sent.
type echoes struct {
	mu       sync.Mutex
	inflight map[objectKey]*flight
	written  map[types.UID]string // child UID -> resourceVersion our last apply returned
}

type objectKey struct {
	gvr             schema.GroupVersionResource
	namespace, name string
}

// flight is an apply on its way; seen are the resourceVersions of the
// object's events that arrived meanwhile.
type flight struct{ seen []string }

func newEchoes() *echoes {
	return &echoes{inflight: map[objectKey]*flight{}, written: map[types.UID]string{}}
}

// begin marks an apply of k as sent.
func (e *echoes) begin(k objectKey) {
	e.mu.Lock()
	e.inflight[k] = &flight{}
	e.mu.Unlock()
}

// end records the apply's outcome (rv "" when it failed) and reports
// whether an event that is not its echo arrived while it was in flight:
// then the caller must look again.
func (e *echoes) end(k objectKey, uid types.UID, rv string) (missed bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	var seen []string
	if f := e.inflight[k]; f != nil {
		seen = f.seen
	}
	delete(e.inflight, k)
	echoed := false
	for _, s := range seen {
		if rv == "" || (s != rv && !older(s, rv)) {
			missed = true
		}
		echoed = echoed || s == rv
	}
	if rv != "" && !echoed {
		e.written[uid] = rv // its echo is still to come
	}
	return missed
}

// echo reports whether an event of k (object uid at resourceVersion rv) is
// the effect of our own apply, seen or still in flight.
func (e *echoes) echo(k objectKey, uid types.UID, rv string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if f := e.inflight[k]; f != nil {
		f.seen = append(f.seen, rv)
		return true
	}
	if e.written[uid] == rv {
		delete(e.written, uid) // seen once; any later event is someone else's
		return true
	}
	return false
}

// forget drops a deleted child.
func (e *echoes) forget(uid types.UID) {
	e.mu.Lock()
	delete(e.written, uid)
	e.mu.Unlock()
}

// older reports whether resourceVersion a precedes b. resourceVersions are
// etcd revisions; anything else is treated as not older, which only costs a
// reconcile.
func older(a, b string) bool {
	x, err1 := strconv.ParseUint(a, 10, 64)
	y, err2 := strconv.ParseUint(b, 10, 64)
	return err1 == nil && err2 == nil && x < y
}
