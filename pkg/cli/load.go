// Package cli implements trellis's commands for RGD authors: validate,
// render, crd, graph and diff. cmd/trellis wires them to cobra; everything
// here writes to the io.Writers it is given so it can be tested with golden
// files.
package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/trellis-dev/trellis/api/v1alpha1"
)

// Document is one YAML document of an input file, with its node tree kept
// for error positions.
type Document struct {
	// File is the name shown in messages ("<stdin>" for -f -).
	File string
	// Index is the 0-based position of the document in its file.
	Index int
	// Root is the document's top-level node (a mapping for objects).
	Root *yaml.Node
	// Object is the decoded document (JSON-compatible values).
	Object map[string]any
}

// Kind returns the document's kind.
func (d *Document) Kind() string { s, _ := d.Object["kind"].(string); return s }

// Name returns metadata.name.
func (d *Document) Name() string {
	return (&unstructured.Unstructured{Object: d.Object}).GetName()
}

// Unstructured wraps the object.
func (d *Document) Unstructured() *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: d.Object}
}

// IsRGD tells whether the document is a ResourceGraphDefinition.
func (d *Document) IsRGD() bool {
	return d.Kind() == "ResourceGraphDefinition" && strings.HasPrefix(fmt.Sprint(d.Object["apiVersion"]), v1alpha1.GroupVersion.Group+"/")
}

// RGD decodes the document as a ResourceGraphDefinition.
func (d *Document) RGD() (*v1alpha1.ResourceGraphDefinition, error) {
	raw, err := utiljson.Marshal(d.Object)
	if err != nil {
		return nil, err
	}
	rgd := &v1alpha1.ResourceGraphDefinition{}
	if err := utiljson.Unmarshal(raw, rgd); err != nil {
		return nil, err
	}
	return rgd, nil
}

// SyntaxErrors are the YAML syntax errors of the input files, each as a
// positioned diagnostic.
type SyntaxErrors []Diagnostic

func (e SyntaxErrors) Error() string {
	lines := make([]string, len(e))
	for i, d := range e {
		lines[i] = d.String()
	}
	return strings.Join(lines, "\n")
}

// ReadFiles reads every document of the given files; "-" reads stdin.
// Directories are read recursively (*.yaml, *.yml, *.json). A file with a
// YAML syntax error does not stop the others: the documents read are
// returned with a SyntaxErrors error.
func ReadFiles(paths []string, stdin io.Reader) ([]*Document, error) {
	var out []*Document
	var syntax SyntaxErrors
	parse := func(file string, raw []byte) error {
		docs, err := ParseDocuments(file, raw)
		var se SyntaxErrors
		if errors.As(err, &se) {
			syntax = append(syntax, se...)
		} else if err != nil {
			return err
		}
		out = append(out, docs...)
		return nil
	}
	for _, p := range paths {
		if p == "-" {
			raw, err := io.ReadAll(stdin)
			if err != nil {
				return nil, fmt.Errorf("reading stdin: %w", err)
			}
			if err := parse("<stdin>", raw); err != nil {
				return nil, err
			}
			continue
		}
		files, err := expand(p)
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			raw, err := os.ReadFile(f)
			if err != nil {
				return nil, err
			}
			if err := parse(f, raw); err != nil {
				return nil, err
			}
		}
	}
	if len(syntax) > 0 {
		return out, syntax
	}
	return out, nil
}

// yamlLine matches the position go-yaml puts in its syntax errors.
var yamlLine = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

// syntaxError turns a go-yaml error into a file:line:column diagnostic.
// go-yaml names the line only; the column is that of the line's first
// non-blank character.
func syntaxError(file string, raw []byte, err error) SyntaxErrors {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	pos := Position{File: file}
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		pos.Line, _ = strconv.Atoi(m[1])
		msg = m[2]
		pos.Col = 1
		lines := strings.Split(string(raw), "\n")
		if pos.Line >= 1 && pos.Line <= len(lines) {
			l := lines[pos.Line-1]
			pos.Col = len(l) - len(strings.TrimLeft(l, " \t")) + 1
		}
	}
	return SyntaxErrors{{Pos: pos, Msg: "YAML syntax error: " + msg}}
}

func expand(p string) ([]string, error) {
	st, err := os.Stat(p)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return []string{p}, nil
	}
	var files []string
	err = filepath.WalkDir(p, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		switch strings.ToLower(filepath.Ext(path)) {
		case ".yaml", ".yml", ".json":
			if !d.IsDir() {
				files = append(files, path)
			}
		}
		return nil
	})
	sort.Strings(files)
	return files, err
}

// ParseDocuments splits a YAML stream into documents. Empty documents are
// skipped. A syntax error ends the file: the documents before it are
// returned with a SyntaxErrors error (file:line:column: message).
func ParseDocuments(file string, raw []byte) ([]*Document, error) {
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	var out []*Document
	for i := 0; ; i++ {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return out, syntaxError(file, raw, err)
		}
		if len(n.Content) == 0 {
			continue
		}
		root := n.Content[0]
		if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
			continue
		}
		if root.Kind != yaml.MappingNode {
			return nil, fmt.Errorf("%s:%d:%d: expected an object, got %s", file, root.Line, root.Column, kindName(root))
		}
		// Decode with sigs.k8s.io/yaml so values are what kubectl sends.
		enc, err := yaml.Marshal(root)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %v", file, root.Line, err)
		}
		js, err := sigsyaml.YAMLToJSON(enc)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %v", file, root.Line, err)
		}
		var obj map[string]any
		if err := utiljson.Unmarshal(js, &obj); err != nil {
			return nil, fmt.Errorf("%s:%d: %v", file, root.Line, err)
		}
		out = append(out, &Document{File: file, Index: i, Root: root, Object: obj})
	}
	return out, nil
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return "a scalar"
	}
	return "something else"
}

// Position is a place in a file, 1-based.
type Position struct {
	File      string
	Line, Col int
}

func (p Position) String() string {
	if p.Line == 0 {
		return p.File
	}
	return p.File + ":" + strconv.Itoa(p.Line) + ":" + strconv.Itoa(p.Col)
}

// Locate finds the node at path below from (a dotted field path with [i]
// list indices; keys may themselves contain dots, the longest matching key
// wins). It returns the deepest node reached, the key node of the last
// mapping entry matched (nil when the path ends in a list index or at from),
// and whether the whole path was found.
func Locate(from *yaml.Node, path string) (node, key *yaml.Node, complete bool) {
	node = from
	rest := path
	for rest != "" {
		rest = strings.TrimPrefix(rest, ".")
		if node.Kind == yaml.AliasNode && node.Alias != nil {
			node = node.Alias
		}
		switch {
		case strings.HasPrefix(rest, "["):
			end := strings.Index(rest, "]")
			if end < 0 || node.Kind != yaml.SequenceNode {
				return node, key, false
			}
			i, err := strconv.Atoi(rest[1:end])
			if err != nil || i < 0 || i >= len(node.Content) {
				return node, key, false
			}
			node, key = node.Content[i], nil
			rest = rest[end+1:]
		case node.Kind == yaml.MappingNode:
			best := -1
			for i := 0; i+1 < len(node.Content); i += 2 {
				k := node.Content[i].Value
				if rest == k || strings.HasPrefix(rest, k+".") || strings.HasPrefix(rest, k+"[") {
					if best < 0 || len(k) > len(node.Content[best].Value) {
						best = i
					}
				}
			}
			if best < 0 {
				return node, key, false
			}
			key, node = node.Content[best], node.Content[best+1]
			rest = rest[len(key.Value):]
		default:
			return node, key, false
		}
	}
	return node, key, true
}

// resourceNode returns the spec.resources entry with the given id.
func resourceNode(root *yaml.Node, id string) (*yaml.Node, int) {
	list, _, ok := Locate(root, "spec.resources")
	if !ok || list.Kind != yaml.SequenceNode {
		return nil, -1
	}
	for i, item := range list.Content {
		if n, _, ok := Locate(item, "id"); ok && n.Value == id {
			return item, i
		}
	}
	return nil, -1
}
