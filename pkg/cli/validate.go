package cli

import (
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/trellis-dev/trellis/api/v1alpha1"
	"github.com/trellis-dev/trellis/pkg/graph"
)

// Diagnostic is one problem found in an input file.
type Diagnostic struct {
	Pos Position
	// Path is the field path shown to the user, e.g.
	// "resources[deployment].template.spec.replicas".
	Path    string
	Msg     string
	Warning bool
}

func (d Diagnostic) String() string {
	var b strings.Builder
	b.WriteString(d.Pos.String())
	b.WriteString(": ")
	if d.Warning {
		b.WriteString("warning: ")
	}
	if d.Path != "" {
		b.WriteString(d.Path)
		b.WriteString(": ")
	}
	b.WriteString(d.Msg)
	return b.String()
}

// Checked is the outcome of building one RGD document.
type Checked struct {
	Doc   *Document
	RGD   *v1alpha1.ResourceGraphDefinition
	Graph *graph.Graph // nil when the build failed
	Diags []Diagnostic
}

// OK reports whether the RGD built without errors.
func (c *Checked) OK() bool { return c.Graph != nil }

// Checker builds RGDs the way the RGD controller does, with kinds resolved
// from Base (compiled-in kinds offline, or a live cluster) and CRDs (files
// given with --crds). RGDs checked together see each other's generated
// kinds, so an RGD that nests another's kind can be checked before either
// is applied.
type Checker struct {
	Base graph.Resolver
	CRDs *CRDs
	// Live is set when Base is a cluster; it only changes messages.
	Live bool
	// Extra are RGDs (e.g. from --crds) whose kinds are resolvable but that
	// are not reported on.
	Extra []*Document
	// Others collects the documents Check found that are neither RGDs nor
	// CRDs (instances, typically).
	Others []*Document
}

// CheckInstances checks documents that are instances of the built RGDs'
// kinds against the generated CRDs, as the apiserver would; other
// documents get a warning that they were skipped. It also returns the
// instances that are valid.
func CheckInstances(results []*Checked, docs []*Document) ([]Diagnostic, []*Document) {
	var out []Diagnostic
	var valid []*Document
	for _, d := range docs {
		var g *graph.Graph
		gvk := d.Unstructured().GroupVersionKind()
		for _, r := range results {
			if r.OK() && r.Graph.Instance.GVK == gvk {
				g = r.Graph
			}
		}
		if g == nil {
			out = append(out, Diagnostic{Pos: docPos(d), Warning: true,
				Msg: fmt.Sprintf("%s %q is neither a ResourceGraphDefinition nor an instance of one given; skipped", d.Kind(), d.Name())})
			continue
		}
		s, err := newObjectSchema(g.CRD.Spec.Versions[0].Schema.OpenAPIV3Schema)
		if err != nil {
			out = append(out, Diagnostic{Pos: docPos(d), Msg: err.Error()})
			continue
		}
		problems := checkShape(d, s)
		out = append(out, problems...)
		bad := false
		for _, p := range problems {
			bad = bad || !p.Warning
		}
		if !bad {
			valid = append(valid, d)
		}
	}
	return out, valid
}

// Check builds every RGD among docs. CRDs among docs are added to the
// resolvable kinds; other documents are returned in Others.
func (c *Checker) Check(docs []*Document) ([]*Checked, []Diagnostic) {
	if c.CRDs == nil {
		c.CRDs = NewCRDs()
	}
	var warnings []Diagnostic
	rest, err := c.CRDs.AddDocuments(docs)
	if err != nil {
		return nil, []Diagnostic{{Msg: err.Error()}}
	}
	var all []*Checked
	for _, d := range rest {
		if !d.IsRGD() {
			c.Others = append(c.Others, d)
			continue
		}
		all = append(all, &Checked{Doc: d})
	}
	reported := len(all)
	for _, d := range c.Extra {
		all = append(all, &Checked{Doc: d})
	}

	local := NewCRDs()
	produced := map[string]int{} // kind string -> index in all
	shape, shapeErr := rgdSchema()
	for i, ch := range all {
		if shapeErr == nil && i < reported {
			ch.Diags = append(ch.Diags, checkShape(ch.Doc, shape)...)
		}
		rgd, err := ch.Doc.RGD()
		if err != nil {
			ch.Diags = append(ch.Diags, Diagnostic{Pos: docPos(ch.Doc), Msg: "not a valid ResourceGraphDefinition: " + err.Error()})
			continue
		}
		ch.RGD = rgd
		if gvk, ok := generatedKind(rgd); ok {
			produced[kindString(gvk)] = i
			if p, err := provisionalCRD(rgd); err == nil {
				_ = local.Add(p, ch.Doc.File)
			}
		}
	}
	resolver := Chain{local, c.CRDs, c.Base}
	done := make([]bool, len(all))
	for i, ch := range all {
		if ch.RGD == nil {
			done[i] = true
		}
	}
	// Build in rounds: an RGD waits for the RGDs whose kinds it uses, so it
	// sees their complete (typed) status. Cycles build with what is there.
	for {
		var ready []int
		pending := 0
		for i, ch := range all {
			if done[i] {
				continue
			}
			pending++
			blocked := false
			for _, gvk := range usedKinds(ch.RGD) {
				if j, ok := produced[kindString(gvk)]; ok && j != i && !done[j] {
					blocked = true
				}
			}
			if !blocked {
				ready = append(ready, i)
			}
		}
		if pending == 0 {
			break
		}
		if len(ready) == 0 {
			for i := range all {
				if !done[i] {
					ready = append(ready, i)
				}
			}
		}
		for _, i := range ready {
			ch := all[i]
			done[i] = true
			g, err := graph.Build(ch.RGD, resolver)
			if err != nil {
				// Every problem, each at its own line.
				if ps := graph.Problems(err); len(ps) > 1 {
					for _, p := range ps {
						ch.Diags = append(ch.Diags, c.diagnose(ch.Doc, p))
					}
				} else {
					ch.Diags = append(ch.Diags, c.diagnose(ch.Doc, err))
				}
				continue
			}
			_ = local.Add(g.CRD, ch.Doc.File)
			if len(ch.Diags) == 0 {
				ch.Graph = g
			}
		}
	}
	for _, ch := range all[:reported] {
		sortDiagnostics(ch.Diags)
	}
	return all[:reported], warnings
}

// sortDiagnostics orders diagnostics by position (warnings included).
func sortDiagnostics(d []Diagnostic) {
	sort.SliceStable(d, func(i, j int) bool {
		a, b := d[i].Pos, d[j].Pos
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Col < b.Col
	})
}

func docPos(d *Document) Position {
	return Position{File: d.File, Line: d.Root.Line, Col: d.Root.Column}
}

var cycleRE = regexp.MustCompile(`cycle: ([A-Za-z0-9]+) ->`)

// celPos matches the position cel-go puts in its messages.
var celPos = regexp.MustCompile(`<input>:(\d+):(\d+): `)

// diagnose turns a build error into a positioned diagnostic.
func (c *Checker) diagnose(doc *Document, err error) Diagnostic {
	var be *graph.BuildError
	if !errors.As(err, &be) {
		return Diagnostic{Pos: docPos(doc), Msg: err.Error()}
	}
	msg := be.Msg
	path := be.Path
	if len(be.Missing) > 0 {
		where := "no CRD given with --crds defines it"
		if c.Live {
			where = "the cluster does not serve it"
		}
		msg = fmt.Sprintf("unknown kind %s: not a built-in Kubernetes kind and %s", joinKinds(be.Missing), where)
		if c.Live {
			msg = fmt.Sprintf("unknown kind %s: %s", joinKinds(be.Missing), where)
		}
		path = "template.kind"
	}
	from := doc.Root
	display := path
	// Schema errors carry their own path inside the SimpleSchema
	// ("spec.name: invalid ..."): point at that field.
	if be.Resource == "" && strings.HasPrefix(path, "spec.schema.") {
		if inner, rest, ok := strings.Cut(msg, ": "); ok && !strings.ContainsAny(inner, " \t") {
			cand := "spec.schema." + inner
			if !strings.HasPrefix(inner, "spec.") && !strings.HasPrefix(inner, "status.") && !strings.HasPrefix(inner, "types.") {
				cand = path + "." + inner
			}
			if _, _, ok := Locate(doc.Root, cand); ok {
				path, display, msg = cand, cand, rest
			}
		}
	}
	// A cycle is reported on its first resource.
	if m := cycleRE.FindStringSubmatch(msg); m != nil && be.Resource == "" {
		if res, _ := resourceNode(doc.Root, m[1]); res != nil {
			if n, _, ok := Locate(res, "id"); ok {
				return Diagnostic{Pos: Position{File: doc.File, Line: n.Line, Col: n.Column}, Path: "resources[" + m[1] + "]", Msg: msg}
			}
		}
	}
	if be.Resource != "" && !strings.HasPrefix(path, "spec.") {
		res, _ := resourceNode(doc.Root, be.Resource)
		if res != nil {
			from = res
		}
		display = "resources[" + be.Resource + "]"
		if path != "" {
			display += "." + path
		}
		if len(be.Missing) > 0 {
			if n, _, ok := Locate(from, "externalRef.kind"); ok && n != nil {
				path = "externalRef.kind"
			}
		}
	}
	node, key, complete := Locate(from, path)
	if !complete && len(be.Missing) > 0 {
		node, key, _ = Locate(from, "")
	}
	target := node
	switch {
	case strings.Contains(msg, "unknown field") && key != nil:
		target = key
	case node.Kind == yaml.ScalarNode:
	case key != nil:
		target = key
	}
	pos := Position{File: doc.File, Line: target.Line, Col: target.Column}
	msg, pos = refineCEL(msg, pos, target)
	return Diagnostic{Pos: pos, Path: display, Msg: msg}
}

// refineCEL shortens a cel-go message to one line and, when the expression
// sits on one line of a plain or quoted scalar, moves the column to the
// offending character.
func refineCEL(msg string, pos Position, n *yaml.Node) (string, Position) {
	snippet := ""
	if i := strings.Index(msg, "\n"); i >= 0 {
		rest := strings.Split(msg[i+1:], "\n")
		if len(rest) > 0 && strings.HasPrefix(rest[0], " | ") {
			snippet = strings.TrimPrefix(rest[0], " | ")
		}
		msg = msg[:i]
	}
	m := celPos.FindStringSubmatchIndex(msg)
	if m == nil {
		return msg, pos
	}
	line, _ := strconv.Atoi(msg[m[2]:m[3]])
	col, _ := strconv.Atoi(msg[m[4]:m[5]])
	out := strings.TrimPrefix(msg[:m[0]], "ERROR: ") + msg[m[1]:]
	out = strings.TrimSuffix(strings.TrimSpace(out), " (in container '')")
	if n.Kind != yaml.ScalarNode || line != 1 || strings.Contains(n.Value, "\n") {
		return out, pos
	}
	if n.Style != 0 && n.Style != yaml.DoubleQuotedStyle && n.Style != yaml.SingleQuotedStyle {
		return out, pos
	}
	// Anchor at the expression cel-go quotes, else at the first one.
	var off int
	if i := strings.Index(n.Value, snippet); snippet != "" && i >= 0 {
		off = i + col - 1
	} else if start := strings.Index(n.Value, "${"); start >= 0 {
		off = start + 1 + col
	} else {
		return out, pos
	}
	if n.Style == yaml.DoubleQuotedStyle || n.Style == yaml.SingleQuotedStyle {
		off++
	}
	pos.Col += off
	return out, pos
}

// WriteDiagnostics prints diagnostics, one per line.
func WriteDiagnostics(w io.Writer, diags []Diagnostic) {
	for _, d := range diags {
		fmt.Fprintln(w, d.String())
	}
}
