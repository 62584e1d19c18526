// Package version carries trellis's version, set at build time with
// -ldflags "-X github.com/trellis-dev/trellis/pkg/version.Version=v1.2.3".
package version

import "strings"

// Version of this build.
var Version = "v0.1.0-dev"

// Label is Version in a form valid as a label value ("+" is not allowed).
func Label() string {
	return strings.ReplaceAll(Version, "+", "-")
}
