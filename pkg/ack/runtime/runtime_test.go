package runtime

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	ackv1alpha1 "github.com/trellis-dev/trellis/api/ack/core/v1alpha1"
	dynamodbv1alpha1 "github.com/trellis-dev/trellis/api/ack/dynamodb/v1alpha1"
	"github.com/trellis-dev/trellis/pkg/ack/acktest"
)

func TestUnknownFields(t *testing.T) {
	spec := map[string]any{
		"tableName":   "t",
		"timeToLive":  map[string]any{"enabled": true},
		"billingMode": "PAY_PER_REQUEST",
		"globalSecondaryIndexes": []any{
			map[string]any{"indexName": "i", "warmThroughput": map[string]any{}},
		},
		"tags": []any{map[string]any{"key": "a", "value": "b"}},
	}
	got := UnknownFields("spec", spec, reflect.TypeOf(dynamodbv1alpha1.TableSpec{}))
	want := []string{"spec.globalSecondaryIndexes[0].warmThroughput", "spec.timeToLive"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	status := map[string]any{"ackResourceMetadata": map[string]any{"arn": "x"}, "tableStatus": "ACTIVE", "conditions": []any{}}
	if got := UnknownFields("status", status, reflect.TypeOf(dynamodbv1alpha1.TableStatus{})); len(got) != 0 {
		t.Fatalf("inline status fields reported unknown: %v", got)
	}
}

func cond(st *ackv1alpha1.ResourceStatus, typ ackv1alpha1.ConditionType) (corev1.ConditionStatus, string) {
	c := st.GetCondition(typ)
	if c == nil {
		return "", ""
	}
	msg := ""
	if c.Message != nil {
		msg = *c.Message
	}
	return c.Status, msg
}

func TestConditions(t *testing.T) {
	t0 := metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	t1 := metav1.NewTime(t0.Add(time.Minute))
	st := &ackv1alpha1.ResourceStatus{}

	setConditions(st, nil, outcome{class: ClassTerminal, message: "InvalidBucketName: bad"}, t0)
	if s, m := cond(st, ackv1alpha1.ConditionTypeTerminal); s != corev1.ConditionTrue || m != "InvalidBucketName: bad" {
		t.Fatalf("terminal %s %q", s, m)
	}
	if s, _ := cond(st, ackv1alpha1.ConditionTypeResourceSynced); s != corev1.ConditionFalse {
		t.Fatalf("synced %s on terminal", s)
	}
	if c := st.GetCondition(ackv1alpha1.ConditionTypeReady); c.Status != corev1.ConditionFalse || *c.Reason != "ACK.Terminal" {
		t.Fatalf("ready %+v", c)
	}
	if st.GetCondition(ackv1alpha1.ConditionTypeRecoverable) != nil {
		t.Fatal("recoverable present on a terminal error")
	}

	prev := st.Conditions
	st = &ackv1alpha1.ResourceStatus{}
	setConditions(st, prev, outcome{class: ClassRecoverable, message: "connection refused"}, t1)
	if s, _ := cond(st, ackv1alpha1.ConditionTypeTerminal); s != corev1.ConditionFalse {
		t.Fatalf("terminal not cleared: %s", s)
	}
	if s, m := cond(st, ackv1alpha1.ConditionTypeRecoverable); s != corev1.ConditionTrue || m != "connection refused" {
		t.Fatalf("recoverable %s %q", s, m)
	}
	if s, m := cond(st, ackv1alpha1.ConditionTypeResourceSynced); s != corev1.ConditionUnknown || m != MsgUnknownSynced {
		t.Fatalf("synced %s %q", s, m)
	}

	prev = st.Conditions
	st = &ackv1alpha1.ResourceStatus{}
	setConditions(st, prev, outcome{synced: true}, t1)
	if s, m := cond(st, ackv1alpha1.ConditionTypeResourceSynced); s != corev1.ConditionTrue || m != MsgSynced {
		t.Fatalf("synced %s %q", s, m)
	}
	if s, _ := cond(st, ackv1alpha1.ConditionTypeReady); s != corev1.ConditionTrue {
		t.Fatalf("ready %s", s)
	}
	if s, _ := cond(st, ackv1alpha1.ConditionTypeRecoverable); s != corev1.ConditionFalse {
		t.Fatalf("recoverable not cleared: %s", s)
	}
	// Unchanged statuses keep their transition time.
	prev = st.Conditions
	st = &ackv1alpha1.ResourceStatus{}
	setConditions(st, prev, outcome{synced: true}, metav1.NewTime(t1.Add(time.Hour)))
	if !st.GetCondition(ackv1alpha1.ConditionTypeResourceSynced).LastTransitionTime.Equal(&t1) {
		t.Fatal("transition time changed without a transition")
	}
	// Not yet synced.
	st = &ackv1alpha1.ResourceStatus{}
	setConditions(st, nil, outcome{synced: false, notSyncedReason: "table is CREATING"}, t1)
	if c := st.GetCondition(ackv1alpha1.ConditionTypeResourceSynced); c.Status != corev1.ConditionFalse || *c.Reason != "table is CREATING" {
		t.Fatalf("not synced: %+v", c)
	}
}

func TestClassifier(t *testing.T) {
	c := Classifier{NotFoundCodes: []string{"NoSuchThing"}, TerminalCodes: []string{"Bad"}}
	if c.Classify(Terminal("x")) != ClassTerminal || c.Classify(RequeueAfter(time.Second, "x")) != ClassRequeue ||
		c.Classify(errors.New("dial tcp: connection refused")) != ClassRecoverable || c.Classify(nil) != ClassNone ||
		c.Classify(ErrNotFound) != ClassNotFound {
		t.Fatal("misclassified")
	}
}

// The account id comes from STS GetCallerIdentity (versitygw's IAM/STS server).
func TestIdentityFromSTS(t *testing.T) {
	sts := acktest.StartSTS(t)
	acktest.SetAWSEnv(t, nil, nil, sts)
	a, err := LoadAWS(context.Background(), Config{DefaultAccountID: "999999999999"}, logr.Discard())
	if err != nil {
		t.Fatal(err)
	}
	id := a.Identity(context.Background())
	if id.AccountID == "999999999999" || id.AccountID == "" || id.Partition != "aws" {
		t.Fatalf("identity %+v, want the STS account", id)
	}
	t.Logf("identity %+v", id)
}

// Without an STS endpoint the default account id is used.
func TestIdentityFallback(t *testing.T) {
	acktest.SetAWSEnv(t, nil, nil, nil)
	a, err := LoadAWS(context.Background(), Config{DefaultAccountID: "999999999999"}, logr.Discard())
	if err != nil {
		t.Fatal(err)
	}
	if id := a.Identity(context.Background()); id.AccountID != "999999999999" {
		t.Fatalf("identity %+v, want the default account", id)
	}
}
