package runtime

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/url"
	"sort"
	"strings"
)

// Policy documents (IAM identity and trust policies, S3 bucket policies, SQS
// queue policies) are compared by meaning, not text: AWS hands them back
// URL-encoded (IAM), re-serialised, or with single values where the spec
// has lists. These helpers put a document in a canonical form in which the
// differences IAM ignores are gone:
//
//   - whitespace and key order (the document is parsed as JSON);
//   - URL-encoding (IAM's GetRole, GetRolePolicy, GetPolicyVersion);
//   - "Statement": {…} versus "Statement": [{…}], and the order of
//     statements (IAM evaluates them as a set);
//   - "Action": "x" versus ["x"], the order and duplicates of Action,
//     NotAction, Resource, NotResource and of principal and condition value
//     lists; the case of action names and of condition keys, which IAM
//     matches case-insensitively;
//   - condition values written as JSON booleans or numbers versus strings.
//
// Everything else (Sid, Effect, Principal "*" versus {"AWS": "*"}, resource
// ARNs, condition operators) is compared as written.

// DecodePolicyDocument undoes the URL-encoding IAM applies to documents it
// returns. A document that already is JSON is returned as is (moto, S3 and
// SQS return plain JSON; a '%' or '+' inside plain JSON must stay).
func DecodePolicyDocument(doc string) string {
	t := strings.TrimSpace(doc)
	if t == "" || strings.HasPrefix(t, "{") || strings.HasPrefix(t, "[") {
		return doc
	}
	// IAM encodes per RFC 3986 (space as %20); QueryUnescape is the fallback
	// for encoders that write '+' for space.
	if d, err := url.PathUnescape(t); err == nil && json.Valid([]byte(d)) {
		return d
	}
	if d, err := url.QueryUnescape(t); err == nil && json.Valid([]byte(d)) {
		return d
	}
	return doc
}

// CanonicalPolicyDocument returns the canonical JSON of a policy document
// (see above), or an error when it is not JSON.
func CanonicalPolicyDocument(doc string) (string, error) {
	dec := json.NewDecoder(strings.NewReader(DecodePolicyDocument(doc)))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return "", err
	}
	// One document only: text after it makes the whole thing invalid (IAM
	// refuses it), not equal to its first part.
	if _, err := dec.Token(); err != io.EOF {
		return "", errors.New("invalid policy document: data after the JSON value")
	}
	if m, ok := v.(map[string]any); ok {
		canonicalPolicy(m)
	}
	return encodeJSON(v), nil
}

// EqualPolicyDocuments reports whether two policy documents mean the same
// to IAM. Documents that are not JSON are compared as trimmed text.
func EqualPolicyDocuments(a, b string) bool {
	ca, errA := CanonicalPolicyDocument(a)
	cb, errB := CanonicalPolicyDocument(b)
	if errA != nil || errB != nil {
		return strings.TrimSpace(DecodePolicyDocument(a)) == strings.TrimSpace(DecodePolicyDocument(b))
	}
	return ca == cb
}

func canonicalPolicy(doc map[string]any) {
	st, ok := doc["Statement"]
	if !ok {
		return
	}
	list, isList := st.([]any)
	if !isList {
		list = []any{st}
	}
	keyed := make([]string, 0, len(list))
	byKey := map[string]any{}
	for _, s := range list {
		if m, ok := s.(map[string]any); ok {
			canonicalStatement(m)
		}
		c := encodeJSON(s)
		keyed = append(keyed, c)
		byKey[c] = s
	}
	sort.Strings(keyed)
	out := make([]any, 0, len(keyed))
	for _, c := range keyed {
		out = append(out, byKey[c])
	}
	doc["Statement"] = out
}

func canonicalStatement(s map[string]any) {
	for _, name := range []string{"Action", "NotAction"} {
		if v, ok := s[name]; ok {
			s[name] = stringSet(v, true)
		}
	}
	for _, name := range []string{"Resource", "NotResource"} {
		if v, ok := s[name]; ok {
			s[name] = stringSet(v, false)
		}
	}
	for _, name := range []string{"Principal", "NotPrincipal"} {
		v, ok := s[name]
		if !ok {
			continue
		}
		if m, isMap := v.(map[string]any); isMap {
			p := map[string]any{}
			for pk, pv := range m {
				p[pk] = stringSet(pv, false)
			}
			v = p
		}
		s[name] = v
	}
	if v, ok := s["Condition"]; ok {
		if ops, isMap := v.(map[string]any); isMap {
			c := map[string]any{}
			for op, keys := range ops {
				km, isMap := keys.(map[string]any)
				if !isMap {
					c[op] = keys
					continue
				}
				ck := map[string]any{}
				for key, vals := range km {
					ck[strings.ToLower(key)] = stringSet(vals, false)
				}
				c[op] = ck
			}
			v = c
		}
		s["Condition"] = v
	}
}

// stringSet turns a string or a list of scalars into a sorted list without
// duplicates; lower folds case (action names).
func stringSet(v any, lower bool) any {
	var items []any
	switch t := v.(type) {
	case []any:
		items = t
	case map[string]any:
		return v
	default:
		items = []any{t}
	}
	seen := map[string]bool{}
	out := make([]string, 0, len(items))
	for _, it := range items {
		var s string
		switch x := it.(type) {
		case string:
			s = x
		case json.Number:
			s = x.String()
		case bool:
			s = "false"
			if x {
				s = "true"
			}
		default:
			return v // not a list of scalars: leave it to the text comparison
		}
		if lower {
			s = strings.ToLower(s)
		}
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	sort.Strings(out)
	res := make([]any, len(out))
	for i, s := range out {
		res[i] = s
	}
	return res
}

// encodeJSON writes v with sorted keys and no HTML escaping.
func encodeJSON(v any) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
	return strings.TrimSpace(b.String())
}
