package cel

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strconv"
	"time"

	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
)

// The wrappers below expose plain JSON-like Go data (map[string]any, []any,
// scalars) to CEL lazily: nothing is converted until an expression reads it,
// and every read is converted according to the schema node, so run-time
// values have the types the checker assumed (ints stay ints even when the
// JSON decoder produced float64, date-time strings become timestamps, ...).

// toVal converts raw data typed by n into a CEL value.
func toVal(raw any, n *node) ref.Val {
	if raw == nil {
		return types.NullValue
	}
	switch n.kind {
	case kString:
		if s, ok := raw.(string); ok {
			return types.String(s)
		}
	case kInt:
		switch v := raw.(type) {
		case int64:
			return types.Int(v)
		case int:
			return types.Int(v)
		case int32:
			return types.Int(v)
		case float64:
			if v == math.Trunc(v) && math.Abs(v) < 1<<63 {
				return types.Int(int64(v))
			}
		}
	case kDouble:
		switch v := raw.(type) {
		case float64:
			return types.Double(v)
		case int64:
			return types.Double(v)
		case int:
			return types.Double(v)
		case int32:
			return types.Double(v)
		case float32:
			return types.Double(v)
		}
	case kBool:
		if b, ok := raw.(bool); ok {
			return types.Bool(b)
		}
	case kTimestamp:
		if s, ok := raw.(string); ok {
			if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
				return types.Timestamp{Time: t}
			}
			if t, err := time.Parse(time.DateOnly, s); err == nil {
				return types.Timestamp{Time: t}
			}
		}
	case kDuration:
		if s, ok := raw.(string); ok {
			if d, err := time.ParseDuration(s); err == nil {
				return types.Duration{Duration: d}
			}
		}
	case kBytes:
		if s, ok := raw.(string); ok {
			if b, err := base64.StdEncoding.DecodeString(s); err == nil {
				return types.Bytes(b)
			}
		}
	case kObject:
		if m, ok := raw.(map[string]any); ok {
			return &objVal{m: m, n: n}
		}
	case kMap:
		if m, ok := raw.(map[string]any); ok {
			return &mapVal{m: m, elem: n.elem}
		}
	case kList:
		if l, ok := raw.([]any); ok {
			return &listVal{l: l, elem: n.elem}
		}
	}
	// dyn, or data that does not match its schema: convert by Go type.
	return dynVal(raw)
}

func dynVal(raw any) ref.Val {
	switch v := raw.(type) {
	case nil:
		return types.NullValue
	case string:
		return types.String(v)
	case bool:
		return types.Bool(v)
	case int64:
		return types.Int(v)
	case int:
		return types.Int(v)
	case int32:
		return types.Int(v)
	case float64:
		return types.Double(v)
	case float32:
		return types.Double(v)
	case uint64:
		if v <= math.MaxInt64 {
			return types.Int(int64(v))
		}
		return types.Uint(v)
	case json.Number:
		if i, err := v.Int64(); err == nil {
			return types.Int(i)
		}
		f, _ := v.Float64()
		return types.Double(f)
	case map[string]any:
		return &mapVal{m: v, elem: dynNode}
	case []any:
		return &listVal{l: v, elem: dynNode}
	case []byte:
		return types.Bytes(v)
	case ref.Val:
		return v
	}
	return types.DefaultTypeAdapter.NativeToValue(raw)
}

// ---- objects with fixed properties ----

type objVal struct {
	m map[string]any
	n *node
}

var (
	_ traits.Mapper = (*objVal)(nil)
	_ traits.Mapper = (*mapVal)(nil)
	_ traits.Lister = (*listVal)(nil)
)

func (o *objVal) Find(key ref.Val) (ref.Val, bool) {
	k, ok := key.(types.String)
	if !ok {
		return nil, false
	}
	c, raw, ok := o.n.fieldNode(string(k))
	if !ok {
		// Not in the schema: still visible through dyn access.
		if v, ok := o.m[string(k)]; ok && v != nil {
			return dynVal(v), true
		}
		return nil, false
	}
	v, ok := o.m[raw]
	if !ok || v == nil { // null fields count as absent, as in Kubernetes CEL
		return nil, false
	}
	return toVal(v, c), true
}

func (o *objVal) Get(key ref.Val) ref.Val      { return mapperGet(o, key) }
func (o *objVal) Contains(key ref.Val) ref.Val { return mapperContains(o, key) }
func (o *objVal) Size() ref.Val                { return types.Int(len(o.m)) }
func (o *objVal) Iterator() traits.Iterator    { return newKeyIter(o.m) }
func (o *objVal) Type() ref.Type               { return types.MapType }
func (o *objVal) Value() any                   { return o.m }
func (o *objVal) Equal(other ref.Val) ref.Val  { return mapperEqual(o, other) }
func (o *objVal) ConvertToType(t ref.Type) ref.Val {
	return convertMapperToType(o, t)
}
func (o *objVal) ConvertToNative(t reflect.Type) (any, error) { return convertToNative(o, t) }

// ---- maps (additionalProperties, or dyn objects) ----

type mapVal struct {
	m    map[string]any
	elem *node
}

func (o *mapVal) Find(key ref.Val) (ref.Val, bool) {
	k, ok := key.(types.String)
	if !ok {
		return nil, false
	}
	v, ok := o.m[string(k)]
	if !ok {
		return nil, false
	}
	return toVal(v, o.elem), true
}

func (o *mapVal) Get(key ref.Val) ref.Val                     { return mapperGet(o, key) }
func (o *mapVal) Contains(key ref.Val) ref.Val                { return mapperContains(o, key) }
func (o *mapVal) Size() ref.Val                               { return types.Int(len(o.m)) }
func (o *mapVal) Iterator() traits.Iterator                   { return newKeyIter(o.m) }
func (o *mapVal) Type() ref.Type                              { return types.MapType }
func (o *mapVal) Value() any                                  { return o.m }
func (o *mapVal) Equal(other ref.Val) ref.Val                 { return mapperEqual(o, other) }
func (o *mapVal) ConvertToType(t ref.Type) ref.Val            { return convertMapperToType(o, t) }
func (o *mapVal) ConvertToNative(t reflect.Type) (any, error) { return convertToNative(o, t) }

func mapperGet(m traits.Mapper, key ref.Val) ref.Val {
	if v, ok := m.Find(key); ok {
		return v
	}
	if _, ok := key.(types.String); !ok {
		return types.MaybeNoSuchOverloadErr(key)
	}
	return types.NewErr("no such key: %v", key)
}

func mapperContains(m traits.Mapper, key ref.Val) ref.Val {
	_, ok := m.Find(key)
	return types.Bool(ok)
}

func mapperEqual(m traits.Mapper, other ref.Val) ref.Val {
	o, ok := other.(traits.Mapper)
	if !ok {
		return types.False
	}
	if m.Size().Equal(o.Size()) != types.True {
		return types.False
	}
	it := m.Iterator()
	for it.HasNext() == types.True {
		k := it.Next()
		v, _ := m.Find(k)
		ov, found := o.Find(k)
		if !found {
			return types.False
		}
		if v == nil {
			v = types.NullValue
		}
		if eq := v.Equal(ov); eq != types.True {
			return types.False
		}
	}
	return types.True
}

func convertMapperToType(v ref.Val, t ref.Type) ref.Val {
	switch t {
	case types.MapType:
		return v
	case types.TypeType:
		return types.MapType
	}
	return types.NewErr("type conversion error from 'map' to '%s'", t.TypeName())
}

// keyIter iterates keys in sorted order so map comprehensions are
// deterministic (rendered objects must not flap between reconciles).
type keyIter struct {
	keys []string
	i    int
}

func newKeyIter(m map[string]any) *keyIter {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return &keyIter{keys: keys}
}

func (it *keyIter) HasNext() ref.Val { return types.Bool(it.i < len(it.keys)) }
func (it *keyIter) Next() ref.Val {
	if it.i >= len(it.keys) {
		return nil
	}
	k := it.keys[it.i]
	it.i++
	return types.String(k)
}
func (it *keyIter) Type() ref.Type                            { return types.IteratorType }
func (it *keyIter) Value() any                                { return nil }
func (it *keyIter) Equal(ref.Val) ref.Val                     { return types.False }
func (it *keyIter) ConvertToType(ref.Type) ref.Val            { return types.NewErr("iterator") }
func (it *keyIter) ConvertToNative(reflect.Type) (any, error) { return nil, fmt.Errorf("iterator") }

// ---- lists ----

type listVal struct {
	l    []any
	elem *node
}

func (o *listVal) Get(idx ref.Val) ref.Val {
	i, err := indexOf(idx)
	if err != nil {
		return err
	}
	if i < 0 || i >= int64(len(o.l)) {
		return types.NewErr("index out of bounds: %d", i)
	}
	return toVal(o.l[i], o.elem)
}

func indexOf(idx ref.Val) (int64, ref.Val) {
	switch v := idx.(type) {
	case types.Int:
		return int64(v), nil
	case types.Uint:
		return int64(v), nil
	case types.Double:
		if float64(v) == math.Trunc(float64(v)) {
			return int64(v), nil
		}
		return 0, types.NewErr("unsupported index value %v in list", v)
	}
	return 0, types.MaybeNoSuchOverloadErr(idx)
}

func (o *listVal) Size() ref.Val { return types.Int(len(o.l)) }
func (o *listVal) Contains(v ref.Val) ref.Val {
	for _, e := range o.l {
		if toVal(e, o.elem).Equal(v) == types.True {
			return types.True
		}
	}
	return types.False
}
func (o *listVal) Add(other ref.Val) ref.Val {
	ol, ok := other.(traits.Lister)
	if !ok {
		return types.MaybeNoSuchOverloadErr(other)
	}
	n, _ := ol.Size().(types.Int)
	vals := make([]ref.Val, 0, len(o.l)+int(n))
	for _, e := range o.l {
		vals = append(vals, toVal(e, o.elem))
	}
	it := ol.Iterator()
	for it.HasNext() == types.True {
		vals = append(vals, it.Next())
	}
	return types.NewRefValList(types.DefaultTypeAdapter, vals)
}
func (o *listVal) Iterator() traits.Iterator { return &listIter{l: o} }
func (o *listVal) Type() ref.Type            { return types.ListType }
func (o *listVal) Value() any                { return o.l }
func (o *listVal) Equal(other ref.Val) ref.Val {
	ol, ok := other.(traits.Lister)
	if !ok {
		return types.False
	}
	if ol.Size() != types.Int(len(o.l)) {
		return types.False
	}
	for i := range o.l {
		if toVal(o.l[i], o.elem).Equal(ol.Get(types.Int(i))) != types.True {
			return types.False
		}
	}
	return types.True
}
func (o *listVal) ConvertToType(t ref.Type) ref.Val {
	switch t {
	case types.ListType:
		return o
	case types.TypeType:
		return types.ListType
	}
	return types.NewErr("type conversion error from 'list' to '%s'", t.TypeName())
}
func (o *listVal) ConvertToNative(t reflect.Type) (any, error) { return convertToNative(o, t) }

type listIter struct {
	l *listVal
	i int
}

func (it *listIter) HasNext() ref.Val { return types.Bool(it.i < len(it.l.l)) }
func (it *listIter) Next() ref.Val {
	if it.i >= len(it.l.l) {
		return nil
	}
	v := toVal(it.l.l[it.i], it.l.elem)
	it.i++
	return v
}
func (it *listIter) Type() ref.Type                            { return types.IteratorType }
func (it *listIter) Value() any                                { return nil }
func (it *listIter) Equal(ref.Val) ref.Val                     { return types.False }
func (it *listIter) ConvertToType(ref.Type) ref.Val            { return types.NewErr("iterator") }
func (it *listIter) ConvertToNative(reflect.Type) (any, error) { return nil, fmt.Errorf("iterator") }

// convertToNative is used when library functions ask for Go values
// (e.g. []string for join): go through JSON-like data and let cel-go's
// standard adapter do the rest.
func convertToNative(v ref.Val, t reflect.Type) (any, error) {
	j, err := toJSON(v)
	if err != nil {
		return nil, err
	}
	if t.Kind() == reflect.Interface {
		return j, nil
	}
	if reflect.TypeOf(j) == t {
		return j, nil
	}
	return types.DefaultTypeAdapter.NativeToValue(j).ConvertToNative(t)
}

// ---- back to JSON-like Go ----

type omitSentinel struct{}
type noneSentinel struct{}

func (omitSentinel) String() string { return "<omit>" }
func (noneSentinel) String() string { return "<optional.none>" }

// toJSON converts a CEL value to JSON-like Go data: map[string]any, []any,
// string, int64, float64, bool, nil. Bytes become standard base64 (the JSON
// and OpenAPI `format: byte` convention), timestamps RFC 3339 UTC,
// durations Go duration strings. omit() and optional.none() at the top
// level return Omit / None; inside lists and maps they drop the element.
func toJSON(v ref.Val) (any, error) {
	switch x := v.(type) {
	case types.String:
		return string(x), nil
	case types.Int:
		return int64(x), nil
	case types.Bool:
		return bool(x), nil
	case types.Double:
		return float64(x), nil
	case types.Null:
		return nil, nil
	case types.Uint:
		if x <= math.MaxInt64 {
			return int64(x), nil
		}
		return float64(x), nil
	case types.Bytes:
		return base64.StdEncoding.EncodeToString(x), nil
	case types.Timestamp:
		return x.Time.UTC().Format(time.RFC3339Nano), nil
	case types.Duration:
		return x.Duration.String(), nil
	case *types.Err:
		return nil, x
	case *types.Unknown:
		return nil, fmt.Errorf("expression result is unknown")
	case *types.Optional:
		if !x.HasValue() {
			return None, nil
		}
		return toJSON(x.GetValue())
	case omitVal:
		return Omit, nil
	case *objVal:
		return copyTyped(x.m, x.n), nil
	case *mapVal:
		return copyTyped(x.m, &node{kind: kMap, elem: x.elem}), nil
	case *listVal:
		return copyTyped(x.l, &node{kind: kList, elem: x.elem}), nil
	case traits.Lister:
		out := make([]any, 0)
		it := x.Iterator()
		for it.HasNext() == types.True {
			e, err := toJSON(it.Next())
			if err != nil {
				return nil, err
			}
			if e == Omit || e == None {
				continue
			}
			out = append(out, e)
		}
		return out, nil
	case traits.Mapper:
		out := make(map[string]any)
		it := x.Iterator()
		for it.HasNext() == types.True {
			k := it.Next()
			ks, err := keyString(k)
			if err != nil {
				return nil, err
			}
			e, err := toJSON(x.Get(k))
			if err != nil {
				return nil, err
			}
			if e == Omit || e == None {
				continue
			}
			out[ks] = e
		}
		return out, nil
	case ref.Type:
		return x.TypeName(), nil
	}
	return nil, fmt.Errorf("cannot convert CEL value of type %s to JSON", v.Type().TypeName())
}

func keyString(k ref.Val) (string, error) {
	switch x := k.(type) {
	case types.String:
		return string(x), nil
	case types.Int:
		return strconv.FormatInt(int64(x), 10), nil
	case types.Uint:
		return strconv.FormatUint(uint64(x), 10), nil
	case types.Bool:
		return strconv.FormatBool(bool(x)), nil
	}
	return "", fmt.Errorf("unsupported map key type %s", k.Type().TypeName())
}

// copyTyped deep-copies raw data typed by n, turning whole float64 values
// of integer fields into int64 (JSON decoders produce float64).
func copyTyped(raw any, n *node) any {
	switch n.kind {
	case kInt:
		if f, ok := raw.(float64); ok && f == math.Trunc(f) && math.Abs(f) < 1<<63 {
			return int64(f)
		}
	case kObject:
		if m, ok := raw.(map[string]any); ok {
			out := make(map[string]any, len(m))
			for k, e := range m {
				if c, ok := n.props[k]; ok {
					out[k] = copyTyped(e, c)
				} else {
					out[k] = copyJSON(e)
				}
			}
			return out
		}
	case kMap:
		if m, ok := raw.(map[string]any); ok {
			out := make(map[string]any, len(m))
			for k, e := range m {
				out[k] = copyTyped(e, n.elem)
			}
			return out
		}
	case kList:
		if l, ok := raw.([]any); ok {
			out := make([]any, len(l))
			for i, e := range l {
				out[i] = copyTyped(e, n.elem)
			}
			return out
		}
	}
	return copyJSON(raw)
}

// copyJSON deep-copies JSON-like data (results must not alias observed
// objects) and normalizes Go int kinds to int64.
func copyJSON(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = copyJSON(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = copyJSON(e)
		}
		return out
	case int:
		return int64(x)
	case int32:
		return int64(x)
	case float32:
		return float64(x)
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		f, _ := x.Float64()
		return f
	}
	return v
}
