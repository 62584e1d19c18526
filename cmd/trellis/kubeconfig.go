package main

import (
	"fmt"
	"os"
)

// clusterKubeconfig is the kubeconfig a command that talks to a cluster uses:
// the one given; else, unless $KUBECONFIG is set, a context is named or the
// process runs in a pod, the kubeconfig of a running `trellis up` (which
// removes it on exit), as `trellis kubectl` does, saying so on stderr; else ""
// (client-go's defaults: in-cluster config, ~/.kube/config).
func clusterKubeconfig(explicit, context string) string {
	if explicit != "" || context != "" || os.Getenv("KUBECONFIG") != "" || os.Getenv("KUBERNETES_SERVICE_HOST") != "" {
		return explicit
	}
	path := defaultKubeconfigPath()
	if _, err := os.Stat(path); err != nil {
		return ""
	}
	fmt.Fprintf(os.Stderr, "trellis: using the cluster of `trellis up` (kubeconfig %s; --kubeconfig or $KUBECONFIG for another)\n", path)
	return path
}
