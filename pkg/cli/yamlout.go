package cli

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// keyRank orders the well-known keys of Kubernetes objects the way kubectl
// users read them; other keys follow alphabetically.
var keyRank = map[string]int{
	"apiVersion": 0, "kind": 1, "metadata": 2, "spec": 3, "data": 4, "stringData": 5, "status": 9,
	"name": 0, "generateName": 1, "namespace": 2, "labels": 3, "annotations": 4,
}

func sortedKeys(m map[string]any, top bool) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		ri, iok := keyRank[keys[i]]
		rj, jok := keyRank[keys[j]]
		if top || (iok && jok && keys[i] != "data" && keys[j] != "data") {
			switch {
			case iok && jok:
				if ri != rj {
					return ri < rj
				}
			case iok:
				return true
			case jok:
				return false
			}
		}
		return keys[i] < keys[j]
	})
	return keys
}

// toNode converts a JSON-like value to a YAML node. comments maps field
// paths (as in runtime.Unresolved) to line comments.
func toNode(v any, path string, comments map[string]string, top bool) *yaml.Node {
	var n *yaml.Node
	switch x := v.(type) {
	case map[string]any:
		n = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		meta := path == "metadata"
		for _, k := range sortedKeys(x, top || meta) {
			p := k
			if path != "" {
				p = path + "." + k
			}
			key := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: k}
			n.Content = append(n.Content, key, toNode(x[k], p, comments, false))
		}
		if len(x) == 0 {
			n.Style = yaml.FlowStyle
		}
	case []any:
		n = &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
		for i, c := range x {
			n.Content = append(n.Content, toNode(c, fmt.Sprintf("%s[%d]", path, i), comments, false))
		}
		if len(x) == 0 {
			n.Style = yaml.FlowStyle
		}
	default:
		n = &yaml.Node{}
		if err := n.Encode(v); err != nil {
			n = &yaml.Node{Kind: yaml.ScalarNode, Value: fmt.Sprint(v)}
		}
		if s, ok := v.(string); ok && strings.Contains(s, "\n") {
			n.Style = yaml.LiteralStyle
		}
	}
	if c, ok := comments[path]; ok {
		n.LineComment = c
	}
	return n
}

// marshalObject renders an object as YAML with kubectl-like key order.
func marshalObject(obj map[string]any, comments map[string]string, head string) (string, error) {
	root := toNode(obj, "", comments, true)
	root.HeadComment = head
	doc := &yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{root}}
	var b strings.Builder
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return "", err
	}
	_ = enc.Close()
	return b.String(), nil
}

// setPath puts v at a field path (dots and [i]) in obj, creating what is
// missing on the way; it shows unresolved template strings in place.
func setPath(obj map[string]any, path string, v any) {
	setIn(obj, splitPath(path), v)
}

// setKeys is setPath with the path's exact keys, when known (keys may
// contain dots).
func setKeys(obj map[string]any, path string, keys []any, v any) {
	if len(keys) == 0 {
		setPath(obj, path, v)
		return
	}
	segs := make([]pathSeg, len(keys))
	for i, k := range keys {
		switch k := k.(type) {
		case int:
			segs[i] = pathSeg{index: k}
		default:
			segs[i] = pathSeg{key: fmt.Sprint(k), index: -1}
		}
	}
	setIn(obj, segs, v)
}

func setIn(cur any, segs []pathSeg, v any) any {
	if len(segs) == 0 {
		return v
	}
	s := segs[0]
	if s.index >= 0 {
		l, _ := cur.([]any)
		switch {
		case len(segs) == 1:
			idx := s.index
			if idx > len(l) {
				idx = len(l)
			}
			l = append(l[:idx], append([]any{v}, l[idx:]...)...)
		case s.index < len(l):
			l[s.index] = setIn(l[s.index], segs[1:], v)
		default:
			l = append(l, setIn(nil, segs[1:], v))
		}
		return l
	}
	m, ok := cur.(map[string]any)
	if !ok {
		m = map[string]any{}
	}
	m[s.key] = setIn(m[s.key], segs[1:], v)
	return m
}

type pathSeg struct {
	key   string
	index int // -1 for keys
}

// splitPath splits "a.b[2].c" into a, b, [2], c.
func splitPath(p string) []pathSeg {
	var out []pathSeg
	for _, part := range strings.Split(p, ".") {
		for part != "" {
			i := strings.Index(part, "[")
			if i < 0 {
				out = append(out, pathSeg{key: part, index: -1})
				break
			}
			if i > 0 {
				out = append(out, pathSeg{key: part[:i], index: -1})
			}
			j := strings.Index(part, "]")
			if j < i {
				break
			}
			n, _ := strconv.Atoi(part[i+1 : j])
			out = append(out, pathSeg{index: n})
			part = part[j+1:]
		}
	}
	return out
}
