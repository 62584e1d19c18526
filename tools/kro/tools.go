//go:build tools

// Package tools pins kro (github.com/kubernetes-sigs/kro), the controller
// trellis replaces, so that the switch from a running kro to trellis (and
// back) is tested against the real thing. Build its controller with
// `go build github.com/kubernetes-sigs/kro/cmd/controller` from this
// directory; pkg/localcluster's EnsureKro does that into trellis's cache.
package tools

import _ "github.com/kubernetes-sigs/kro/cmd/controller"
