// Package ack runs trellis's ACK-compatible controllers.
package ack

import (
	"github.com/spf13/pflag"
	ctrl "sigs.k8s.io/controller-runtime"
)

// Options configures the ACK-compatible controllers.
type Options struct {
	// Services lists the enabled services ("all", "none", or e.g. "s3,dynamodb").
	Services string
}

// BindFlags registers the ACK flags on fs.
func (o *Options) BindFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Services, "ack-services", "all", "ACK-compatible services to run: all, none, or a comma-separated list")
}

// Setup registers the enabled ACK services with mgr.
func Setup(mgr ctrl.Manager, opts Options) error {
	return nil
}
