package instance

import (
	"testing"

	"k8s.io/apimachinery/pkg/runtime/schema"
)

func TestEchoes(t *testing.T) {
	cm := objectKey{schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}, "ns", "a"}
	e := newEchoes()

	// The echo overtakes the apply's response: still recognised.
	e.begin(cm)
	if !e.echo(cm, "u1", "10") {
		t.Fatal("event during the apply not held back")
	}
	if e.end(cm, "u1", "10") {
		t.Error("the apply's own echo reported as missed")
	}
	if e.echo(cm, "u1", "10") {
		t.Error("the echo held back during the apply was expected a second time")
	}
	e.begin(cm)
	if e.end(cm, "u1", "10b") {
		t.Error("nothing arrived during this apply")
	}
	if !e.echo(cm, "u1", "10b") {
		t.Error("a late echo of the last apply not recognised")
	}
	if len(e.written) != 0 {
		t.Errorf("echoes seen are still remembered: %v", e.written)
	}
	if e.echo(cm, "u1", "11") {
		t.Error("someone else's later write taken for an echo")
	}

	// Someone else wrote after us while the apply was in flight.
	e.begin(cm)
	e.echo(cm, "u1", "12")
	e.echo(cm, "u1", "13")
	if !e.end(cm, "u1", "12") {
		t.Error("a newer event during the apply was lost")
	}

	// An older event seen during the apply is covered by the response.
	e.begin(cm)
	e.echo(cm, "u1", "14")
	if e.end(cm, "u1", "15") {
		t.Error("an older event reported as missed")
	}

	// A failed apply with events seen: look again.
	e.begin(cm)
	e.echo(cm, "u1", "16")
	if !e.end(cm, "", "") {
		t.Error("events during a failed apply were dropped")
	}

	e.forget("u1")
	if e.echo(cm, "u1", "15") {
		t.Error("a forgotten child still echoes")
	}
}
