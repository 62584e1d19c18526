package instance

import (
	"errors"
	"net"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	utilnet "k8s.io/apimachinery/pkg/util/net"
)

// retryCap bounds the backoff of an instance whose reconcile failed for a
// reason outside the instance: RBAC denied a write (a platform team adds the
// role, and the instance should follow within seconds), or the API server
// could not be reached (restart, outage). Without the cap, the instances
// that failed during a one-minute outage sat in the queue's exponential
// backoff for up to another minute after the API server was back.
const retryCap = 15 * time.Second

// retryAfter is when to try an instance again after err, given the queue's
// exponential backoff for it.
func retryAfter(err error, backoff time.Duration) time.Duration {
	if isForbidden(err) || strings.Contains(err.Error(), " is forbidden: ") || apiServerUnreachable(err) {
		return min(backoff, retryCap)
	}
	return backoff
}

// apiServerUnreachable reports whether err says the API server did not
// answer (refused, reset or timed-out connections, 503s while it starts).
// Reconcile errors are often wrapped as text, so the text is checked too.
func apiServerUnreachable(err error) bool {
	var ne net.Error
	if errors.As(err, &ne) || utilnet.IsConnectionRefused(err) || utilnet.IsConnectionReset(err) ||
		utilnet.IsProbableEOF(err) || apierrors.IsServiceUnavailable(err) || apierrors.IsTimeout(err) ||
		apierrors.IsServerTimeout(err) {
		return true
	}
	msg := err.Error()
	for _, s := range []string{"connection refused", "connection reset by peer", "http2: client connection lost",
		"the server is currently unable to handle the request", "i/o timeout", "unexpected EOF"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}
