package runtime

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	ackv1alpha1 "github.com/trellis-dev/trellis/api/ack/core/v1alpha1"
)

// Condition messages, as ACK writes them.
const (
	MsgSynced        = "Resource synced successfully"
	MsgNotSynced     = "Resource not synced"
	MsgUnknownSynced = "Unable to determine if desired resource state matches latest observed state"
)

// outcome is what one loop ended with, for the conditions.
type outcome struct {
	class   ErrorClass
	message string
	// synced is the kind's IsSynced verdict when the loop had no error.
	synced bool
	// notSyncedReason explains synced=false.
	notSyncedReason string
	// refs is the ACK.ReferencesResolved status ("" when the spec has no
	// references), refsMessage why it is not True.
	refs        corev1.ConditionStatus
	refsMessage string
}

// setConditions replaces st.Conditions with the conditions for o. prev are
// the conditions before the loop: transition times are kept for unchanged
// statuses, and ACK.Terminal / ACK.Recoverable are set False once they clear.
func setConditions(st *ackv1alpha1.ResourceStatus, prev []*ackv1alpha1.Condition, o outcome, now metav1.Time) {
	find := func(t ackv1alpha1.ConditionType) *ackv1alpha1.Condition {
		for _, c := range prev {
			if c != nil && c.Type == t {
				return c
			}
		}
		return nil
	}
	var out []*ackv1alpha1.Condition
	add := func(t ackv1alpha1.ConditionType, s corev1.ConditionStatus, reason, msg string) {
		c := &ackv1alpha1.Condition{Type: t, Status: s}
		if reason != "" {
			c.Reason = &reason
		}
		if msg != "" {
			c.Message = &msg
		}
		ts := now
		if p := find(t); p != nil && p.Status == s && p.LastTransitionTime != nil {
			ts = *p.LastTransitionTime
		}
		c.LastTransitionTime = &ts
		out = append(out, c)
	}

	var syncedStatus corev1.ConditionStatus
	var syncedMsg, syncedReason string
	switch o.class {
	case ClassNone, ClassRequeue:
		if o.synced {
			syncedStatus, syncedMsg = corev1.ConditionTrue, MsgSynced
		} else {
			syncedStatus, syncedMsg, syncedReason = corev1.ConditionFalse, MsgNotSynced, o.notSyncedReason
		}
	case ClassTerminal:
		syncedStatus, syncedMsg = corev1.ConditionFalse, MsgNotSynced
	default:
		syncedStatus, syncedMsg = corev1.ConditionUnknown, MsgUnknownSynced
	}
	if o.class == ClassTerminal {
		add(ackv1alpha1.ConditionTypeTerminal, corev1.ConditionTrue, "", o.message)
	} else if find(ackv1alpha1.ConditionTypeTerminal) != nil {
		add(ackv1alpha1.ConditionTypeTerminal, corev1.ConditionFalse, "", "")
	}
	recoverable := o.class == ClassRecoverable || o.class == ClassNotFound
	if recoverable {
		add(ackv1alpha1.ConditionTypeRecoverable, corev1.ConditionTrue, "", o.message)
	} else if find(ackv1alpha1.ConditionTypeRecoverable) != nil {
		add(ackv1alpha1.ConditionTypeRecoverable, corev1.ConditionFalse, "", "")
	}
	add(ackv1alpha1.ConditionTypeResourceSynced, syncedStatus, syncedReason, syncedMsg)
	if o.refs != "" {
		// As ACK words it: the message says that resolution failed, the
		// reason says why.
		msg := ""
		if o.refs != corev1.ConditionTrue {
			msg = "Reference resolution failed"
		}
		add(ackv1alpha1.ConditionTypeReferencesResolved, o.refs, o.refsMessage, msg)
	}

	// Ready mirrors the others.
	switch {
	case o.class == ClassTerminal:
		add(ackv1alpha1.ConditionTypeReady, corev1.ConditionFalse, string(ackv1alpha1.ConditionTypeTerminal), o.message)
	case recoverable:
		add(ackv1alpha1.ConditionTypeReady, corev1.ConditionFalse, string(ackv1alpha1.ConditionTypeRecoverable), o.message)
	default:
		add(ackv1alpha1.ConditionTypeReady, syncedStatus, syncedReason, syncedMsg)
	}
	st.Conditions = out
}
