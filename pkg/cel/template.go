package cel

import (
	"fmt"
	"strings"
)

// Segment is one piece of a string field: either literal text or a CEL
// expression (without the surrounding ${ }).
type Segment struct {
	Text   string
	IsExpr bool
}

// TemplateError describes a malformed ${...} template.
type TemplateError struct {
	Input  string
	Offset int // byte offset of the problem in Input
	Msg    string
}

func (e *TemplateError) Error() string {
	return fmt.Sprintf("invalid expression template at offset %d: %s", e.Offset, e.Msg)
}

// ParseTemplate splits s into literal and ${expr} segments, following kro:
//   - inside an expression, braces are counted to find the closing one,
//     except inside double-quoted string literals (single quotes are not
//     tracked);
//   - "${" inside an expression is only allowed directly after a double
//     quote, so ${"${VAR}"} yields the literal text ${VAR};
//   - an unterminated or empty ${ is an error.
//
// Adjacent literal text is merged; empty literals are dropped, so "" gives
// no segments.
func ParseTemplate(s string) ([]Segment, error) {
	var segs []Segment
	var lit strings.Builder
	i := 0
	for i < len(s) {
		if !(s[i] == '$' && i+1 < len(s) && s[i+1] == '{') {
			lit.WriteByte(s[i])
			i++
			continue
		}
		start := i + 2
		end, err := scanExpr(s, start)
		if err != nil {
			return nil, err
		}
		expr := s[start:end]
		if strings.TrimSpace(expr) == "" {
			return nil, &TemplateError{Input: s, Offset: i, Msg: "empty expression"}
		}
		if lit.Len() > 0 {
			segs = append(segs, Segment{Text: lit.String()})
			lit.Reset()
		}
		segs = append(segs, Segment{Text: expr, IsExpr: true})
		i = end + 1
	}
	if lit.Len() > 0 {
		segs = append(segs, Segment{Text: lit.String()})
	}
	return segs, nil
}

// scanExpr returns the index of the '}' closing the expression that starts
// at start.
func scanExpr(s string, start int) (int, error) {
	depth := 1
	inStr := false
	for j := start; j < len(s); j++ {
		c := s[j]
		if c == '$' && j+1 < len(s) && s[j+1] == '{' {
			if !inStr || s[j-1] != '"' {
				return 0, &TemplateError{Input: s, Offset: j, Msg: "nested expressions are not allowed (\"${\" inside an expression must directly follow a double quote)"}
			}
			j++ // the '{' is string content
			continue
		}
		if inStr {
			switch c {
			case '\\':
				j++ // skip the escaped character
			case '"':
				inStr = false
			}
			continue
		}
		switch c {
		case '"':
			inStr = true
		case '{':
			depth++
		case '}':
			depth--
			if depth == 0 {
				return j, nil
			}
		}
	}
	return 0, &TemplateError{Input: s, Offset: start - 2, Msg: "unterminated expression (missing closing \"}\")"}
}

// Standalone reports whether s is exactly one ${expr} (nothing around it)
// and returns the expression.
func Standalone(s string) (expr string, ok bool, err error) {
	if !strings.HasPrefix(s, "${") || !strings.HasSuffix(s, "}") {
		// Still validate, so callers see template errors uniformly.
		if _, err := ParseTemplate(s); err != nil {
			return "", false, err
		}
		return "", false, nil
	}
	segs, err := ParseTemplate(s)
	if err != nil {
		return "", false, err
	}
	if len(segs) == 1 && segs[0].IsExpr {
		return segs[0].Text, true, nil
	}
	return "", false, nil
}

// HasExpression reports whether s contains a "${" (and so must be parsed
// as a template).
func HasExpression(s string) bool { return strings.Contains(s, "${") }
