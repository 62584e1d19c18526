package chaos

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Report is one chaos run: a row per scenario phase, written as JSON next
// to a markdown table in the benchmark's results directory.
type Report struct {
	Date       time.Time `json:"date"`
	Machine    string    `json:"machine"`
	Kubernetes string    `json:"kubernetes"`
	Trellis    string    `json:"trellis"`
	N          int       `json:"n"`
	AWSN       int       `json:"aws_n"`
	Seeds      []int64   `json:"seeds"`
	Seconds    float64   `json:"seconds"`
	Rows       []Row     `json:"rows"`
}

// Row is one scenario phase and what the checks found after it.
type Row struct {
	Scenario string `json:"scenario"`
	Phase    string `json:"phase"` // rollout, change, deletion, aws-create, aws-delete
	Seed     int64  `json:"seed,omitempty"`
	// FaultAfter is when the fault hit, counted from the phase's start.
	FaultAfter float64 `json:"fault_after_s"`
	// Converge is from the phase's start to the checked end state.
	Converge   float64 `json:"converge_s"`
	Instances  int     `json:"instances"`
	Lost       int     `json:"lost"`       // instances not ACTIVE (or not gone) / expected children missing / AWS resources missing
	Duplicates int     `json:"duplicates"` // more than one object for one (instance, resource) / AWS name
	Orphans    int     `json:"orphans"`    // children whose instance is gone or that no instance expects
	Finalizers int     `json:"finalizers"` // objects left terminating with a finalizer
	Leaked     int     `json:"leaked"`     // AWS resources no custom resource accounts for
	// WritesPerInstance is the apiserver's count of workload writes
	// (children and instances) during the phase, per instance; Extra is
	// that minus the same phase without a fault.
	WritesPerInstance float64 `json:"writes_per_instance"`
	Extra             float64 `json:"extra_writes_per_instance"`
	Note              string  `json:"note,omitempty"`
	Err               string  `json:"error,omitempty"`
}

// OK reports whether the checks found nothing wrong.
func (r Row) OK() bool {
	return r.Err == "" && r.Lost == 0 && r.Duplicates == 0 && r.Orphans == 0 && r.Finalizers == 0 && r.Leaked == 0
}

// Failed counts rows whose checks failed.
func (r *Report) Failed() int {
	n := 0
	for _, row := range r.Rows {
		if !row.OK() {
			n++
		}
	}
	return n
}

// Markdown renders the table of the issue: scenario, time to converge,
// duplicates, orphans, leaked, extra writes (plus what else was checked).
func (r *Report) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Chaos run %s: N=%d instances, %d AWS resources per kind, seeds %v; %s; Kubernetes %s; trellis %s; %.0f s in all.\n\n",
		r.Date.UTC().Format(time.RFC3339), r.N, r.AWSN, r.Seeds, r.Machine, r.Kubernetes, r.Trellis, r.Seconds)
	b.WriteString("| scenario | phase | fault at s | converged s | lost | duplicates | orphans | stuck finalizers | leaked | writes/inst | extra writes/inst | note |\n")
	b.WriteString("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
	for _, row := range r.Rows {
		name := row.Scenario
		if row.Seed != 0 {
			name += fmt.Sprintf(" (seed %d)", row.Seed)
		}
		note := row.Note
		if row.Err != "" {
			msg := strings.Join(strings.Fields(row.Err), " ") // one table line
			if len(msg) > 200 {
				msg = msg[:200] + "…"
			}
			note = strings.TrimSpace("**FAILED: " + msg + "** " + note)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %.1f | %d | %d | %d | %d | %d | %.2f | %+.2f | %s |\n", name, row.Phase, faultAt(row),
			row.Converge, row.Lost, row.Duplicates, row.Orphans, row.Finalizers, row.Leaked, row.WritesPerInstance, row.Extra,
			strings.ReplaceAll(note, "|", "/"))
	}
	fmt.Fprintf(&b, "\n%d of %d phases failed their checks.\n", r.Failed(), len(r.Rows))
	return b.String()
}

func faultAt(r Row) string {
	if r.FaultAfter == 0 {
		return "–"
	}
	return fmt.Sprintf("%.1f", r.FaultAfter)
}

// Write stores the report as <dir>/chaos-<stamp>.json and .md and returns
// the markdown path.
func (r *Report) Write(dir string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	stamp := "chaos-" + r.Date.UTC().Format("2006-01-02T150405Z")
	raw, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, stamp+".json"), append(raw, '\n'), 0o644); err != nil {
		return "", err
	}
	md := filepath.Join(dir, stamp+".md")
	return md, os.WriteFile(md, []byte("# trellis chaos "+stamp+"\n\n"+r.Markdown()), 0o644)
}
