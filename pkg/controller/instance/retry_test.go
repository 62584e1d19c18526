package instance

import (
	"errors"
	"fmt"
	"net"
	"syscall"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func TestRetryAfter(t *testing.T) {
	backoff := 2 * time.Minute
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{}}
	cm := schema.GroupResource{Resource: "configmaps"}
	for _, c := range []struct {
		name string
		err  error
		want time.Duration
	}{
		{"a template error keeps the backoff", errors.New("resources.config: ${schema.spec.x}: no such key: x"), backoff},
		{"a conflict keeps the backoff", apierrors.NewConflict(cm, "c", errors.New("changed")), backoff},
		{"RBAC denial", apierrors.NewForbidden(cm, "c", errors.New("denied")), retryCap},
		{"RBAC denial as text", fmt.Errorf("apply config: %v", apierrors.NewForbidden(cm, "c", errors.New("denied"))), retryCap},
		{"a net error", fmt.Errorf("apply config: %w", refused), retryCap},
		{"refused, as text", errors.New(`Patch "https://127.0.0.1:6443/api/v1/…": dial tcp 127.0.0.1:6443: connect: connection refused`), retryCap},
		{"refused errno", fmt.Errorf("post: %w", syscall.ECONNREFUSED), retryCap},
		{"a starting API server", apierrors.NewServiceUnavailable("the server is currently unable to handle the request"), retryCap},
	} {
		if got := retryAfter(c.err, backoff); got != c.want {
			t.Errorf("%s: retryAfter = %s, want %s", c.name, got, c.want)
		}
	}
	if got := retryAfter(errors.New("connection refused"), time.Second); got != time.Second {
		t.Errorf("a backoff below the cap is kept: got %s", got)
	}
}
