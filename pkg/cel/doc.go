// Package cel is trellis's CEL layer: ${...} template parsing, typed
// environments built from OpenAPI schemas, kro-compatible function
// libraries, evaluation against plain JSON-like Go values, and the type
// compatibility rules used when checking expressions against target fields.
// It is pure: it never talks to an API server.
//
// # Usage
//
// Build one Env per graph (NewEnv is ~1-2 ms for a handful of core kinds),
// compile every expression once (Env.Compile for the text inside ${ },
// Env.CompileTemplate for a whole field value), then call Program.Eval for
// every instance; Eval is allocation-light (a few hundred ns for field reads)
// and safe for concurrent use. EvalContext stops runaway comprehensions when
// its context is done; EvalVal returns the raw CEL value.
//
// # Typing
//
// Each variable is declared from its kube-openapi schema. Object schemas
// become CEL object types, so typos ("undefined field") and wrong operand
// types fail at compile time, and has() works on declared fields. Rules:
//   - x-kubernetes-preserve-unknown-fields objects, `type: object` without
//     properties or additionalProperties, x-kubernetes-int-or-string and
//     schemas without a type are dyn;
//   - additionalProperties objects are map(string, T); arrays list(T)
//     (list(dyn) without items);
//   - string formats follow Kubernetes CEL: date-time/date → timestamp,
//     duration → duration, byte → bytes;
//   - unless Variable.Plain, object schemas get apiVersion, kind and the
//     well-known ObjectMeta fields when they don't declare them (CRDs often
//     have `metadata: {type: object}`); ClusterScoped drops namespace;
//   - Variable.List wraps the type in a list; Variable.Type declares by CEL
//     type (forEach iterators: the element type of the list expression).
//
// Object type names look like __type_<var>_<hash>.<path>; they appear in
// some error messages. A process-wide registry maps these names to their
// structure so CheckAssignable and InferSchema can look inside object types;
// it grows with the number of distinct schemas, not with envs.
//
// # Values
//
// Eval takes JSON-like Go data (map[string]any, []any, string, int64,
// float64, bool, nil; other int kinds and json.Number are accepted). Data is
// wrapped lazily and converted on access according to the schema: whole
// float64 values in integer fields become ints, date-time strings
// timestamps, base64 strings in byte fields bytes. Fields that are absent or
// null read as "no such key" errors, which IsPending reports as "data not
// there yet" (as do "no such field", "no such attribute" for a variable
// missing from the map, and "index out of bounds"). Map iteration in
// comprehensions is in sorted key order, so results are deterministic.
//
// Results are JSON-like Go data, deep-copied (never aliasing the input):
// ints int64 (uint too, when it fits), doubles float64, lists []any, maps
// map[string]any (non-string keys formatted), bytes standard base64,
// timestamps RFC 3339 (UTC, nanoseconds when present), durations Go
// duration strings, types their name. omit() returns Omit; optional.none()
// returns None; an optional with a value returns the value. Inside lists and
// maps, Omit and None elements are dropped.
//
// # Libraries
//
// Every env has cel-go's ext.TwoVarComprehensions, ext.Lists, ext.Strings,
// ext.Bindings, ext.Encoders and optional types; Kubernetes' Lists, URLs,
// Regex, Quantity, IP, CIDR and SemverLib; and trellis's implementation of
// kro's libraries:
//
//	random.seededString(int, string) string   // [0-9a-z], SHA-256 stream of seed||counter, rejection-sampled
//	random.seededInt(int, int, string) int     // [min, max), unbiased
//	<map>.merge(<map>) map                     // right wins
//	<dyn>.deepMerge(<dyn>) dyn                 // maps merge recursively; lists and scalars replaced
//	json.unmarshal(string) dyn                 // integral numbers as int
//	json.marshal(dyn) string                   // sorted keys, no HTML escaping
//	hash.fnv64a|sha256|md5(string) bytes
//	lists.setAtIndex(list, int, T), lists.insertAtIndex(list, int, T), lists.removeAtIndex(list, int)
//	omit()                                     // EnvOptions.Omit only
//	runtime.newCondition({type, status, reason, message})   // EnvOptions.Runtime only
//	runtime.condition(obj, string) optional(kro.run.Condition)
//
// random.* output is deterministic and stable across trellis releases but is
// not byte-for-byte kro's (kro's algorithm is not part of its contract).
//
// runtime.newCondition is a macro: the argument must be a map literal with
// bare-identifier keys (type and status required, reason and message
// optional); it becomes a kro.run.Condition object literal, so values are
// type-checked as strings and a literal status must be True, False or
// Unknown (dynamic values are checked at run time). runtime.condition reads
// obj.status.conditions from the raw data, so passing the instance with its
// status as `schema` makes the built-in conditions readable even though
// `schema.status` is not declared.
package cel
