package runtime_test

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/trellis-dev/trellis/pkg/graph"
	"github.com/trellis-dev/trellis/pkg/runtime"
)

type countingObserver struct{ n atomic.Int64 }

func (o *countingObserver) ObserveEval(time.Duration) { o.n.Add(1) }

// Every CEL evaluation is counted; one in EvalSampleEvery is timed.
func TestEvalsCountedAndSampled(t *testing.T) {
	g := build(t, pairRGD, graph.Options{Omit: true})
	rt := runtime.New(g, instance(map[string]any{"enabled": true, "note": ""}), runtime.ChildLabels(instance(nil), "v1", runtime.ChildLabelsLean))
	obs := &countingObserver{}
	rt.ObserveEvals(obs)
	first := g.ByID["first"]
	const rounds = 400
	for i := 0; i < rounds; i++ {
		if _, err := rt.Included(first); err != nil { // includeWhen: one expression
			t.Fatal(err)
		}
	}
	if got := rt.Evals(); got != rounds {
		t.Fatalf("Evals = %d, want %d", got, rounds)
	}
	if got := obs.n.Load(); got != rounds/runtime.EvalSampleEvery {
		t.Fatalf("%d timed evaluations, want %d", got, rounds/runtime.EvalSampleEvery)
	}
	// Without an observer nothing is counted.
	plain := runtime.New(g, instance(map[string]any{"enabled": true}), nil)
	if _, err := plain.Included(first); err != nil {
		t.Fatal(err)
	}
	if plain.Evals() != 0 {
		t.Fatalf("counted without an observer")
	}
}
