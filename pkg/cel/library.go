package cel

import (
	"bytes"
	"crypto/md5"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"hash/fnv"
	"math"
	"strings"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
)

// kroLibraries returns trellis's implementation of kro's CEL extension
// functions (random, maps, json, hash, lists). See kro.md §1.5.
func kroLibraries() []cel.EnvOption {
	return []cel.EnvOption{randomLib(), mapsLib(), jsonLib(), hashLib(), listsLib()}
}

// ---- random ----

// maxSeededStringLen guards against expressions asking for huge strings.
const maxSeededStringLen = 1 << 16

const alphabet36 = "0123456789abcdefghijklmnopqrstuvwxyz"

// seededStream is a deterministic byte stream: SHA-256 of seed||counter,
// block after block.
type seededStream struct {
	seed  string
	ctr   uint64
	block [sha256.Size]byte
	pos   int
}

func newSeededStream(seed string) *seededStream {
	s := &seededStream{seed: seed, pos: sha256.Size}
	return s
}

func (s *seededStream) next() byte {
	if s.pos == sha256.Size {
		h := sha256.New()
		h.Write([]byte(s.seed))
		var c [8]byte
		binary.BigEndian.PutUint64(c[:], s.ctr)
		h.Write(c[:])
		h.Sum(s.block[:0])
		s.ctr++
		s.pos = 0
	}
	b := s.block[s.pos]
	s.pos++
	return b
}

func (s *seededStream) uint64() uint64 {
	var v uint64
	for i := 0; i < 8; i++ {
		v = v<<8 | uint64(s.next())
	}
	return v
}

// seededString returns n characters of [0-9a-z] derived from seed. Bytes
// >= 252 are skipped so every character is equally likely.
func seededString(n int64, seed string) (string, error) {
	if n < 0 || n > maxSeededStringLen {
		return "", errorf("random.seededString: length must be between 0 and %d, got %d", maxSeededStringLen, n)
	}
	out := make([]byte, 0, n)
	st := newSeededStream(seed)
	for int64(len(out)) < n {
		b := st.next()
		if b >= 252 {
			continue
		}
		out = append(out, alphabet36[b%36])
	}
	return string(out), nil
}

// seededInt returns an integer in [min, max) derived from seed, without
// modulo bias.
func seededInt(min, max int64, seed string) (int64, error) {
	if min >= max {
		return 0, errorf("random.seededInt: min (%d) must be less than max (%d)", min, max)
	}
	span := uint64(max - min) // wraps correctly for any min < max
	limit := math.MaxUint64 - (math.MaxUint64%span+1)%span
	st := newSeededStream(seed)
	for {
		v := st.uint64()
		if v <= limit {
			return min + int64(v%span), nil
		}
	}
}

func randomLib() cel.EnvOption {
	return cel.Lib(&simpleLib{name: "trellis.random", opts: []cel.EnvOption{
		cel.Function("random.seededString",
			cel.Overload("random_seededString_int_string", []*cel.Type{cel.IntType, cel.StringType}, cel.StringType,
				cel.BinaryBinding(func(n, seed ref.Val) ref.Val {
					s, err := seededString(int64(n.(types.Int)), string(seed.(types.String)))
					if err != nil {
						return types.WrapErr(err)
					}
					return types.String(s)
				}))),
		cel.Function("random.seededInt",
			cel.Overload("random_seededInt_int_int_string", []*cel.Type{cel.IntType, cel.IntType, cel.StringType}, cel.IntType,
				cel.FunctionBinding(func(args ...ref.Val) ref.Val {
					v, err := seededInt(int64(args[0].(types.Int)), int64(args[1].(types.Int)), string(args[2].(types.String)))
					if err != nil {
						return types.WrapErr(err)
					}
					return types.Int(v)
				}))),
	}})
}

// ---- maps ----

func mapsLib() cel.EnvOption {
	k, v := cel.TypeParamType("K"), cel.TypeParamType("V")
	mapKV := cel.MapType(k, v)
	return cel.Lib(&simpleLib{name: "trellis.maps", opts: []cel.EnvOption{
		cel.Function("merge",
			cel.MemberOverload("map_merge_map", []*cel.Type{mapKV, mapKV}, mapKV,
				cel.BinaryBinding(mergeMaps))),
		cel.Function("deepMerge",
			cel.MemberOverload("dyn_deepMerge_dyn", []*cel.Type{cel.DynType, cel.DynType}, cel.DynType,
				cel.BinaryBinding(func(a, b ref.Val) ref.Val {
					ja, err := toJSON(a)
					if err != nil {
						return types.WrapErr(err)
					}
					jb, err := toJSON(b)
					if err != nil {
						return types.WrapErr(err)
					}
					return dynVal(deepMerge(ja, jb))
				}))),
	}})
}

// mergeMaps returns a new map with the entries of a overlaid by b.
func mergeMaps(a, b ref.Val) ref.Val {
	ma, ok := a.(traits.Mapper)
	if !ok {
		return types.MaybeNoSuchOverloadErr(a)
	}
	mb, ok := b.(traits.Mapper)
	if !ok {
		return types.MaybeNoSuchOverloadErr(b)
	}
	out := make(map[ref.Val]ref.Val)
	for _, m := range []traits.Mapper{ma, mb} {
		it := m.Iterator()
		for it.HasNext() == types.True {
			key := it.Next()
			out[key] = m.Get(key)
		}
	}
	return types.NewRefValMap(types.DefaultTypeAdapter, out)
}

// deepMerge merges JSON-like b into a: maps merge recursively, everything
// else (lists, scalars, type mismatches) is replaced by b.
func deepMerge(a, b any) any {
	ma, ok1 := a.(map[string]any)
	mb, ok2 := b.(map[string]any)
	if !ok1 || !ok2 {
		return b
	}
	out := make(map[string]any, len(ma)+len(mb))
	for k, v := range ma {
		out[k] = v
	}
	for k, v := range mb {
		if prev, ok := out[k]; ok {
			out[k] = deepMerge(prev, v)
		} else {
			out[k] = v
		}
	}
	return out
}

// ---- json ----

func jsonLib() cel.EnvOption {
	return cel.Lib(&simpleLib{name: "trellis.json", opts: []cel.EnvOption{
		cel.Function("json.unmarshal",
			cel.Overload("json_unmarshal_string", []*cel.Type{cel.StringType}, cel.DynType,
				cel.UnaryBinding(func(s ref.Val) ref.Val {
					v, err := unmarshalJSON(string(s.(types.String)))
					if err != nil {
						return types.NewErr("json.unmarshal: %v", err)
					}
					return dynVal(v)
				}))),
		cel.Function("json.marshal",
			cel.Overload("json_marshal_dyn", []*cel.Type{cel.DynType}, cel.StringType,
				cel.UnaryBinding(func(v ref.Val) ref.Val {
					s, err := marshalJSON(v)
					if err != nil {
						return types.NewErr("json.marshal: %v", err)
					}
					return types.String(s)
				}))),
	}})
}

// unmarshalJSON decodes s keeping integral numbers as int64.
func unmarshalJSON(s string) (any, error) {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, errorf("unexpected data after the JSON value")
	}
	return copyJSON(v), nil
}

func marshalJSON(v ref.Val) (string, error) {
	j, err := toJSON(v)
	if err != nil {
		return "", err
	}
	if j == Omit || j == None {
		return "", errorf("cannot marshal %v", j)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(j); err != nil {
		return "", err
	}
	return strings.TrimSuffix(buf.String(), "\n"), nil
}

// ---- hash ----

func hashLib() cel.EnvOption {
	fn := func(name string, sum func([]byte) []byte) cel.EnvOption {
		return cel.Function("hash."+name,
			cel.Overload("hash_"+name+"_string", []*cel.Type{cel.StringType}, cel.BytesType,
				cel.UnaryBinding(func(s ref.Val) ref.Val {
					return types.Bytes(sum([]byte(s.(types.String))))
				})))
	}
	return cel.Lib(&simpleLib{name: "trellis.hash", opts: []cel.EnvOption{
		fn("fnv64a", func(b []byte) []byte { h := fnv.New64a(); h.Write(b); return h.Sum(nil) }),
		fn("sha256", func(b []byte) []byte { s := sha256.Sum256(b); return s[:] }),
		fn("md5", func(b []byte) []byte { s := md5.Sum(b); return s[:] }),
	}})
}

// ---- lists ----

func listsLib() cel.EnvOption {
	t := cel.TypeParamType("T")
	listT := cel.ListType(t)
	return cel.Lib(&simpleLib{name: "trellis.lists", opts: []cel.EnvOption{
		cel.Function("lists.setAtIndex",
			cel.Overload("lists_setAtIndex_list_int_T", []*cel.Type{listT, cel.IntType, t}, listT,
				cel.FunctionBinding(func(args ...ref.Val) ref.Val {
					return listEdit("lists.setAtIndex", args[0], args[1], args[2], 0)
				}))),
		cel.Function("lists.insertAtIndex",
			cel.Overload("lists_insertAtIndex_list_int_T", []*cel.Type{listT, cel.IntType, t}, listT,
				cel.FunctionBinding(func(args ...ref.Val) ref.Val {
					return listEdit("lists.insertAtIndex", args[0], args[1], args[2], 1)
				}))),
		cel.Function("lists.removeAtIndex",
			cel.Overload("lists_removeAtIndex_list_int", []*cel.Type{listT, cel.IntType}, listT,
				cel.BinaryBinding(func(l, i ref.Val) ref.Val {
					return listEdit("lists.removeAtIndex", l, i, nil, -1)
				}))),
	}})
}

// listEdit copies l and sets (op 0), inserts (op 1) or removes (op -1) at
// index i. Out-of-range indexes are errors, deliberately not worded like
// the "index out of bounds" of missing data, which would mean "retry later".
func listEdit(name string, l, i, v ref.Val, op int) ref.Val {
	lst, ok := l.(traits.Lister)
	if !ok {
		return types.MaybeNoSuchOverloadErr(l)
	}
	n := int64(lst.Size().(types.Int))
	idx := int64(i.(types.Int))
	max := n
	if op == 1 {
		max = n + 1
	}
	if idx < 0 || idx >= max {
		return types.NewErr("%s: index %d out of range for list of size %d", name, idx, n)
	}
	out := make([]ref.Val, 0, n+1)
	for j := int64(0); j < n; j++ {
		e := lst.Get(types.Int(j))
		switch {
		case j == idx && op == 0:
			out = append(out, v)
		case j == idx && op == 1:
			out = append(out, v, e)
		case j == idx && op == -1:
		default:
			out = append(out, e)
		}
	}
	if op == 1 && idx == n {
		out = append(out, v)
	}
	return types.NewRefValList(types.DefaultTypeAdapter, out)
}

// ---- helpers ----

type simpleLib struct {
	name string
	opts []cel.EnvOption
	prg  []cel.ProgramOption
}

func (l *simpleLib) LibraryName() string                 { return l.name }
func (l *simpleLib) CompileOptions() []cel.EnvOption     { return l.opts }
func (l *simpleLib) ProgramOptions() []cel.ProgramOption { return l.prg }
