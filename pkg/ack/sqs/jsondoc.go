package sqs

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// equalDocs compares two JSON attribute values (Policy, RedrivePolicy,
// RedriveAllowPolicy) by meaning rather than text. It is a minimal local
// comparison (the shared IAM policy comparison lives in the iam work):
//   - a lone value equals a one-element list ("Action": "x" == ["x"],
//     a single Statement object == a list of one);
//   - lists are sets: order and duplicates do not matter;
//   - numbers and booleans equal their string form (SQS answers
//     "maxReceiveCount": 5 for "5"; IAM conditions take "true" or true).
//
// An empty or absent document equals another empty one. Two texts that are
// not JSON are compared as text.
func equalDocs(a, b string) bool {
	a, b = strings.TrimSpace(a), strings.TrimSpace(b)
	if a == b {
		return true
	}
	if a == "" || b == "" {
		return false
	}
	var va, vb any
	if json.Unmarshal([]byte(a), &va) != nil || json.Unmarshal([]byte(b), &vb) != nil {
		return false
	}
	return canonical(va) == canonical(vb)
}

// canonical renders v with every value as a sorted set, so that equal
// documents in the sense of equalDocs render the same.
func canonical(v any) string {
	items := asList(v)
	out := make([]string, 0, len(items))
	seen := map[string]bool{}
	for _, it := range items {
		s := scalarOrObject(it)
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return "[" + strings.Join(out, ",") + "]"
}

func asList(v any) []any {
	if l, ok := v.([]any); ok {
		return l
	}
	return []any{v}
}

func scalarOrObject(v any) string {
	switch t := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var b strings.Builder
		b.WriteString("{")
		for i, k := range keys {
			if i > 0 {
				b.WriteString(",")
			}
			kb, _ := json.Marshal(k)
			b.Write(kb)
			b.WriteString(":")
			b.WriteString(canonical(t[k]))
		}
		b.WriteString("}")
		return b.String()
	case []any: // a list inside a list: keep it as one set value
		return canonical(t)
	case nil:
		return "null"
	case string:
		sb, _ := json.Marshal(t)
		return string(sb)
	default: // float64, bool: their text, as a string
		sb, _ := json.Marshal(fmt.Sprint(t))
		return string(sb)
	}
}
