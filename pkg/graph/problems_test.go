package graph

import (
	"strings"
	"testing"
)

// Every problem of an RGD is returned, each with its resource; an RGD
// waits (MissingKinds) only when missing kinds are its only problems.
func TestBuildReportsEveryProblem(t *testing.T) {
	rgd := parseRGD(t, `
metadata: {name: many}
spec:
  schema:
    apiVersion: v1alpha1
    kind: Many
    spec:
      name: string
  resources:
  - id: a
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata: {name: "${schema.spec.nmae}"}
      data: {x: "${schema.spec.nmae}"}
  - id: w
    template:
      apiVersion: example.com/v1
      kind: Widget
      metadata: {name: "${schema.spec.name}"}
`)
	_, err := Build(rgd, testResolver(t))
	ps := Problems(err)
	if len(ps) != 3 {
		t.Fatalf("got %d problems, want 3 (two typos, one missing kind): %v", len(ps), err)
	}
	var missing, typos int
	for _, p := range ps {
		switch {
		case len(p.Missing) > 0 && p.Resource == "w":
			missing++
		case p.Resource == "a" && strings.Contains(p.Msg, "nmae"):
			typos++
		}
	}
	if missing != 1 || typos != 2 {
		t.Errorf("problems %v: want the widget's missing kind and both typos", err)
	}
	if MissingKinds(err) != nil {
		t.Error("an RGD with typos waits for its kinds instead of being invalid")
	}

	// Missing kinds alone: the RGD waits, each kind at its own resource.
	rgd = parseRGD(t, `
metadata: {name: waits}
spec:
  schema:
    apiVersion: v1alpha1
    kind: Waits
  resources:
  - id: w
    template: {apiVersion: example.com/v1, kind: Widget, metadata: {name: w}}
  - id: g
    template: {apiVersion: example.com/v1, kind: Gadget, metadata: {name: g}}
`)
	_, err = Build(rgd, testResolver(t))
	if got := MissingKinds(err); len(got) != 2 {
		t.Errorf("MissingKinds = %v, want Widget and Gadget", got)
	}
	for _, p := range Problems(err) {
		if !strings.Contains(p.Msg, map[string]string{"w": "Widget", "g": "Gadget"}[p.Resource]) {
			t.Errorf("resource %s: %q does not name its own kind", p.Resource, p.Msg)
		}
	}
}

func TestUnknownKindSuggests(t *testing.T) {
	e := &UnknownKindError{Known: []string{"Service", "ConfigMap", "Secret"}}
	e.GVK.Version, e.GVK.Kind = "v1", "Servise"
	if !strings.Contains(e.Error(), "did you mean Service?") {
		t.Errorf("%q", e.Error())
	}
	e.GVK.Kind = "Frobnicator"
	if strings.Contains(e.Error(), "did you mean") {
		t.Errorf("suggests something for a kind like nothing known: %q", e.Error())
	}
}
