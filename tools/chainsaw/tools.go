//go:build tools

// Package tools pins the chainsaw e2e test runner (github.com/kyverno/chainsaw).
// Build it with `go build github.com/kyverno/chainsaw` from this directory;
// pkg/localcluster's EnsureChainsaw and `make e2e` do that into trellis's
// cache directory.
package tools

import _ "github.com/kyverno/chainsaw"
