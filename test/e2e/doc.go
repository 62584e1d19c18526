// Package e2e holds the chainsaw end-to-end runner (build tag e2e, see
// e2e_test.go and `make e2e`) and kro's e2e cases in kro/.
package e2e
