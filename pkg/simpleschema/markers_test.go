package simpleschema

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseField(t *testing.T) {
	tests := []struct {
		in      string
		typ     string
		markers []Marker
	}{
		{"string", "string", nil},
		{"  integer  ", "integer", nil},
		{"string |", "string", nil},
		{"string | required=true", "string", []Marker{{"required", "true"}}},
		{"string|required=true   default=x", "string", []Marker{{"required", "true"}, {"default", "x"}}},
		{`string | description="a b c" pattern="^a|b$"`, "string", []Marker{{"description", "a b c"}, {"pattern", "^a|b$"}}},
		{`string | default="say \"hi\"" description="back\\slash"`, "string", []Marker{{"default", `say "hi"`}, {"description", `back\slash`}}},
		{`string | pattern="^\d+\.\w$"`, "string", []Marker{{"pattern", `^\d+\.\w$`}}},
		{`string | default=""`, "string", []Marker{{"default", ""}}},
		{`string | default=`, "string", []Marker{{"default", ""}}},
		{`[]integer | default=[1, 2, [3]] minItems=1`, "[]integer", []Marker{{"default", "[1, 2, [3]]"}, {"minItems", "1"}}},
		{`map[string]string | default={"a": "}]", "b": {"c": "\"{"}} description=x`, "map[string]string",
			[]Marker{{"default", `{"a": "}]", "b": {"c": "\"{"}}`}, {"description", "x"}}},
		{`string | validation="self.size() > 0 && self != 'a b'"`, "string", []Marker{{"validation", "self.size() > 0 && self != 'a b'"}}},
		{`string | description=x=y`, "string", []Marker{{"description", "x=y"}}},
		{"string | \trequired=true\n default=a", "string", []Marker{{"required", "true"}, {"default", "a"}}},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			typ, markers, err := ParseField(tc.in)
			if err != nil {
				t.Fatalf("ParseField: %v", err)
			}
			if typ != tc.typ {
				t.Errorf("type = %q, want %q", typ, tc.typ)
			}
			if !reflect.DeepEqual(markers, tc.markers) {
				t.Errorf("markers = %#v, want %#v", markers, tc.markers)
			}
		})
	}
}

func TestParseFieldErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "missing type"},
		{" | required=true", "missing type"},
		{"map[string] string", "cannot contain whitespace"},
		{"string | required", `marker "required" has no value`},
		{"string | =true", "marker without a name"},
		{`string | description="abc`, "unterminated quoted value"},
		{`string | description="abc\"`, "unterminated quoted value"},
		{`string | default=[1, 2`, "unbalanced brackets"},
		{`string | default=[1}`, "mismatched"},
		{`string | default={"a": "]"`, "unbalanced brackets"},
		{`string | default=[1]x`, "unexpected"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			_, _, err := ParseField(tc.in)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}
