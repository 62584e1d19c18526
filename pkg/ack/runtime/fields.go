package runtime

import (
	"fmt"
	"reflect"
	"sort"
	"strings"
)

// UnknownFields returns the paths (e.g. "spec.timeToLive") of the fields set
// in the unstructured value v that the Go type t does not declare, or
// declares as unimplemented (struct tag ack:"unimplemented=…"). The CRDs keep
// the unimplemented fields of ACK's API, so that a manifest using one is
// reported instead of being silently ignored.
func UnknownFields(prefix string, v any, t reflect.Type) []string {
	var out []string
	unknownFields(prefix, v, t, &out)
	sort.Strings(out)
	return out
}

func unknownFields(path string, v any, t reflect.Type, out *[]string) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if v == nil {
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		m, ok := v.(map[string]any)
		if !ok {
			return
		}
		fields := map[string]reflect.Type{}
		collectFields(t, fields)
		for k, val := range m {
			ft, ok := fields[k]
			if !ok || ft == nil {
				*out = append(*out, path+"."+k)
				continue
			}
			unknownFields(path+"."+k, val, ft, out)
		}
	case reflect.Slice:
		l, ok := v.([]any)
		if !ok {
			return
		}
		for i, e := range l {
			unknownFields(fmt.Sprintf("%s[%d]", path, i), e, t.Elem(), out)
		}
	case reflect.Map:
		m, ok := v.(map[string]any)
		if !ok {
			return
		}
		for k, e := range m {
			unknownFields(path+"."+k, e, t.Elem(), out)
		}
	}
}

func collectFields(t reflect.Type, into map[string]reflect.Type) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		name, _, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		if name == "" && f.Anonymous {
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			collectFields(ft, into)
			continue
		}
		if name == "" {
			name = f.Name
		}
		if strings.Contains(f.Tag.Get("ack"), "unimplemented=") {
			into[name] = nil
			continue
		}
		into[name] = f.Type
	}
}
