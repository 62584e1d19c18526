// Package cel is trellis's CEL layer: ${...} template parsing, typed
// environments built from OpenAPI schemas, kro-compatible function
// libraries, evaluation against plain JSON-like Go values, and the type
// compatibility rules used when checking expressions against target fields.
//
// The package is pure: it never talks to an API server.
package cel
