package rds

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	"k8s.io/apimachinery/pkg/runtime/schema"

	v1 "github.com/trellis-dev/trellis/api/ack/rds/v1alpha1"
	ackrt "github.com/trellis-dev/trellis/pkg/ack/runtime"
)

// Referenced kinds: dbSubnetGroupRef reads the DBSubnetGroup's spec.name,
// vpcSecurityGroupRefs the ec2 SecurityGroups' status.id.
var (
	DBSubnetGroupGVK = v1.GroupVersion.WithKind("DBSubnetGroup")
	SecurityGroupGVK = schema.GroupVersionKind{Group: "ec2.services.k8s.aws", Version: "v1alpha1", Kind: "SecurityGroup"}
)

// DB instance statuses the controller acts on (RDS publishes no enum).
const (
	StatusAvailable = "available"
	StatusDeleting  = "deleting"
)

// terminalStatuses never converge to available without outside help; ACK
// reports them as ACK.Terminal too.
var terminalStatuses = map[string]bool{
	"deleted": true, StatusDeleting: true, "failed": true,
	"incompatible-network": true, "incompatible-restore": true,
	"inaccessible-encryption-credentials": true, "inaccessible-encryption-credentials-recoverable": true,
}

// Deletion annotations of ACK's rds-controller.
const (
	// AnnotationSkipFinalSnapshot: "false" takes a final snapshot (default true: none).
	AnnotationSkipFinalSnapshot = "rds.services.k8s.aws/skip-final-snapshot"
	// AnnotationFinalSnapshotID names that snapshot; required when not skipping.
	AnnotationFinalSnapshotID = "rds.services.k8s.aws/final-db-snapshot-id"
	// AnnotationDeleteAutomatedBackups: "false" keeps automated backups (default true).
	AnnotationDeleteAutomatedBackups = "rds.services.k8s.aws/delete-automated-backups"
)

// DBInstanceManager implements runtime.Manager for DBInstance.
//
// ReadOne is one DescribeDBInstances call (it carries the tags). Updates
// are one ModifyDBInstance with ApplyImmediately, plus tag calls, and only
// while the instance is available; otherwise the resource is requeued.
type DBInstanceManager struct{}

var (
	_ ackrt.Manager[*v1.DBInstance]           = DBInstanceManager{}
	_ ackrt.ReferenceResolver[*v1.DBInstance] = DBInstanceManager{}
)

// Service implements runtime.Manager.
func (DBInstanceManager) Service() string { return "rds" }

// Kind implements runtime.Manager.
func (DBInstanceManager) Kind() string { return "DBInstance" }

// New implements runtime.Manager.
func (DBInstanceManager) New() *v1.DBInstance { return &v1.DBInstance{} }

// Classifier implements runtime.Manager, with ACK's codes.
func (DBInstanceManager) Classifier() ackrt.Classifier {
	return ackrt.Classifier{
		NotFoundCodes: []string{"DBInstanceNotFound", "DBInstanceNotFoundFault"},
		TerminalCodes: []string{"InvalidParameter", "InvalidParameterValue", "InvalidParameterCombination"},
	}
}

// AdoptionFields implements runtime.Manager: {"dbInstanceIdentifier": "..."}.
func (DBInstanceManager) AdoptionFields(d *v1.DBInstance, fields map[string]string) error {
	id := fields["dbInstanceIdentifier"]
	if id == "" {
		return errors.New(`"dbInstanceIdentifier" is required`)
	}
	d.Spec.DBInstanceIdentifier = &id
	return nil
}

// Validate implements runtime.Manager. The identifier cannot change once
// the instance exists: a new one would create a second instance and
// orphan the first.
func (DBInstanceManager) Validate(d *v1.DBInstance) error {
	id := aws.ToString(d.Spec.DBInstanceIdentifier)
	if id == "" {
		return ackrt.Terminal("spec.dbInstanceIdentifier is required")
	}
	if md := d.Status.ACKResourceMetadata; md != nil && md.ARN != nil {
		if a := string(*md.ARN); !strings.HasSuffix(strings.ToLower(a), ":db:"+strings.ToLower(id)) {
			return ackrt.Terminal("spec.dbInstanceIdentifier is immutable: this resource manages %s", a)
		}
	}
	if d.Spec.MasterUserPassword != nil && aws.ToBool(d.Spec.ManageMasterUserPassword) {
		return ackrt.Terminal("spec.masterUserPassword and spec.manageMasterUserPassword=true are mutually exclusive: set only one")
	}
	return nil
}

// ARN implements runtime.Manager: DBInstanceArn as described.
func (DBInstanceManager) ARN(_ ackrt.Env, d *v1.DBInstance) string {
	if md := d.Status.ACKResourceMetadata; md != nil && md.ARN != nil {
		return string(*md.ARN)
	}
	return ""
}

// ResolveReferences implements runtime.ReferenceResolver: dbSubnetGroupRef,
// vpcSecurityGroupRefs, and the masterUserPassword Secret key.
func (DBInstanceManager) ResolveReferences(ctx context.Context, refs *ackrt.Refs, d *v1.DBInstance) error {
	s := &d.Spec
	if err := ackrt.Exclusive("dbSubnetGroupName", s.DBSubnetGroupName != nil, "dbSubnetGroupRef", s.DBSubnetGroupRef != nil); err != nil {
		return err
	}
	if err := ackrt.Exclusive("vpcSecurityGroupIDs", len(s.VPCSecurityGroupIDs) > 0, "vpcSecurityGroupRefs", len(s.VPCSecurityGroupRefs) > 0); err != nil {
		return err
	}
	if s.DBSubnetGroupRef != nil {
		name, err := refs.Resolve(ctx, "dbSubnetGroupRef", s.DBSubnetGroupRef, DBSubnetGroupGVK, "spec", "name")
		if err != nil {
			return err
		}
		s.DBSubnetGroupName = &name
	}
	if len(s.VPCSecurityGroupRefs) > 0 {
		ids, err := refs.ResolveAll(ctx, "vpcSecurityGroupRefs", s.VPCSecurityGroupRefs, SecurityGroupGVK, "status", "id")
		if err != nil {
			return err
		}
		s.VPCSecurityGroupIDs = ptrs(ids)
	}
	if s.MasterUserPassword == nil {
		resolvedPasswords.Delete(d.UID)
		return nil
	}
	pw, err := refs.SecretValue(ctx, "masterUserPassword", s.MasterUserPassword)
	if err != nil {
		return err
	}
	d.MasterUserPasswordValue = &pw
	if d.UID != "" {
		resolvedPasswords.Store(d.UID, pw)
	}
	return nil
}

// resolvedPasswords keeps each DBInstance's Secret value (by UID) from
// ResolveReferences to the Create or Modify of the same loop: in between,
// the runtime decodes API-server answers into the object (the finalizer
// patch), which drops the in-memory field.
var resolvedPasswords sync.Map

// password is the resolved masterUserPassword of d, or nil.
func password(d *v1.DBInstance) *string {
	if d.MasterUserPasswordValue != nil {
		return d.MasterUserPasswordValue
	}
	if v, ok := resolvedPasswords.Load(d.UID); ok && d.UID != "" {
		s := v.(string)
		return &s
	}
	return nil
}

// ClearResolvedReferences implements runtime.ReferenceResolver.
func (DBInstanceManager) ClearResolvedReferences(d *v1.DBInstance) {
	if d.Spec.DBSubnetGroupRef != nil {
		d.Spec.DBSubnetGroupName = nil
	}
	if len(d.Spec.VPCSecurityGroupRefs) > 0 {
		d.Spec.VPCSecurityGroupIDs = nil
	}
	d.MasterUserPasswordValue = nil
}

// ReadOne implements runtime.Manager.
func (DBInstanceManager) ReadOne(ctx context.Context, env ackrt.Env, desired *v1.DBInstance) (*v1.DBInstance, error) {
	out, err := client(env).DescribeDBInstances(ctx, &rds.DescribeDBInstancesInput{DBInstanceIdentifier: desired.Spec.DBInstanceIdentifier})
	if err != nil {
		return nil, err
	}
	if len(out.DBInstances) == 0 {
		return nil, ackrt.ErrNotFound
	}
	d := &out.DBInstances[0]
	if err := sameResource(desired.Status.ACKResourceMetadata, d.DBInstanceArn, "dbInstanceIdentifier"); err != nil {
		return nil, err
	}
	return fromDescribed(desired, d), nil
}

// Create implements runtime.Manager.
func (DBInstanceManager) Create(ctx context.Context, env ackrt.Env, desired *v1.DBInstance) (*v1.DBInstance, error) {
	if desired.Spec.MasterUserPassword != nil && password(desired) == nil {
		// ResolveReferences runs first; this guards a caller that skipped it.
		return nil, ackrt.Terminal("spec.masterUserPassword: the Secret value was not read")
	}
	out, err := client(env).CreateDBInstance(ctx, createInput(desired))
	if err != nil {
		return nil, err
	}
	if out.DBInstance == nil {
		return desired.DeepCopy(), nil
	}
	return fromDescribed(desired, out.DBInstance), nil
}

// Delete implements runtime.Manager: DeleteDBInstance (without a final
// snapshot unless the annotations ask for one), then requeue until RDS no
// longer knows the instance. An instance already deleting is only waited for.
func (DBInstanceManager) Delete(ctx context.Context, env ackrt.Env, latest *v1.DBInstance) (bool, error) {
	resolvedPasswords.Delete(latest.UID)
	if aws.ToString(latest.Status.DBInstanceStatus) == StatusDeleting {
		return false, nil
	}
	in, err := deleteInput(latest)
	if err != nil {
		return false, err
	}
	if _, err := client(env).DeleteDBInstance(ctx, in); err != nil {
		return false, err
	}
	return false, nil
}

func deleteInput(d *v1.DBInstance) (*rds.DeleteDBInstanceInput, error) {
	ann := d.GetAnnotations()
	in := &rds.DeleteDBInstanceInput{
		DBInstanceIdentifier:   d.Spec.DBInstanceIdentifier,
		SkipFinalSnapshot:      aws.Bool(!strings.EqualFold(ann[AnnotationSkipFinalSnapshot], "false")),
		DeleteAutomatedBackups: aws.Bool(!strings.EqualFold(ann[AnnotationDeleteAutomatedBackups], "false")),
	}
	if !*in.SkipFinalSnapshot {
		id := ann[AnnotationFinalSnapshotID]
		if id == "" {
			return nil, ackrt.Terminal("annotation %s is required when %s is \"false\"", AnnotationFinalSnapshotID, AnnotationSkipFinalSnapshot)
		}
		in.FinalDBSnapshotIdentifier = &id
	}
	return in, nil
}

// IsSynced implements runtime.Manager: synced only when available.
func (DBInstanceManager) IsSynced(d *v1.DBInstance) (bool, string, error) {
	s := aws.ToString(d.Status.DBInstanceStatus)
	switch {
	case s == StatusAvailable:
		return true, "", nil
	case terminalStatuses[s]:
		return false, "", ackrt.Terminal("DB instance is in status %q", s)
	case s == "":
		return false, "DB instance status is not known yet", nil
	}
	return false, fmt.Sprintf("DB instance is %s", s), nil
}

// LateInitialize implements runtime.Manager: the placement and windows RDS
// picks when the spec leaves them out become the spec, as in ACK.
func (DBInstanceManager) LateInitialize(desired, latest *v1.DBInstance) bool {
	changed := false
	for _, f := range []struct{ to, from **string }{
		{&desired.Spec.AvailabilityZone, &latest.Spec.AvailabilityZone},
		{&desired.Spec.StorageType, &latest.Spec.StorageType},
		{&desired.Spec.PreferredBackupWindow, &latest.Spec.PreferredBackupWindow},
		{&desired.Spec.PreferredMaintenanceWindow, &latest.Spec.PreferredMaintenanceWindow},
	} {
		if *f.to == nil && *f.from != nil && **f.from != "" {
			v := **f.from
			*f.to = &v
			changed = true
		}
	}
	return changed
}
