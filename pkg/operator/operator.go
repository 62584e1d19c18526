// Package operator wires trellis's controllers into a controller-runtime
// manager. cmd/trellis owns process concerns (flags for the manager, leader
// election, probes); this package owns what runs inside.
package operator

import (
	"github.com/spf13/pflag"
	ctrl "sigs.k8s.io/controller-runtime"
)

// Options configures the RGD and instance controllers.
type Options struct {
	// InstanceWorkers is the number of parallel instance reconcilers.
	InstanceWorkers int
	// AllowCRDDeletion deletes an RGD's generated CRD when the RGD is deleted.
	AllowCRDDeletion bool
}

// BindFlags registers the controllers' flags on fs.
func (o *Options) BindFlags(fs *pflag.FlagSet) {
	fs.IntVar(&o.InstanceWorkers, "dynamic-controller-concurrent-reconciles", 8, "parallel instance reconcilers")
	fs.BoolVar(&o.AllowCRDDeletion, "allow-crd-deletion", false, "delete the generated CRD when its ResourceGraphDefinition is deleted")
}

// Setup registers every trellis controller with mgr.
// TODO(core engine): the RGD and instance controllers are registered here.
func Setup(mgr ctrl.Manager, opts Options) error {
	return nil
}
