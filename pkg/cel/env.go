package cel

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"sync"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/ext"
	"github.com/google/cel-go/interpreter"
	"k8s.io/apiserver/pkg/cel/library"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

// Variable declares a top-level identifier.
type Variable struct {
	Name   string
	Schema *spec.Schema // kube-openapi schema; nil = dyn
	List   bool         // list of objects with Schema (collections, selector externalRefs)
	// Plain marks a schema that is not a Kubernetes object (e.g. a forEach
	// iterator): no apiVersion/kind/metadata are injected. By default an
	// object schema gets apiVersion, kind and the well-known ObjectMeta
	// fields when it does not declare them (CRDs often say only
	// `metadata: {type: object}`).
	Plain bool
	// ClusterScoped leaves metadata.namespace out of the injected ObjectMeta
	// (kro: schema.metadata.namespace is not declared for cluster-scoped
	// instances). Only applies when ObjectMeta is injected.
	ClusterScoped bool
	// Type declares the variable by CEL type instead of Schema, e.g. a
	// forEach iterator typed with the element type of the list expression
	// (Program.OutputType.Parameters()[0]). Object types produced by this
	// package keep their fields. Overrides Schema and List.
	Type *cel.Type
}

// EnvOptions toggles context-dependent parts of the environment.
type EnvOptions struct {
	Runtime bool // declare `runtime` with runtime.newCondition / runtime.condition
	Omit    bool // enable omit()
}

// Env is a typed CEL environment. It is immutable and safe for concurrent
// use; build one per graph and compile all its expressions with it.
type Env struct {
	env  *cel.Env
	vars map[string]*varInfo
	opts EnvOptions
}

type varInfo struct {
	name string
	node *node // element node when list; nil for runtime
	list bool
	val  *node // node of the whole value (list wrapper when list)
}

var baseEnvs [4]struct {
	once sync.Once
	env  *cel.Env
	err  error
}

// baseEnv returns the shared environment with every library but no
// variables; building it is the expensive part, so it is done once per
// option set and extended per graph.
func baseEnv(opts EnvOptions) (*cel.Env, error) {
	i := 0
	if opts.Runtime {
		i |= 1
	}
	if opts.Omit {
		i |= 2
	}
	b := &baseEnvs[i]
	b.once.Do(func() {
		o := []cel.EnvOption{
			cel.DefaultUTCTimeZone(true),
			// As in Kubernetes CEL: `schema.spec.ratio > 0` (double vs int).
			cel.CrossTypeNumericComparisons(true),
			ext.TwoVarComprehensions(),
			ext.Lists(),
			ext.Strings(),
			ext.Bindings(),
			cel.OptionalTypes(),
			ext.Encoders(),
			library.Lists(),
			library.URLs(),
			library.Regex(),
			library.Quantity(),
			library.IP(),
			library.CIDR(),
			library.SemverLib(),
		}
		o = append(o, kroLibraries()...)
		if opts.Runtime {
			o = append(o, runtimeLib())
		}
		if opts.Omit {
			o = append(o, omitLib())
		}
		b.env, b.err = cel.NewEnv(o...)
	})
	return b.env, b.err
}

// NewEnv builds an environment with the base libraries and the given
// variables, typed from their schemas.
func NewEnv(vars []Variable, opts EnvOptions) (*Env, error) {
	base, err := baseEnv(opts)
	if err != nil {
		return nil, fmt.Errorf("building base CEL environment: %w", err)
	}
	prov := newProvider(base.CELTypeProvider())
	envOpts := []cel.EnvOption{cel.CustomTypeProvider(prov)}
	e := &Env{vars: make(map[string]*varInfo, len(vars)), opts: opts}
	for _, v := range vars {
		if v.Name == "" {
			return nil, errors.New("variable with empty name")
		}
		if _, dup := e.vars[v.Name]; dup {
			return nil, fmt.Errorf("duplicate variable %q", v.Name)
		}
		if opts.Runtime && v.Name == RuntimeVarName {
			return nil, fmt.Errorf("variable %q is reserved", v.Name)
		}
		var vi *varInfo
		if v.Type != nil {
			n := nodeForType(v.Type, 0)
			vi = &varInfo{name: v.Name, node: n, val: n}
		} else {
			mode := metaNone
			if !v.Plain {
				mode = metaFull
				if v.ClusterScoped {
					mode = metaCluster
				}
			}
			n := compileSchema(v.Name, v.Schema, mode)
			vi = &varInfo{name: v.Name, node: n, list: v.List, val: n}
			if v.List {
				vi.val = &node{kind: kList, elem: n, celType: cel.ListType(n.celType)}
			}
		}
		prov.add(vi.val)
		envOpts = append(envOpts, cel.Variable(v.Name, vi.val.celType))
		e.vars[v.Name] = vi
	}
	if opts.Runtime {
		e.vars[RuntimeVarName] = &varInfo{name: RuntimeVarName}
	}
	env, err := base.Extend(envOpts...)
	if err != nil {
		return nil, fmt.Errorf("building CEL environment: %w", err)
	}
	e.env = env
	return e, nil
}

// CEL exposes the underlying cel-go environment.
func (e *Env) CEL() *cel.Env { return e.env }

// Program is a compiled, type-checked expression (or string template).
type Program struct {
	Expr       string
	OutputType *cel.Type
	// References maps each variable the expression reads to the field
	// paths read from it ("spec.replicas", "status.conditions"); "" means
	// the variable is used as a whole. Keys are exact; paths best effort.
	References map[string][]string
	// UsesOmit reports whether the expression calls omit() (kro rejects it
	// on metadata.name and required metadata.namespace).
	UsesOmit bool

	prg   cel.Program
	binds []*varInfo // variables the program reads, resolved at Eval
	parts []templatePart
}

type templatePart struct {
	lit string
	prg *Program
}

// Compile parses and type-checks expr (the text inside ${ }).
func (e *Env) Compile(expr string) (*Program, error) {
	checked, iss := e.env.Compile(expr)
	if iss != nil && iss.Err() != nil {
		return nil, iss.Err()
	}
	prg, err := e.env.Program(checked, cel.EvalOptions(cel.OptOptimize), cel.InterruptCheckFrequency(interruptEvery))
	if err != nil {
		return nil, err
	}
	p := &Program{Expr: expr, OutputType: checked.OutputType(), prg: prg}
	root := checked.NativeRep().Expr()
	p.References = references(root, e.vars)
	ast.PostOrderVisit(root, ast.NewExprVisitor(func(x ast.Expr) {
		if x.Kind() == ast.CallKind && x.AsCall().FunctionName() == "omit" && len(x.AsCall().Args()) == 0 {
			p.UsesOmit = true
		}
	}))
	for name := range p.References {
		p.binds = append(p.binds, e.vars[name])
	}
	sort.Slice(p.binds, func(i, j int) bool { return p.binds[i].name < p.binds[j].name })
	return p, nil
}

// CompileTemplate compiles a field value: a standalone "${expr}" compiles
// to expr (any type); any other string with expressions compiles to the
// concatenation of its parts, each of which must be a string; a string
// without expressions compiles to a constant.
func (e *Env) CompileTemplate(s string) (*Program, error) {
	segs, err := ParseTemplate(s)
	if err != nil {
		return nil, err
	}
	if len(segs) == 1 && segs[0].IsExpr {
		return e.Compile(segs[0].Text)
	}
	p := &Program{Expr: s, OutputType: cel.StringType, References: map[string][]string{}}
	for _, seg := range segs {
		if !seg.IsExpr {
			p.parts = append(p.parts, templatePart{lit: seg.Text})
			continue
		}
		sub, err := e.Compile(seg.Text)
		if err != nil {
			return nil, err
		}
		if !isStringish(sub.OutputType) {
			return nil, fmt.Errorf("expression %q in string template %q must return string, got %s", seg.Text, s, typeString(sub.OutputType))
		}
		p.parts = append(p.parts, templatePart{prg: sub})
		p.UsesOmit = p.UsesOmit || sub.UsesOmit
		for k, paths := range sub.References {
			p.References[k] = mergePaths(p.References[k], paths)
		}
	}
	if len(p.parts) == 0 {
		p.parts = []templatePart{{lit: ""}}
	}
	return p, nil
}

func isStringish(t *cel.Type) bool {
	switch t.Kind() {
	case types.StringKind, types.DynKind, types.AnyKind:
		return true
	}
	return false
}

func mergePaths(a, b []string) []string {
	set := map[string]struct{}{}
	for _, s := range a {
		set[s] = struct{}{}
	}
	for _, s := range b {
		set[s] = struct{}{}
	}
	return sortedKeys(set)
}

// Eval evaluates the program. vars holds plain JSON-like Go values
// (map[string]any, []any, int64, float64, string, bool, nil); they are
// exposed to CEL through the declared schemas. A variable that is absent
// (or nil) yields a "no such attribute" error, i.e. IsPending.
//
// The result is JSON-like Go: ints int64, doubles float64, lists []any,
// maps map[string]any, bytes as standard base64 strings, timestamps as
// RFC 3339 strings, durations as Go duration strings. omit() returns Omit
// and optional.none() returns None (inside lists and maps both drop the
// element). An optional with a value returns the value.
func (p *Program) Eval(vars map[string]any) (any, error) {
	if p.parts != nil {
		return p.evalTemplate(nil, vars)
	}
	v, err := p.evalVal(nil, vars)
	if err != nil {
		return nil, err
	}
	return toJSON(v)
}

// interruptEvery is how many comprehension iterations run between checks
// of the context given to EvalContext.
const interruptEvery = 100

// EvalContext is Eval with cancellation: comprehensions stop when ctx is
// done (guards against runaway expressions in user-supplied graphs).
func (p *Program) EvalContext(ctx context.Context, vars map[string]any) (any, error) {
	if p.parts != nil {
		return p.evalTemplate(ctx, vars)
	}
	v, err := p.evalVal(ctx, vars)
	if err != nil {
		return nil, err
	}
	return toJSON(v)
}

// EvalVal evaluates and returns the raw CEL value.
func (p *Program) EvalVal(vars map[string]any) (ref.Val, error) {
	return p.evalVal(nil, vars)
}

func (p *Program) evalVal(ctx context.Context, vars map[string]any) (ref.Val, error) {
	if p.parts != nil {
		s, err := p.evalTemplate(ctx, vars)
		if err != nil {
			return nil, err
		}
		return types.String(s.(string)), nil
	}
	act := activation{binds: p.binds, vars: vars}
	if len(p.binds) <= len(act.small) {
		act.cache = act.small[:len(p.binds)]
	} else {
		act.cache = make([]ref.Val, len(p.binds))
	}
	var out ref.Val
	var err error
	if ctx != nil {
		out, _, err = p.prg.ContextEval(ctx, &act)
	} else {
		out, _, err = p.prg.Eval(&act)
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (p *Program) evalTemplate(ctx context.Context, vars map[string]any) (any, error) {
	if len(p.parts) == 1 && p.parts[0].prg == nil {
		return p.parts[0].lit, nil
	}
	var b strings.Builder
	for _, part := range p.parts {
		if part.prg == nil {
			b.WriteString(part.lit)
			continue
		}
		v, err := part.prg.evalVal(ctx, vars)
		if err != nil {
			return nil, err
		}
		s, ok := v.(types.String)
		if !ok {
			return nil, fmt.Errorf("expression %q in string template must return string, got %s", part.prg.Expr, v.Type().TypeName())
		}
		b.WriteString(string(s))
	}
	return b.String(), nil
}

// activation resolves variables lazily and wraps each at most once per
// evaluation.
type activation struct {
	binds []*varInfo
	vars  map[string]any
	cache []ref.Val
	small [4]ref.Val
}

func (a *activation) ResolveName(name string) (any, bool) {
	for i, b := range a.binds {
		if b.name != name {
			continue
		}
		if v := a.cache[i]; v != nil {
			return v, true
		}
		var v ref.Val
		if b.val == nil {
			v = runtimeVal{}
		} else {
			raw, ok := a.vars[name]
			if !ok || raw == nil {
				return nil, false
			}
			if rv, isVal := raw.(ref.Val); isVal {
				v = rv
			} else {
				v = toVal(normalizeRoot(raw), b.val)
			}
		}
		a.cache[i] = v
		return v, true
	}
	return nil, false
}

func (a *activation) Parent() interpreter.Activation { return nil }

// normalizeRoot accepts a few common shapes besides plain JSON-like data:
// unstructured objects (anything with UnstructuredContent) and lists of
// them or of maps.
func normalizeRoot(raw any) any {
	type unstructured interface{ UnstructuredContent() map[string]any }
	switch x := raw.(type) {
	case map[string]any, []any:
		return raw
	case unstructured:
		return x.UnstructuredContent()
	case []map[string]any:
		out := make([]any, len(x))
		for i, m := range x {
			out[i] = m
		}
		return out
	}
	rv := reflect.ValueOf(raw)
	if rv.Kind() == reflect.Slice && rv.Type().Elem().Implements(reflect.TypeOf((*unstructured)(nil)).Elem()) {
		out := make([]any, rv.Len())
		for i := range out {
			out[i] = rv.Index(i).Interface().(unstructured).UnstructuredContent()
		}
		return out
	}
	return raw
}

// Omit is returned by Eval when the expression evaluated to omit(): the
// field (or list element) must be removed from the rendered object.
var Omit any = omitSentinel{}

// None is returned by Eval when the expression evaluated to
// optional.none().
var None any = noneSentinel{}

// IsPending reports whether err means "data not there yet" (retry later)
// rather than a real error, using kro's rule: the message contains
// "no such key", "no such field", "no such attribute" or
// "index out of bounds".
func IsPending(err error) bool {
	if err == nil {
		return false
	}
	msg := err.Error()
	for _, s := range pendingMarkers {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

var pendingMarkers = []string{"no such key", "no such field", "no such attribute", "index out of bounds"}

func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }

// ---- references ----

func references(e ast.Expr, vars map[string]*varInfo) map[string][]string {
	acc := map[string]map[string]struct{}{}
	walkRefs(e, vars, nil, acc)
	out := make(map[string][]string, len(acc))
	for k, set := range acc {
		out[k] = sortedKeys(set)
	}
	return out
}

func shadowed(name string, scope []string) bool {
	for _, s := range scope {
		if s == name {
			return true
		}
	}
	return false
}

// selectPath returns the variable and dotted path of a selection chain such
// as a.b["c"].d, or ok=false if e is not one.
func selectPath(e ast.Expr) (root string, path []string, ok bool) {
	switch e.Kind() {
	case ast.IdentKind:
		return e.AsIdent(), nil, true
	case ast.SelectKind:
		s := e.AsSelect()
		root, path, ok = selectPath(s.Operand())
		if !ok {
			return "", nil, false
		}
		return root, append(path, s.FieldName()), true
	case ast.CallKind:
		c := e.AsCall()
		switch c.FunctionName() {
		case "_[_]", "_?._", "_[?_]":
			args := c.Args()
			if len(args) != 2 || args[1].Kind() != ast.LiteralKind {
				return "", nil, false
			}
			root, path, ok = selectPath(args[0])
			if !ok {
				return "", nil, false
			}
			switch lit := args[1].AsLiteral().(type) {
			case types.String:
				return root, append(path, string(lit)), true
			case types.Int:
				return root, append(path, fmt.Sprintf("[%d]", int64(lit))), true
			case types.Uint:
				return root, append(path, fmt.Sprintf("[%d]", uint64(lit))), true
			}
			return root, path, true
		}
	}
	return "", nil, false
}

func walkRefs(e ast.Expr, vars map[string]*varInfo, scope []string, acc map[string]map[string]struct{}) {
	if root, path, ok := selectPath(e); ok {
		if _, declared := vars[root]; declared && !shadowed(root, scope) {
			if acc[root] == nil {
				acc[root] = map[string]struct{}{}
			}
			p := strings.Join(path, ".")
			p = strings.ReplaceAll(p, ".[", "[")
			acc[root][p] = struct{}{}
			return
		}
		if e.Kind() == ast.IdentKind {
			return
		}
	}
	switch e.Kind() {
	case ast.SelectKind:
		walkRefs(e.AsSelect().Operand(), vars, scope, acc)
	case ast.CallKind:
		c := e.AsCall()
		if c.IsMemberFunction() {
			walkRefs(c.Target(), vars, scope, acc)
		}
		for _, a := range c.Args() {
			walkRefs(a, vars, scope, acc)
		}
	case ast.ListKind:
		for _, el := range e.AsList().Elements() {
			walkRefs(el, vars, scope, acc)
		}
	case ast.MapKind:
		for _, en := range e.AsMap().Entries() {
			me := en.AsMapEntry()
			walkRefs(me.Key(), vars, scope, acc)
			walkRefs(me.Value(), vars, scope, acc)
		}
	case ast.StructKind:
		for _, f := range e.AsStruct().Fields() {
			walkRefs(f.AsStructField().Value(), vars, scope, acc)
		}
	case ast.ComprehensionKind:
		c := e.AsComprehension()
		walkRefs(c.IterRange(), vars, scope, acc)
		walkRefs(c.AccuInit(), vars, scope, acc)
		inner := append(append([]string(nil), scope...), c.IterVar(), c.AccuVar())
		if c.HasIterVar2() {
			inner = append(inner, c.IterVar2())
		}
		walkRefs(c.LoopCondition(), vars, inner, acc)
		walkRefs(c.LoopStep(), vars, inner, acc)
		walkRefs(c.Result(), vars, inner, acc)
	}
}
