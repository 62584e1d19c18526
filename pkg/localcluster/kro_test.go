package localcluster

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The version in cache directory names and messages is the one tools/kro builds.
func TestKroVersionIsPinned(t *testing.T) {
	src, err := SourceDir()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(src, "tools", "kro", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	if want := kroModule + " " + KroVersion; !strings.Contains(string(b), want) {
		t.Fatalf("tools/kro/go.mod does not require %s", want)
	}
}
