package instance

import (
	"encoding/base64"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// matches reports whether the live object already has every field trellis
// would apply. Secrets are special: the server folds stringData into data
// (base64) and never stores stringData.
func matches(live, desired *unstructured.Unstructured) bool {
	d := desired.Object
	if sd, ok := d["stringData"].(map[string]any); ok && desired.GetKind() == "Secret" && desired.GetAPIVersion() == "v1" {
		d = make(map[string]any, len(desired.Object))
		for k, v := range desired.Object {
			d[k] = v
		}
		delete(d, "stringData")
		data := map[string]any{}
		if existing, ok := desired.Object["data"].(map[string]any); ok {
			for k, v := range existing {
				data[k] = v
			}
		}
		for k, v := range sd {
			if s, ok := v.(string); ok {
				data[k] = base64.StdEncoding.EncodeToString([]byte(s))
			}
		}
		d["data"] = data
	}
	return contains(live.Object, d)
}

// contains reports whether every field of desired has the same value in
// live. Fields only the server sets (defaults, status) are ignored, so an
// unchanged child is recognised without a request, and a child edited by
// someone else (drift) is not.
func contains(live, desired any) bool {
	switch d := desired.(type) {
	case map[string]any:
		l, ok := live.(map[string]any)
		if !ok {
			return false
		}
		for k, dv := range d {
			lv, ok := l[k]
			if !ok {
				if isEmpty(dv) {
					continue // the server drops empty values
				}
				return false
			}
			if !contains(lv, dv) {
				return false
			}
		}
		return true
	case []any:
		l, ok := live.([]any)
		if !ok || len(l) != len(d) {
			return false
		}
		for i := range d {
			if !contains(l[i], d[i]) {
				return false
			}
		}
		return true
	default:
		if n, ok := number(desired); ok {
			m, ok := number(live)
			return ok && n == m
		}
		return equality.Semantic.DeepEqual(live, desired)
	}
}

func isEmpty(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case map[string]any:
		return len(x) == 0
	case []any:
		return len(x) == 0
	}
	return false
}

func number(v any) (float64, bool) {
	switch x := v.(type) {
	case int64:
		return float64(x), true
	case int:
		return float64(x), true
	case int32:
		return float64(x), true
	case float64:
		return x, true
	}
	return 0, false
}
