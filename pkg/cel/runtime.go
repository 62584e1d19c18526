package cel

import (
	"fmt"
	"reflect"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common"
	"github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

// ConditionTypeName is the CEL object type produced by runtime.newCondition
// and returned (wrapped in an optional) by runtime.condition.
const ConditionTypeName = "kro.run.Condition"

// RuntimeVarName is the identifier declared when EnvOptions.Runtime is set.
const RuntimeVarName = "runtime"

var (
	runtimeType = cel.OpaqueType("kro.run.Runtime")
	omitType    = cel.OpaqueType("kro.run.Omit")
	condNode    *node
)

func init() {
	s := &spec.Schema{SchemaProps: spec.SchemaProps{
		Type:     spec.StringOrArray{"object"},
		Required: []string{"type", "status"},
		Properties: map[string]spec.Schema{
			"type":               *spec.StringProperty(),
			"status":             *spec.StringProperty(),
			"reason":             *spec.StringProperty(),
			"message":            *spec.StringProperty(),
			"lastTransitionTime": *spec.StringProperty(),
			"observedGeneration": *spec.Int64Property(),
		},
	}}
	condNode = buildNode(s, 0)
	computeHash(condNode)
	assignTypes(condNode, ConditionTypeName)
}

// newConditionKeys are the keys runtime.newCondition accepts.
var newConditionKeys = map[string]bool{"type": true, "status": true, "reason": true, "message": true}

// newConditionMacro rewrites runtime.newCondition({type: t, status: s, ...})
// into the object literal kro.run.Condition{type: t, status: s, ...}, so the
// keys are bare identifiers checked at build time and the values are
// type-checked as strings.
func newConditionMacro(eh cel.MacroExprFactory, target ast.Expr, args []ast.Expr) (ast.Expr, *common.Error) {
	if target == nil || target.Kind() != ast.IdentKind || target.AsIdent() != RuntimeVarName {
		return nil, nil
	}
	arg := args[0]
	if arg.Kind() != ast.MapKind {
		return nil, eh.NewError(arg.ID(), "runtime.newCondition expects a map literal {type: ..., status: ..., reason: ..., message: ...}")
	}
	seen := map[string]bool{}
	var fields []ast.EntryExpr
	for _, e := range arg.AsMap().Entries() {
		entry := e.AsMapEntry()
		key := entry.Key()
		if key.Kind() != ast.IdentKind {
			return nil, eh.NewError(key.ID(), "runtime.newCondition keys must be bare identifiers (type, status, reason, message)")
		}
		name := key.AsIdent()
		if !newConditionKeys[name] {
			return nil, eh.NewError(key.ID(), fmt.Sprintf("runtime.newCondition: unknown key %q (allowed: type, status, reason, message)", name))
		}
		if seen[name] {
			return nil, eh.NewError(key.ID(), fmt.Sprintf("runtime.newCondition: duplicate key %q", name))
		}
		if entry.IsOptional() {
			return nil, eh.NewError(key.ID(), "runtime.newCondition: optional entries are not supported")
		}
		seen[name] = true
		val := entry.Value()
		if name == "status" && val.Kind() == ast.LiteralKind {
			if s, ok := val.AsLiteral().(types.String); ok && !validConditionStatus(string(s)) {
				return nil, eh.NewError(val.ID(), fmt.Sprintf("runtime.newCondition: status must be True, False or Unknown, got %q", string(s)))
			}
		}
		fields = append(fields, eh.NewStructField(name, eh.Copy(val), false))
	}
	for _, req := range []string{"type", "status"} {
		if !seen[req] {
			return nil, eh.NewError(arg.ID(), fmt.Sprintf("runtime.newCondition: missing required key %q", req))
		}
	}
	return eh.NewStruct(ConditionTypeName, fields...), nil
}

func validConditionStatus(s string) bool {
	return s == "True" || s == "False" || s == "Unknown"
}

// newConditionValue builds the condition from the checked struct literal.
func newConditionValue(fields map[string]ref.Val) ref.Val {
	m := make(map[string]any, len(fields))
	for k, v := range fields {
		s, ok := v.(types.String)
		if !ok {
			return types.NewErr("runtime.newCondition: %s must be a string", k)
		}
		m[k] = string(s)
	}
	if t, _ := m["type"].(string); t == "" {
		return types.NewErr("runtime.newCondition: type must not be empty")
	}
	if s, _ := m["status"].(string); !validConditionStatus(s) {
		return types.NewErr("runtime.newCondition: status must be True, False or Unknown, got %q", s)
	}
	return &objVal{m: m, n: condNode}
}

// runtimeVal is the value of the `runtime` variable; it only serves as the
// receiver of runtime.condition.
type runtimeVal struct{}

func (runtimeVal) ConvertToNative(reflect.Type) (any, error) {
	return nil, fmt.Errorf("runtime cannot be converted")
}
func (runtimeVal) ConvertToType(t ref.Type) ref.Val {
	if t == types.TypeType {
		return runtimeType
	}
	return types.NewErr("runtime cannot be converted to %s", t.TypeName())
}
func (runtimeVal) Equal(o ref.Val) ref.Val { _, ok := o.(runtimeVal); return types.Bool(ok) }
func (runtimeVal) Type() ref.Type          { return runtimeType }
func (runtimeVal) Value() any              { return nil }

// conditionOf implements runtime.condition(obj, type): the entry of
// obj.status.conditions with that type, as optional. It reads the raw
// object, so for `schema` the engine can pass the instance including its
// status (the status is not visible to expressions otherwise) and the
// built-in conditions become readable.
func conditionOf(obj, typ ref.Val) ref.Val {
	want, ok := typ.(types.String)
	if !ok {
		return types.MaybeNoSuchOverloadErr(typ)
	}
	var raw map[string]any
	switch o := obj.(type) {
	case *objVal:
		raw = o.m
	case *mapVal:
		raw = o.m
	case traits.Mapper:
		j, err := toJSON(o)
		if err != nil {
			return types.WrapErr(err)
		}
		raw, _ = j.(map[string]any)
	default:
		return types.NewErr("runtime.condition: expected an object, got %s", obj.Type().TypeName())
	}
	status, _ := raw["status"].(map[string]any)
	conds, _ := status["conditions"].([]any)
	for _, c := range conds {
		cm, ok := c.(map[string]any)
		if !ok {
			continue
		}
		if t, _ := cm["type"].(string); t == string(want) {
			return types.OptionalOf(&objVal{m: cm, n: condNode})
		}
	}
	return types.OptionalNone
}

func runtimeLib() cel.EnvOption {
	return cel.Lib(&simpleLib{name: "trellis.runtime", opts: []cel.EnvOption{
		cel.Macros(cel.ReceiverMacro("newCondition", 1, newConditionMacro)),
		cel.Variable(RuntimeVarName, runtimeType),
		cel.Function("condition",
			cel.MemberOverload("runtime_condition_dyn_string",
				[]*cel.Type{runtimeType, cel.DynType, cel.StringType}, cel.OptionalType(condNode.celType),
				cel.FunctionBinding(func(args ...ref.Val) ref.Val { return conditionOf(args[1], args[2]) }))),
	}})
}

// ---- omit ----

// omitVal is the run-time value of omit().
type omitVal struct{}

func (omitVal) ConvertToNative(reflect.Type) (any, error) {
	return nil, fmt.Errorf("omit() cannot be converted")
}
func (omitVal) ConvertToType(t ref.Type) ref.Val {
	if t == types.TypeType {
		return omitType
	}
	return types.NewErr("omit() cannot be converted to %s", t.TypeName())
}
func (omitVal) Equal(o ref.Val) ref.Val { _, ok := o.(omitVal); return types.Bool(ok) }
func (omitVal) Type() ref.Type          { return omitType }
func (omitVal) Value() any              { return Omit }

func omitLib() cel.EnvOption {
	return cel.Lib(&simpleLib{name: "trellis.omit", opts: []cel.EnvOption{
		// dyn so omit() fits either branch of a conditional.
		cel.Function("omit",
			cel.Overload("omit", nil, cel.DynType,
				cel.FunctionBinding(func(...ref.Val) ref.Val { return omitVal{} }))),
	}})
}
