package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	ackv1alpha1 "github.com/trellis-dev/trellis/api/ack/core/v1alpha1"
)

// DBInstanceSpec is the desired state of a DBInstance.
type DBInstanceSpec struct {
	AllocatedStorage        *int64  `json:"allocatedStorage,omitempty"`
	AutoMinorVersionUpgrade *bool   `json:"autoMinorVersionUpgrade,omitempty"`
	AvailabilityZone        *string `json:"availabilityZone,omitempty" ack:"immutable"`
	BackupRetentionPeriod   *int64  `json:"backupRetentionPeriod,omitempty"`
	CopyTagsToSnapshot      *bool   `json:"copyTagsToSnapshot,omitempty"`
	DBInstanceClass         *string `json:"dbInstanceClass,omitempty" ack:"required"`
	DBInstanceIdentifier    *string `json:"dbInstanceIdentifier,omitempty" ack:"required"`
	// DBName is the initial database; it cannot change after creation.
	DBName               *string                        `json:"dbName,omitempty"`
	DBParameterGroupName *string                        `json:"dbParameterGroupName,omitempty"`
	DBSubnetGroupName    *string                        `json:"dbSubnetGroupName,omitempty"`
	DBSubnetGroupRef     *ackv1alpha1.ResourceReference `json:"dbSubnetGroupRef,omitempty"`
	DeletionProtection   *bool                          `json:"deletionProtection,omitempty"`
	// Engine (e.g. mysql, postgres) cannot change after creation.
	Engine                          *string   `json:"engine,omitempty" ack:"required"`
	EngineVersion                   *string   `json:"engineVersion,omitempty"`
	EnableCloudwatchLogsExports     []*string `json:"enableCloudwatchLogsExports,omitempty"`
	EnableIAMDatabaseAuthentication *bool     `json:"enableIAMDatabaseAuthentication,omitempty"`
	IOPS                            *int64    `json:"iops,omitempty"`
	// ManageMasterUserPassword lets RDS keep the password in Secrets
	// Manager (status.masterUserSecret).
	ManageMasterUserPassword *bool `json:"manageMasterUserPassword,omitempty"`
	// MasterUserPassword is read from a Kubernetes Secret, never inline.
	MasterUserPassword         *ackv1alpha1.SecretKeyReference  `json:"masterUserPassword,omitempty"`
	MasterUsername             *string                          `json:"masterUsername,omitempty"`
	MaxAllocatedStorage        *int64                           `json:"maxAllocatedStorage,omitempty"`
	MultiAZ                    *bool                            `json:"multiAZ,omitempty"`
	Port                       *int64                           `json:"port,omitempty"`
	PreferredBackupWindow      *string                          `json:"preferredBackupWindow,omitempty"`
	PreferredMaintenanceWindow *string                          `json:"preferredMaintenanceWindow,omitempty"`
	PubliclyAccessible         *bool                            `json:"publiclyAccessible,omitempty"`
	StorageEncrypted           *bool                            `json:"storageEncrypted,omitempty"`
	StorageThroughput          *int64                           `json:"storageThroughput,omitempty"`
	StorageType                *string                          `json:"storageType,omitempty"`
	Tags                       []*Tag                           `json:"tags,omitempty"`
	VPCSecurityGroupIDs        []*string                        `json:"vpcSecurityGroupIDs,omitempty"`
	VPCSecurityGroupRefs       []*ackv1alpha1.ResourceReference `json:"vpcSecurityGroupRefs,omitempty"`

	// Fields of ACK's DBInstance that trellis does not implement: kept by
	// the API server and reported as ACK.Terminal when set.
	BackupTarget                       any `json:"backupTarget,omitempty" ack:"unimplemented=string"`
	CACertificateIdentifier            any `json:"caCertificateIdentifier,omitempty" ack:"unimplemented=string"`
	CharacterSetName                   any `json:"characterSetName,omitempty" ack:"unimplemented=string"`
	CustomIAMInstanceProfile           any `json:"customIAMInstanceProfile,omitempty" ack:"unimplemented=string"`
	DatabaseInsightsMode               any `json:"databaseInsightsMode,omitempty" ack:"unimplemented=string"`
	DBClusterIdentifier                any `json:"dbClusterIdentifier,omitempty" ack:"unimplemented=string"`
	DBClusterSnapshotIdentifier        any `json:"dbClusterSnapshotIdentifier,omitempty" ack:"unimplemented=string"`
	DBParameterGroupRef                any `json:"dbParameterGroupRef,omitempty" ack:"unimplemented=object"`
	DBSnapshotIdentifier               any `json:"dbSnapshotIdentifier,omitempty" ack:"unimplemented=string"`
	DestinationRegion                  any `json:"destinationRegion,omitempty" ack:"unimplemented=string"`
	Domain                             any `json:"domain,omitempty" ack:"unimplemented=string"`
	DomainIAMRoleName                  any `json:"domainIAMRoleName,omitempty" ack:"unimplemented=string"`
	EnableCustomerOwnedIP              any `json:"enableCustomerOwnedIP,omitempty" ack:"unimplemented=boolean"`
	KMSKeyID                           any `json:"kmsKeyID,omitempty" ack:"unimplemented=string"`
	KMSKeyRef                          any `json:"kmsKeyRef,omitempty" ack:"unimplemented=object"`
	LicenseModel                       any `json:"licenseModel,omitempty" ack:"unimplemented=string"`
	MasterUserSecretKMSKeyID           any `json:"masterUserSecretKMSKeyID,omitempty" ack:"unimplemented=string"`
	MasterUserSecretKMSKeyRef          any `json:"masterUserSecretKMSKeyRef,omitempty" ack:"unimplemented=object"`
	MonitoringInterval                 any `json:"monitoringInterval,omitempty" ack:"unimplemented=integer"`
	MonitoringRoleARN                  any `json:"monitoringRoleARN,omitempty" ack:"unimplemented=string"`
	MonitoringRoleRef                  any `json:"monitoringRoleRef,omitempty" ack:"unimplemented=object"`
	NcharCharacterSetName              any `json:"ncharCharacterSetName,omitempty" ack:"unimplemented=string"`
	NetworkType                        any `json:"networkType,omitempty" ack:"unimplemented=string"`
	OptionGroupName                    any `json:"optionGroupName,omitempty" ack:"unimplemented=string"`
	PerformanceInsightsEnabled         any `json:"performanceInsightsEnabled,omitempty" ack:"unimplemented=boolean"`
	PerformanceInsightsKMSKeyID        any `json:"performanceInsightsKMSKeyID,omitempty" ack:"unimplemented=string"`
	PerformanceInsightsKMSKeyRef       any `json:"performanceInsightsKMSKeyRef,omitempty" ack:"unimplemented=object"`
	PerformanceInsightsRetentionPeriod any `json:"performanceInsightsRetentionPeriod,omitempty" ack:"unimplemented=integer"`
	PreSignedURL                       any `json:"preSignedURL,omitempty" ack:"unimplemented=string"`
	ProcessorFeatures                  any `json:"processorFeatures,omitempty" ack:"unimplemented=array"`
	PromotionTier                      any `json:"promotionTier,omitempty" ack:"unimplemented=integer"`
	ReplicaMode                        any `json:"replicaMode,omitempty" ack:"unimplemented=string"`
	SourceDBInstanceIdentifier         any `json:"sourceDBInstanceIdentifier,omitempty" ack:"unimplemented=string"`
	SourceRegion                       any `json:"sourceRegion,omitempty" ack:"unimplemented=string"`
	TDECredentialARN                   any `json:"tdeCredentialARN,omitempty" ack:"unimplemented=string"`
	TDECredentialPassword              any `json:"tdeCredentialPassword,omitempty" ack:"unimplemented=string"`
	Timezone                           any `json:"timezone,omitempty" ack:"unimplemented=string"`
	UseDefaultProcessorFeatures        any `json:"useDefaultProcessorFeatures,omitempty" ack:"unimplemented=boolean"`
}

// Endpoint is where the database answers.
type Endpoint struct {
	Address      *string `json:"address,omitempty"`
	HostedZoneID *string `json:"hostedZoneID,omitempty"`
	Port         *int64  `json:"port,omitempty"`
}

// DBSubnetGroupSDK is the subnet group as DescribeDBInstances reports it.
type DBSubnetGroupSDK struct {
	DBSubnetGroupARN         *string   `json:"dbSubnetGroupARN,omitempty"`
	DBSubnetGroupDescription *string   `json:"dbSubnetGroupDescription,omitempty"`
	DBSubnetGroupName        *string   `json:"dbSubnetGroupName,omitempty"`
	SubnetGroupStatus        *string   `json:"subnetGroupStatus,omitempty"`
	Subnets                  []*Subnet `json:"subnets,omitempty"`
	SupportedNetworkTypes    []*string `json:"supportedNetworkTypes,omitempty"`
	VPCID                    *string   `json:"vpcID,omitempty"`
}

// VPCSecurityGroupMembership is one security group of the instance.
type VPCSecurityGroupMembership struct {
	Status             *string `json:"status,omitempty"`
	VPCSecurityGroupID *string `json:"vpcSecurityGroupID,omitempty"`
}

// DBParameterGroupStatus is one parameter group of the instance.
type DBParameterGroupStatus struct {
	DBParameterGroupName *string `json:"dbParameterGroupName,omitempty"`
	ParameterApplyStatus *string `json:"parameterApplyStatus,omitempty"`
}

// MasterUserSecret is the Secrets Manager secret RDS manages for the
// master password (manageMasterUserPassword).
type MasterUserSecret struct {
	KMSKeyID     *string `json:"kmsKeyID,omitempty"`
	SecretARN    *string `json:"secretARN,omitempty"`
	SecretStatus *string `json:"secretStatus,omitempty"`
}

// PendingModifiedValues are changes RDS has accepted but not yet applied.
type PendingModifiedValues struct {
	AllocatedStorage        *int64  `json:"allocatedStorage,omitempty"`
	BackupRetentionPeriod   *int64  `json:"backupRetentionPeriod,omitempty"`
	CACertificateIdentifier *string `json:"caCertificateIdentifier,omitempty"`
	DBInstanceClass         *string `json:"dbInstanceClass,omitempty"`
	DBInstanceIdentifier    *string `json:"dbInstanceIdentifier,omitempty"`
	DBSubnetGroupName       *string `json:"dbSubnetGroupName,omitempty"`
	EngineVersion           *string `json:"engineVersion,omitempty"`
	IOPS                    *int64  `json:"iops,omitempty"`
	MultiAZ                 *bool   `json:"multiAZ,omitempty"`
	Port                    *int64  `json:"port,omitempty"`
	StorageThroughput       *int64  `json:"storageThroughput,omitempty"`
	StorageType             *string `json:"storageType,omitempty"`
}

// DBInstanceStatusInfo is a status detail (e.g. of a read replica).
type DBInstanceStatusInfo struct {
	Message    *string `json:"message,omitempty"`
	Normal     *bool   `json:"normal,omitempty"`
	Status     *string `json:"status,omitempty"`
	StatusType *string `json:"statusType,omitempty"`
}

// OptionGroupMembership is one option group of the instance.
type OptionGroupMembership struct {
	OptionGroupName *string `json:"optionGroupName,omitempty"`
	Status          *string `json:"status,omitempty"`
}

// DBInstanceStatus is the observed state of a DBInstance.
type DBInstanceStatus struct {
	ackv1alpha1.ResourceStatus `json:",inline"`
	DBInstancePort             *int64 `json:"dbInstancePort,omitempty"`
	// DBInstanceStatus is creating, available, modifying, backing-up, deleting, …
	DBInstanceStatus                 *string                       `json:"dbInstanceStatus,omitempty"`
	DBIResourceID                    *string                       `json:"dbiResourceID,omitempty"`
	DBParameterGroups                []*DBParameterGroupStatus     `json:"dbParameterGroups,omitempty"`
	DBSubnetGroup                    *DBSubnetGroupSDK             `json:"dbSubnetGroup,omitempty"`
	EnabledCloudwatchLogsExports     []*string                     `json:"enabledCloudwatchLogsExports,omitempty"`
	Endpoint                         *Endpoint                     `json:"endpoint,omitempty"`
	IAMDatabaseAuthenticationEnabled *bool                         `json:"iamDatabaseAuthenticationEnabled,omitempty"`
	InstanceCreateTime               *metav1.Time                  `json:"instanceCreateTime,omitempty"`
	LatestRestorableTime             *metav1.Time                  `json:"latestRestorableTime,omitempty"`
	MasterUserSecret                 *MasterUserSecret             `json:"masterUserSecret,omitempty"`
	OptionGroupMemberships           []*OptionGroupMembership      `json:"optionGroupMemberships,omitempty"`
	PendingModifiedValues            *PendingModifiedValues        `json:"pendingModifiedValues,omitempty"`
	ReadReplicaDBInstanceIdentifiers []*string                     `json:"readReplicaDBInstanceIdentifiers,omitempty"`
	SecondaryAvailabilityZone        *string                       `json:"secondaryAvailabilityZone,omitempty"`
	StatusInfos                      []*DBInstanceStatusInfo       `json:"statusInfos,omitempty"`
	VPCSecurityGroups                []*VPCSecurityGroupMembership `json:"vpcSecurityGroups,omitempty"`
}

// DBInstance is an RDS DB instance.
type DBInstance struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              DBInstanceSpec   `json:"spec,omitempty"`
	Status            DBInstanceStatus `json:"status,omitempty"`

	// MasterUserPasswordValue is the password read from the Secret that
	// spec.masterUserPassword names, in memory only: never serialised.
	MasterUserPasswordValue *string `json:"-"`
}

// DBInstanceList is a list of DBInstances.
type DBInstanceList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []DBInstance `json:"items"`
}

// DeepCopyObject implements runtime.Object.
func (d *DBInstance) DeepCopyObject() runtime.Object { return d.DeepCopy() }

// DeepCopy returns a deep copy.
func (d *DBInstance) DeepCopy() *DBInstance {
	if d == nil {
		return nil
	}
	out := &DBInstance{}
	ackv1alpha1.DeepCopyJSON(d, out)
	if d.MasterUserPasswordValue != nil {
		v := *d.MasterUserPasswordValue
		out.MasterUserPasswordValue = &v
	}
	return out
}

// DeepCopyObject implements runtime.Object.
func (l *DBInstanceList) DeepCopyObject() runtime.Object {
	if l == nil {
		return nil
	}
	out := &DBInstanceList{}
	ackv1alpha1.DeepCopyJSON(l, out)
	return out
}

// ACKStatus returns the shared part of the status.
func (d *DBInstance) ACKStatus() *ackv1alpha1.ResourceStatus { return &d.Status.ResourceStatus }
