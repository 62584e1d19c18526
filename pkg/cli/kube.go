package cli

import (
	"fmt"

	extv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/trellis-dev/trellis/api/v1alpha1"
	"github.com/trellis-dev/trellis/pkg/graph/resolver"
)

// Cluster bundles the clients the cluster-facing commands use.
type Cluster struct {
	Config    *rest.Config
	Dynamic   dynamic.Interface
	Client    client.Client
	Discovery discovery.DiscoveryInterface
	Resolver  *resolver.Live
	// Namespace is the kubeconfig context's namespace ("default" if unset).
	Namespace string
}

// Connect builds clients from a kubeconfig path (empty: $KUBECONFIG, then
// ~/.kube/config, then in-cluster) and an optional context name.
func Connect(kubeconfig, context string) (*Cluster, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if kubeconfig != "" {
		rules.ExplicitPath = kubeconfig
	}
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: context})
	cfg, err := cc.ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	ns, _, err := cc.Namespace()
	if err != nil || ns == "" {
		ns = "default"
	}
	c, err := ConnectConfig(cfg)
	if err != nil {
		return nil, err
	}
	c.Namespace = ns
	return c, nil
}

// ConnectConfig builds clients from a rest.Config.
func ConnectConfig(cfg *rest.Config) (*Cluster, error) {
	cfg = rest.CopyConfig(cfg)
	if cfg.QPS == 0 {
		cfg.QPS, cfg.Burst = 50, 100
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, err
	}
	scheme := runtime.NewScheme()
	_ = extv1.AddToScheme(scheme)
	_ = v1alpha1.AddToScheme(scheme)
	cl, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, err
	}
	return &Cluster{Config: cfg, Dynamic: dyn, Client: cl, Discovery: dc, Resolver: resolver.NewLive(dc, cl), Namespace: "default"}, nil
}
