package cel

// Segment is one piece of a string field: either literal text or a CEL
// expression (without the surrounding ${ }).
type Segment struct {
	Text   string
	IsExpr bool
}

// ParseTemplate splits s into literal and ${expr} segments.
func ParseTemplate(s string) ([]Segment, error) { return nil, nil }

// Standalone reports whether s is exactly one ${expr} and returns the expr.
func Standalone(s string) (expr string, ok bool, err error) { return "", false, nil }

// HasExpression reports whether s contains at least one ${...}.
func HasExpression(s string) bool { return false }
