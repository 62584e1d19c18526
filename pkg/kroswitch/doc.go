// Package kroswitch holds the tests of switching a running kro installation
// over to trellis (and back): kro v0.9.4 (localcluster.KroVersion, built
// from the Go module proxy into trellis's cache) is the real peer, run out
// of cluster against a real local control plane. See the README section
// "Switching from kro".
package kroswitch
