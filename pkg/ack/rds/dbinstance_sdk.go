package rds

import (
	"context"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	rdstypes "github.com/aws/aws-sdk-go-v2/service/rds/types"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	ackv1alpha1 "github.com/trellis-dev/trellis/api/ack/core/v1alpha1"
	v1 "github.com/trellis-dev/trellis/api/ack/rds/v1alpha1"
	ackrt "github.com/trellis-dev/trellis/pkg/ack/runtime"
)

func i64(p *int32) *int64 {
	if p == nil {
		return nil
	}
	v := int64(*p)
	return &v
}

func i32(p *int64) *int32 {
	if p == nil {
		return nil
	}
	v := int32(*p)
	return &v
}

// fromDescribed returns a copy of desired whose spec holds what RDS
// reports for the implemented fields and whose status is filled. The
// references and the Secret reference are kept from desired: RDS does not
// report them.
func fromDescribed(desired *v1.DBInstance, d *rdstypes.DBInstance) *v1.DBInstance {
	latest := desired.DeepCopy()
	s := v1.DBInstanceSpec{
		AllocatedStorage:                i64(d.AllocatedStorage),
		AutoMinorVersionUpgrade:         d.AutoMinorVersionUpgrade,
		AvailabilityZone:                d.AvailabilityZone,
		BackupRetentionPeriod:           i64(d.BackupRetentionPeriod),
		CopyTagsToSnapshot:              d.CopyTagsToSnapshot,
		DBInstanceClass:                 d.DBInstanceClass,
		DBInstanceIdentifier:            desired.Spec.DBInstanceIdentifier,
		DBName:                          d.DBName,
		DBSubnetGroupRef:                desired.Spec.DBSubnetGroupRef,
		DeletionProtection:              d.DeletionProtection,
		Engine:                          d.Engine,
		EngineVersion:                   d.EngineVersion,
		EnableCloudwatchLogsExports:     ptrs(d.EnabledCloudwatchLogsExports),
		EnableIAMDatabaseAuthentication: d.IAMDatabaseAuthenticationEnabled,
		IOPS:                            i64(d.Iops),
		ManageMasterUserPassword:        aws.Bool(d.MasterUserSecret != nil),
		MasterUserPassword:              desired.Spec.MasterUserPassword,
		MasterUsername:                  d.MasterUsername,
		MaxAllocatedStorage:             i64(d.MaxAllocatedStorage),
		MultiAZ:                         d.MultiAZ,
		Port:                            i64(d.DbInstancePort),
		PreferredBackupWindow:           d.PreferredBackupWindow,
		PreferredMaintenanceWindow:      d.PreferredMaintenanceWindow,
		PubliclyAccessible:              d.PubliclyAccessible,
		StorageEncrypted:                d.StorageEncrypted,
		StorageThroughput:               i64(d.StorageThroughput),
		StorageType:                     d.StorageType,
		VPCSecurityGroupRefs:            desired.Spec.VPCSecurityGroupRefs,
	}
	if s.Port == nil && d.Endpoint != nil {
		s.Port = i64(d.Endpoint.Port)
	}
	if len(d.DBParameterGroups) == 1 {
		s.DBParameterGroupName = d.DBParameterGroups[0].DBParameterGroupName
	}
	if d.DBSubnetGroup != nil {
		s.DBSubnetGroupName = d.DBSubnetGroup.DBSubnetGroupName
	}
	for _, g := range d.VpcSecurityGroups {
		s.VPCSecurityGroupIDs = append(s.VPCSecurityGroupIDs, g.VpcSecurityGroupId)
	}
	if len(d.TagList) > 0 {
		s.Tags = tagsFrom(d.TagList)
	}
	latest.Spec = s

	st := v1.DBInstanceStatus{ResourceStatus: desired.Status.ResourceStatus}
	st.DBInstancePort = i64(d.DbInstancePort)
	st.DBInstanceStatus = d.DBInstanceStatus
	st.DBIResourceID = d.DbiResourceId
	st.EnabledCloudwatchLogsExports = ptrs(d.EnabledCloudwatchLogsExports)
	st.IAMDatabaseAuthenticationEnabled = d.IAMDatabaseAuthenticationEnabled
	st.ReadReplicaDBInstanceIdentifiers = ptrs(d.ReadReplicaDBInstanceIdentifiers)
	st.SecondaryAvailabilityZone = d.SecondaryAvailabilityZone
	if d.Endpoint != nil {
		st.Endpoint = &v1.Endpoint{Address: d.Endpoint.Address, HostedZoneID: d.Endpoint.HostedZoneId, Port: i64(d.Endpoint.Port)}
	}
	if d.InstanceCreateTime != nil {
		t := metav1.NewTime(*d.InstanceCreateTime)
		st.InstanceCreateTime = &t
	}
	if d.LatestRestorableTime != nil {
		t := metav1.NewTime(*d.LatestRestorableTime)
		st.LatestRestorableTime = &t
	}
	for _, g := range d.DBParameterGroups {
		st.DBParameterGroups = append(st.DBParameterGroups, &v1.DBParameterGroupStatus{DBParameterGroupName: g.DBParameterGroupName, ParameterApplyStatus: g.ParameterApplyStatus})
	}
	if g := d.DBSubnetGroup; g != nil {
		st.DBSubnetGroup = &v1.DBSubnetGroupSDK{
			DBSubnetGroupARN: g.DBSubnetGroupArn, DBSubnetGroupDescription: g.DBSubnetGroupDescription,
			DBSubnetGroupName: g.DBSubnetGroupName, SubnetGroupStatus: g.SubnetGroupStatus,
			Subnets: subnetsFrom(g.Subnets), SupportedNetworkTypes: ptrs(g.SupportedNetworkTypes), VPCID: g.VpcId,
		}
	}
	for _, g := range d.VpcSecurityGroups {
		st.VPCSecurityGroups = append(st.VPCSecurityGroups, &v1.VPCSecurityGroupMembership{Status: g.Status, VPCSecurityGroupID: g.VpcSecurityGroupId})
	}
	for _, g := range d.OptionGroupMemberships {
		st.OptionGroupMemberships = append(st.OptionGroupMemberships, &v1.OptionGroupMembership{OptionGroupName: g.OptionGroupName, Status: g.Status})
	}
	for _, i := range d.StatusInfos {
		st.StatusInfos = append(st.StatusInfos, &v1.DBInstanceStatusInfo{Message: i.Message, Normal: i.Normal, Status: i.Status, StatusType: i.StatusType})
	}
	if m := d.MasterUserSecret; m != nil {
		st.MasterUserSecret = &v1.MasterUserSecret{KMSKeyID: m.KmsKeyId, SecretARN: m.SecretArn, SecretStatus: m.SecretStatus}
	}
	if p := d.PendingModifiedValues; p != nil {
		st.PendingModifiedValues = &v1.PendingModifiedValues{
			AllocatedStorage: i64(p.AllocatedStorage), BackupRetentionPeriod: i64(p.BackupRetentionPeriod),
			CACertificateIdentifier: p.CACertificateIdentifier, DBInstanceClass: p.DBInstanceClass,
			DBInstanceIdentifier: p.DBInstanceIdentifier, DBSubnetGroupName: p.DBSubnetGroupName,
			EngineVersion: p.EngineVersion, IOPS: i64(p.Iops), MultiAZ: p.MultiAZ, Port: i64(p.Port),
			StorageThroughput: i64(p.StorageThroughput), StorageType: p.StorageType,
		}
		if *st.PendingModifiedValues == (v1.PendingModifiedValues{}) {
			st.PendingModifiedValues = nil
		}
	}
	if d.DBInstanceArn != nil {
		a := ackv1alpha1.ARN(*d.DBInstanceArn)
		if st.ACKResourceMetadata == nil {
			st.ACKResourceMetadata = &ackv1alpha1.ResourceMetadata{}
		} else {
			md := *st.ACKResourceMetadata
			st.ACKResourceMetadata = &md
		}
		st.ACKResourceMetadata.ARN = &a
	}
	latest.Status = st
	return latest
}

func createInput(desired *v1.DBInstance) *rds.CreateDBInstanceInput {
	s := desired.Spec
	return &rds.CreateDBInstanceInput{
		AllocatedStorage:                i32(s.AllocatedStorage),
		AutoMinorVersionUpgrade:         s.AutoMinorVersionUpgrade,
		AvailabilityZone:                s.AvailabilityZone,
		BackupRetentionPeriod:           i32(s.BackupRetentionPeriod),
		CopyTagsToSnapshot:              s.CopyTagsToSnapshot,
		DBInstanceClass:                 s.DBInstanceClass,
		DBInstanceIdentifier:            s.DBInstanceIdentifier,
		DBName:                          s.DBName,
		DBParameterGroupName:            s.DBParameterGroupName,
		DBSubnetGroupName:               s.DBSubnetGroupName,
		DeletionProtection:              s.DeletionProtection,
		EnableCloudwatchLogsExports:     strsOrNil(s.EnableCloudwatchLogsExports),
		EnableIAMDatabaseAuthentication: s.EnableIAMDatabaseAuthentication,
		Engine:                          s.Engine,
		EngineVersion:                   s.EngineVersion,
		Iops:                            i32(s.IOPS),
		ManageMasterUserPassword:        s.ManageMasterUserPassword,
		MasterUserPassword:              password(desired),
		MasterUsername:                  s.MasterUsername,
		MaxAllocatedStorage:             i32(s.MaxAllocatedStorage),
		MultiAZ:                         s.MultiAZ,
		Port:                            i32(s.Port),
		PreferredBackupWindow:           s.PreferredBackupWindow,
		PreferredMaintenanceWindow:      s.PreferredMaintenanceWindow,
		PubliclyAccessible:              s.PubliclyAccessible,
		StorageEncrypted:                s.StorageEncrypted,
		StorageThroughput:               i32(s.StorageThroughput),
		StorageType:                     s.StorageType,
		Tags:                            tagsTo(s.Tags),
		VpcSecurityGroupIds:             strsOrNil(s.VPCSecurityGroupIDs),
	}
}

func strsOrNil(p []*string) []string {
	if p == nil {
		return nil
	}
	return strs(p)
}

// immutableFields cannot change once the instance exists (RDS has no
// modify for them); a change is refused with a Terminal condition.
var immutableFields = []string{"spec.availabilityZone", "spec.dbName", "spec.engine", "spec.masterUsername", "spec.storageEncrypted"}

// withPending overlays the modifications RDS has accepted but not yet
// applied, so that they are not requested again.
func withPending(latest *v1.DBInstance) v1.DBInstanceSpec {
	s := latest.Spec
	p := latest.Status.PendingModifiedValues
	if p == nil {
		return s
	}
	set := func(to **string, from *string) {
		if from != nil {
			*to = from
		}
	}
	setI := func(to **int64, from *int64) {
		if from != nil {
			*to = from
		}
	}
	set(&s.DBInstanceClass, p.DBInstanceClass)
	set(&s.EngineVersion, p.EngineVersion)
	set(&s.StorageType, p.StorageType)
	set(&s.DBSubnetGroupName, p.DBSubnetGroupName)
	setI(&s.AllocatedStorage, p.AllocatedStorage)
	setI(&s.BackupRetentionPeriod, p.BackupRetentionPeriod)
	setI(&s.IOPS, p.IOPS)
	setI(&s.Port, p.Port)
	setI(&s.StorageThroughput, p.StorageThroughput)
	if p.MultiAZ != nil {
		s.MultiAZ = p.MultiAZ
	}
	return s
}

// engineVersionMatches: a spec version such as "8.0" names a major version
// that RDS reports in full ("8.0.35").
func engineVersionMatches(want, have string) bool {
	return want == have || strings.HasPrefix(have, want+".")
}

// Delta implements runtime.Manager.
func (DBInstanceManager) Delta(desired, latest *v1.DBInstance) []string {
	var d []string
	ds, ls := desired.Spec, withPending(latest)
	str := func(path string, w, h *string, fold bool) {
		if w == nil {
			return
		}
		if (fold && !strings.EqualFold(*w, aws.ToString(h))) || (!fold && *w != aws.ToString(h)) {
			d = append(d, path)
		}
	}
	num := func(path string, w, h *int64) {
		if w != nil && *w != aws.ToInt64(h) {
			d = append(d, path)
		}
	}
	flag := func(path string, w, h *bool) {
		if w != nil && *w != aws.ToBool(h) {
			d = append(d, path)
		}
	}
	num("spec.allocatedStorage", ds.AllocatedStorage, ls.AllocatedStorage)
	flag("spec.autoMinorVersionUpgrade", ds.AutoMinorVersionUpgrade, ls.AutoMinorVersionUpgrade)
	if !aws.ToBool(ls.MultiAZ) { // a Multi-AZ instance moves on failover
		str("spec.availabilityZone", ds.AvailabilityZone, ls.AvailabilityZone, false)
	}
	num("spec.backupRetentionPeriod", ds.BackupRetentionPeriod, ls.BackupRetentionPeriod)
	flag("spec.copyTagsToSnapshot", ds.CopyTagsToSnapshot, ls.CopyTagsToSnapshot)
	str("spec.dbInstanceClass", ds.DBInstanceClass, ls.DBInstanceClass, false)
	str("spec.dbName", ds.DBName, ls.DBName, false)
	str("spec.dbParameterGroupName", ds.DBParameterGroupName, ls.DBParameterGroupName, true)
	str("spec.dbSubnetGroupName", ds.DBSubnetGroupName, ls.DBSubnetGroupName, true)
	flag("spec.deletionProtection", ds.DeletionProtection, ls.DeletionProtection)
	if ds.EnableCloudwatchLogsExports != nil && !sameSet(ds.EnableCloudwatchLogsExports, ls.EnableCloudwatchLogsExports) {
		d = append(d, "spec.enableCloudwatchLogsExports")
	}
	flag("spec.enableIAMDatabaseAuthentication", ds.EnableIAMDatabaseAuthentication, ls.EnableIAMDatabaseAuthentication)
	str("spec.engine", ds.Engine, ls.Engine, true)
	if ds.EngineVersion != nil && !engineVersionMatches(*ds.EngineVersion, aws.ToString(ls.EngineVersion)) {
		d = append(d, "spec.engineVersion")
	}
	num("spec.iops", ds.IOPS, ls.IOPS)
	flag("spec.manageMasterUserPassword", ds.ManageMasterUserPassword, ls.ManageMasterUserPassword)
	str("spec.masterUsername", ds.MasterUsername, ls.MasterUsername, false)
	num("spec.maxAllocatedStorage", ds.MaxAllocatedStorage, ls.MaxAllocatedStorage)
	flag("spec.multiAZ", ds.MultiAZ, ls.MultiAZ)
	num("spec.port", ds.Port, ls.Port)
	str("spec.preferredBackupWindow", ds.PreferredBackupWindow, ls.PreferredBackupWindow, false)
	str("spec.preferredMaintenanceWindow", ds.PreferredMaintenanceWindow, ls.PreferredMaintenanceWindow, true)
	flag("spec.publiclyAccessible", ds.PubliclyAccessible, ls.PubliclyAccessible)
	flag("spec.storageEncrypted", ds.StorageEncrypted, ls.StorageEncrypted)
	num("spec.storageThroughput", ds.StorageThroughput, ls.StorageThroughput)
	str("spec.storageType", ds.StorageType, ls.StorageType, false)
	if tagsDiffer(ds.Tags, ls.Tags) {
		d = append(d, "spec.tags")
	}
	if ds.VPCSecurityGroupIDs != nil && !sameSet(ds.VPCSecurityGroupIDs, ls.VPCSecurityGroupIDs) {
		d = append(d, "spec.vpcSecurityGroupIDs")
	}
	return d
}

// Update implements runtime.Manager.
func (m DBInstanceManager) Update(ctx context.Context, env ackrt.Env, desired, latest *v1.DBInstance, delta []string) (*v1.DBInstance, error) {
	var immutable []string
	for _, f := range immutableFields {
		if has(delta, f) {
			immutable = append(immutable, f)
		}
	}
	if len(immutable) > 0 {
		return nil, ackrt.Terminal("cannot change %s of an existing DB instance (RDS has no modification for it); restore the previous value", strings.Join(immutable, ", "))
	}
	if s := aws.ToString(latest.Status.DBInstanceStatus); s != StatusAvailable {
		return nil, ackrt.RequeueAfter(requeueWait(env), "DB Instance in '%s' state, cannot be modified until '%s'.", s, StatusAvailable)
	}
	c := client(env)
	if in, ok := modifyInput(desired, latest, delta); ok {
		if _, err := c.ModifyDBInstance(ctx, in); err != nil {
			return nil, err
		}
	}
	if has(delta, "spec.tags") {
		if err := syncTags(ctx, c, m.ARN(env, latest), desired.Spec.Tags, latest.Spec.Tags); err != nil {
			return nil, err
		}
	}
	return m.ReadOne(ctx, env, desired)
}

// requeueWait is how long an update waits for the instance to become
// available again (ACK: 30s; here the not-synced requeue).
func requeueWait(env ackrt.Env) time.Duration {
	if env.Config.NotSyncedRequeue > 0 {
		return env.Config.NotSyncedRequeue
	}
	return 30 * time.Second
}

// modifyInput builds one ModifyDBInstance call for the delta (tags aside);
// ok=false when nothing but tags changed.
func modifyInput(desired, latest *v1.DBInstance, delta []string) (*rds.ModifyDBInstanceInput, bool) {
	s := desired.Spec
	in := &rds.ModifyDBInstanceInput{DBInstanceIdentifier: s.DBInstanceIdentifier, ApplyImmediately: aws.Bool(true)}
	n := 0
	for _, p := range delta {
		n++
		switch p {
		case "spec.allocatedStorage":
			in.AllocatedStorage = i32(s.AllocatedStorage)
		case "spec.autoMinorVersionUpgrade":
			in.AutoMinorVersionUpgrade = s.AutoMinorVersionUpgrade
		case "spec.backupRetentionPeriod":
			in.BackupRetentionPeriod = i32(s.BackupRetentionPeriod)
		case "spec.copyTagsToSnapshot":
			in.CopyTagsToSnapshot = s.CopyTagsToSnapshot
		case "spec.dbInstanceClass":
			in.DBInstanceClass = s.DBInstanceClass
		case "spec.dbParameterGroupName":
			in.DBParameterGroupName = s.DBParameterGroupName
		case "spec.dbSubnetGroupName":
			in.DBSubnetGroupName = s.DBSubnetGroupName
		case "spec.deletionProtection":
			in.DeletionProtection = s.DeletionProtection
		case "spec.enableCloudwatchLogsExports":
			want, have := strs(s.EnableCloudwatchLogsExports), strs(latest.Spec.EnableCloudwatchLogsExports)
			in.CloudwatchLogsExportConfiguration = &rdstypes.CloudwatchLogsExportConfiguration{
				EnableLogTypes: minus(want, have), DisableLogTypes: minus(have, want),
			}
		case "spec.enableIAMDatabaseAuthentication":
			in.EnableIAMDatabaseAuthentication = s.EnableIAMDatabaseAuthentication
		case "spec.engineVersion":
			in.EngineVersion = s.EngineVersion
		case "spec.iops":
			in.Iops = i32(s.IOPS)
		case "spec.manageMasterUserPassword":
			in.ManageMasterUserPassword = s.ManageMasterUserPassword
			if !aws.ToBool(s.ManageMasterUserPassword) {
				// Turning it off needs a password of our own.
				in.MasterUserPassword = password(desired)
			}
		case "spec.maxAllocatedStorage":
			in.MaxAllocatedStorage = i32(s.MaxAllocatedStorage)
		case "spec.multiAZ":
			in.MultiAZ = s.MultiAZ
		case "spec.port":
			in.DBPortNumber = i32(s.Port)
		case "spec.preferredBackupWindow":
			in.PreferredBackupWindow = s.PreferredBackupWindow
		case "spec.preferredMaintenanceWindow":
			in.PreferredMaintenanceWindow = s.PreferredMaintenanceWindow
		case "spec.publiclyAccessible":
			in.PubliclyAccessible = s.PubliclyAccessible
		case "spec.storageThroughput":
			in.StorageThroughput = i32(s.StorageThroughput)
		case "spec.storageType":
			in.StorageType = s.StorageType
		case "spec.vpcSecurityGroupIDs":
			in.VpcSecurityGroupIds = strs(s.VPCSecurityGroupIDs)
		default:
			n-- // tags, handled apart
		}
	}
	return in, n > 0
}

func minus(a, b []string) []string {
	var out []string
	for _, x := range a {
		found := false
		for _, y := range b {
			found = found || x == y
		}
		if !found {
			out = append(out, x)
		}
	}
	return out
}
