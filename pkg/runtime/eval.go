package runtime

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/trellis-dev/trellis/pkg/cel"
	"github.com/trellis-dev/trellis/pkg/graph"
)

// EvalObserver is told how long CEL evaluations take (e.g. to feed a
// metric). It must be safe for concurrent use.
type EvalObserver interface {
	ObserveEval(time.Duration)
}

// EvalSampleEvery: with an observer, one CEL evaluation in EvalSampleEvery
// is timed (reading the clock twice can cost more than evaluating a short
// expression); Evals counts them all.
const EvalSampleEvery = 8

// ObserveEvals makes r count its CEL evaluations and report the durations
// of a sample of them to o. Call it before evaluating anything.
func (r *Instance) ObserveEvals(o EvalObserver) {
	r.observer = o
	r.evalBase = rand.Uint32() // which evaluations are timed varies per reconcile
	r.evals.Store(r.evalBase)
}

// Evals is the number of CEL evaluations since ObserveEvals.
func (r *Instance) Evals() int { return int(r.evals.Load() - r.evalBase) }

func (r *Instance) evalField(f *graph.Field, vars map[string]any) (any, error) {
	if f.Standalone {
		return r.eval(f.Parts[0].Program, vars)
	}
	var b strings.Builder
	for _, p := range f.Parts {
		if p.Program == nil {
			b.WriteString(p.Text)
			continue
		}
		v, err := r.eval(p.Program, vars)
		if err != nil {
			return nil, err
		}
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("${%s} returned %T, a string template needs string", p.Program.Expr, v)
		}
		b.WriteString(s)
	}
	return b.String(), nil
}

func (r *Instance) eval(p *cel.Program, vars map[string]any) (any, error) {
	for ref := range p.References {
		if _, ok := vars[ref]; !ok && ref != cel.RuntimeVarName {
			return nil, fmt.Errorf("${%s}: %w: %s is not observed yet", p.Expr, ErrPending, ref)
		}
	}
	var v any
	var err error
	if r.observer != nil && r.evals.Add(1)%EvalSampleEvery == 0 {
		start := time.Now()
		v, err = p.Eval(vars)
		r.observer.ObserveEval(time.Since(start))
	} else {
		v, err = p.Eval(vars)
	}
	if err != nil {
		if cel.IsPending(err) {
			return nil, fmt.Errorf("${%s}: %w: %v", p.Expr, ErrPending, err)
		}
		return nil, fmt.Errorf("${%s}: %w", p.Expr, err)
	}
	return v, nil
}
