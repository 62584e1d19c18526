package simpleschema

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// FuzzToOpenAPI feeds arbitrary SimpleSchema documents (a YAML map with
// spec: and types:, as in testdata/*.yaml) to ToOpenAPI. Invariants: no
// panic; a rejection is a *FieldError naming a field under spec or types;
// an accepted schema converts the same way twice.
func FuzzToOpenAPI(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.yaml")
	for _, file := range files {
		if raw, err := os.ReadFile(file); err == nil {
			f.Add(string(raw))
		}
	}
	f.Fuzz(func(t *testing.T, doc string) {
		var in struct {
			Spec  map[string]any `json:"spec"`
			Types map[string]any `json:"types"`
		}
		if yaml.Unmarshal([]byte(doc), &in) != nil {
			return
		}
		got, err := ToOpenAPI(in.Spec, in.Types)
		if err != nil {
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("error is not a *FieldError: %T %v", err, err)
			}
			if !strings.HasPrefix(fe.Path, RootPath) && !strings.HasPrefix(fe.Path, "types") {
				t.Fatalf("error names no field under spec or types: %q", err)
			}
			return
		}
		again, err := ToOpenAPI(in.Spec, in.Types)
		if err != nil {
			t.Fatalf("second conversion failed: %v", err)
		}
		if !reflect.DeepEqual(got, again) {
			t.Fatal("conversion is not deterministic")
		}
	})
}
