package runtime

import (
	"errors"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	ackv1alpha1 "github.com/trellis-dev/trellis/api/ack/core/v1alpha1"
)

func TestExclusive(t *testing.T) {
	if err := Exclusive("vpcID", true, "vpcRef", false); err != nil {
		t.Fatal(err)
	}
	err := Exclusive("vpcID", true, "vpcRef", true)
	var te *TerminalError
	if !errors.As(err, &te) || te.Msg != "spec.vpcID and spec.vpcRef are mutually exclusive: set only one" {
		t.Fatalf("got %v", err)
	}
}

func TestReferencesResolvedCondition(t *testing.T) {
	cases := []struct {
		name    string
		used    bool
		err     error
		want    corev1.ConditionStatus
		class   ErrorClass
		present bool
	}{
		{"no references", false, nil, "", ClassNone, false},
		{"resolved", true, nil, corev1.ConditionTrue, ClassNone, true},
		{"waiting", true, &ReferenceError{Msg: "spec.vpcRef: VPC ns/v is not synced yet"}, corev1.ConditionUnknown, ClassRecoverable, true},
		{"terminal", true, Terminal("spec.vpcRef: VPC ns/v is Terminal"), corev1.ConditionFalse, ClassTerminal, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := outcome{class: Classifier{}.Classify(c.err)}
			if c.err != nil {
				o.message = c.err.Error()
			}
			if o.class != c.class {
				t.Fatalf("class %v, want %v", o.class, c.class)
			}
			o.refs, o.refsMessage = refState(c.used, c.err)
			st := &ackv1alpha1.ResourceStatus{}
			setConditions(st, nil, o, metav1.Now())
			got := st.GetCondition(ackv1alpha1.ConditionTypeReferencesResolved)
			if (got != nil) != c.present {
				t.Fatalf("condition present=%v, want %v", got != nil, c.present)
			}
			if got == nil {
				return
			}
			if got.Status != c.want {
				t.Fatalf("status %s, want %s", got.Status, c.want)
			}
			if c.err != nil && (got.Reason == nil || *got.Reason == "" || got.Message == nil || *got.Message != "Reference resolution failed") {
				t.Fatalf("reason/message not set: %+v", got)
			}
			if c.class == ClassRecoverable {
				rec := st.GetCondition(ackv1alpha1.ConditionTypeRecoverable)
				if rec == nil || rec.Status != corev1.ConditionTrue || *rec.Message != c.err.Error() {
					t.Fatalf("ACK.Recoverable should name the reference: %+v", rec)
				}
			}
		})
	}
}
