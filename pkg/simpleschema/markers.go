package simpleschema

import (
	"fmt"
	"strings"
)

// Marker names accepted after the "|" of a field definition. Spelling is exact
// (case-sensitive), matching kro.
const (
	MarkerRequired    = "required"
	MarkerDefault     = "default"
	MarkerDescription = "description"
	MarkerMinimum     = "minimum"
	MarkerMaximum     = "maximum"
	MarkerEnum        = "enum"
	MarkerImmutable   = "immutable"
	MarkerValidation  = "validation"
	MarkerPattern     = "pattern"
	MarkerMinLength   = "minLength"
	MarkerMaxLength   = "maxLength"
	MarkerUniqueItems = "uniqueItems"
	MarkerMinItems    = "minItems"
	MarkerMaxItems    = "maxItems"
	MarkerListType    = "listType"
	MarkerListMapKey  = "listMapKey"
)

// Marker is one `name=value` pair of a field definition, value unquoted.
type Marker struct {
	Name  string
	Value string
}

// ParseField splits a SimpleSchema field definition such as
// `string | required=true default="a b"` into its type expression and markers.
// Only the first "|" separates the type, so marker values may contain "|".
func ParseField(def string) (typ string, markers []Marker, err error) {
	typePart, markerPart, hasMarkers := strings.Cut(def, "|")
	typ = strings.TrimSpace(typePart)
	if typ == "" {
		return "", nil, fmt.Errorf("missing type in %q", def)
	}
	if strings.ContainsAny(typ, " \t\n\r") {
		return "", nil, fmt.Errorf("invalid type %q: types cannot contain whitespace (markers go after \"|\")", typ)
	}
	if !hasMarkers {
		return typ, nil, nil
	}
	markers, err = ParseMarkers(markerPart)
	if err != nil {
		return "", nil, err
	}
	return typ, markers, nil
}

// ParseMarkers parses space-separated `name=value` markers. A value is either
// a double-quoted string (with \" and \\ escapes), a JSON array/object whose
// brackets are balanced (brackets inside JSON strings do not count), or a bare
// word running up to the next whitespace.
func ParseMarkers(s string) ([]Marker, error) {
	var out []Marker
	i, n := 0, len(s)
	for {
		for i < n && isSpace(s[i]) {
			i++
		}
		if i >= n {
			return out, nil
		}
		start := i
		for i < n && s[i] != '=' && !isSpace(s[i]) {
			i++
		}
		name := s[start:i]
		if i >= n || s[i] != '=' {
			return nil, fmt.Errorf("marker %q has no value (expected %s=<value>)", name, name)
		}
		if name == "" {
			return nil, fmt.Errorf("marker without a name at offset %d", start)
		}
		i++ // skip '='
		var value string
		var err error
		switch {
		case i < n && s[i] == '"':
			value, i, err = readQuoted(s, i)
		case i < n && (s[i] == '[' || s[i] == '{'):
			value, i, err = readBracketed(s, i)
		default:
			vs := i
			for i < n && !isSpace(s[i]) {
				i++
			}
			value = s[vs:i]
		}
		if err != nil {
			return nil, fmt.Errorf("marker %q: %w", name, err)
		}
		if i < n && !isSpace(s[i]) {
			return nil, fmt.Errorf("marker %q: unexpected %q after value", name, s[i:])
		}
		out = append(out, Marker{Name: name, Value: value})
	}
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// readQuoted reads a double-quoted value starting at s[i] == '"'. Only \" and
// \\ are escapes; any other backslash is kept so regexes like "\d+" survive.
func readQuoted(s string, i int) (string, int, error) {
	var b strings.Builder
	i++ // opening quote
	for i < len(s) {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s) && (s[i+1] == '"' || s[i+1] == '\\'):
			b.WriteByte(s[i+1])
			i += 2
		case c == '"':
			return b.String(), i + 1, nil
		default:
			b.WriteByte(c)
			i++
		}
	}
	return "", i, fmt.Errorf("unterminated quoted value")
}

// readBracketed reads a JSON array/object value starting at s[i], tracking
// nesting and skipping over JSON strings so brackets inside them are ignored.
func readBracketed(s string, i int) (string, int, error) {
	start := i
	var stack []byte
	inString := false
	for i < len(s) {
		c := s[i]
		if inString {
			switch c {
			case '\\':
				i++ // skip escaped char
			case '"':
				inString = false
			}
			i++
			continue
		}
		switch c {
		case '"':
			inString = true
		case '[':
			stack = append(stack, ']')
		case '{':
			stack = append(stack, '}')
		case ']', '}':
			if len(stack) == 0 || stack[len(stack)-1] != c {
				return "", i, fmt.Errorf("mismatched %q in %q", c, s[start:])
			}
			stack = stack[:len(stack)-1]
			if len(stack) == 0 {
				return s[start : i+1], i + 1, nil
			}
		}
		i++
	}
	return "", i, fmt.Errorf("unbalanced brackets in %q", s[start:])
}
