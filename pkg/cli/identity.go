package cli

import (
	"context"
	"errors"

	"github.com/trellis-dev/trellis/pkg/identity"
)

// IdentityCheck is `validate --as`: the controller's permission check of an
// RGD's identity, run against a cluster.
type IdentityCheck struct {
	As identity.Ref
	// Namespace stands for {instance-namespace} in As.
	Namespace string
	Access    *identity.Reviewer
}

// check returns a diagnostic when the identity lacks a permission the
// RGD's graph needs, as the controller would refuse it (GraphAccepted=False,
// reason Forbidden) or, for {instance-namespace}, its instances in
// Namespace.
func (ic *IdentityCheck) check(ctx context.Context, r *Checked) (*Diagnostic, error) {
	id, ns := ic.As, ""
	if id.PerInstance() {
		id, ns = id.In(ic.Namespace), ic.Namespace
	}
	err := ic.Access.Check(ctx, id, identity.Needs(r.Graph, ns, false))
	var denied *identity.ForbiddenError
	if errors.As(err, &denied) {
		return &Diagnostic{Pos: docPos(r.Doc), Path: "resources[" + denied.Need.ID + "]", Msg: "Forbidden: " + err.Error()}, nil
	}
	return nil, err
}
