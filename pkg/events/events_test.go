package events

import (
	"strings"
	"testing"
	"unicode/utf8"

	"k8s.io/client-go/tools/record"
)

func TestBudgetsAndTruncation(t *testing.T) {
	fake := record.NewFakeRecorder(10000)
	r := NewWith(fake)
	o := Object{APIVersion: "kro.run/v1alpha1", Kind: "WebApp", Namespace: "ns", Name: "a"}
	for i := 0; i < NormalBurst*3; i++ {
		r.Normal(o, "Active", "ready")
	}
	// The burst passes at once; at most a few more refill meanwhile.
	if n := len(fake.Events); n < NormalBurst || n > NormalBurst+NormalQPS {
		t.Fatalf("%d Normal events emitted of %d, want about the burst %d", n, NormalBurst*3, NormalBurst)
	}
	for len(fake.Events) > 0 {
		<-fake.Events
	}
	// Warnings have their own budget.
	r.Warning(o, "Error", strings.Repeat("é", 2000))
	got := <-fake.Events
	if !strings.HasPrefix(got, "Warning Error ") || len(got) > len("Warning Error ")+maxMessage || !strings.HasSuffix(got, "...") {
		t.Fatalf("warning %q (len %d)", got[:40], len(got))
	}
	if !utf8.ValidString(got) {
		t.Fatal("truncation split a UTF-8 sequence")
	}
	var nilRec *Recorder
	nilRec.Normal(o, "Active", "ready") // a nil recorder emits nothing
}
