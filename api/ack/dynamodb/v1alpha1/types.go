// Package v1alpha1 is the dynamodb.services.k8s.aws/v1alpha1 API: the Table
// kind, field-compatible with ACK's dynamodb-controller for the fields trellis
// implements. The other fields of ACK's Table are declared too (tag
// ack:"unimplemented=<type>"), so the API server keeps them and the
// controller reports them as ACK.Terminal; fields ACK does not have are
// pruned, as with ACK's CRD.
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	ackv1alpha1 "github.com/trellis-dev/trellis/api/ack/core/v1alpha1"
)

// GroupVersion is dynamodb.services.k8s.aws/v1alpha1.
var GroupVersion = schema.GroupVersion{Group: "dynamodb.services.k8s.aws", Version: "v1alpha1"}

// AddToScheme registers Table and TableList.
func AddToScheme(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion, &Table{}, &TableList{})
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}

// AttributeDefinition declares an attribute used in a key schema.
type AttributeDefinition struct {
	AttributeName *string `json:"attributeName,omitempty"`
	// AttributeType is S, N or B.
	AttributeType *string `json:"attributeType,omitempty"`
}

// KeySchemaElement is one key attribute.
type KeySchemaElement struct {
	AttributeName *string `json:"attributeName,omitempty"`
	// KeyType is HASH or RANGE.
	KeyType *string `json:"keyType,omitempty"`
}

// ProvisionedThroughput is the capacity of a PROVISIONED table or index.
type ProvisionedThroughput struct {
	ReadCapacityUnits  *int64 `json:"readCapacityUnits,omitempty"`
	WriteCapacityUnits *int64 `json:"writeCapacityUnits,omitempty"`
}

// Projection selects the attributes copied into an index.
type Projection struct {
	NonKeyAttributes []*string `json:"nonKeyAttributes,omitempty"`
	// ProjectionType is ALL, KEYS_ONLY or INCLUDE.
	ProjectionType *string `json:"projectionType,omitempty"`
}

// GlobalSecondaryIndex is a GSI of the table.
type GlobalSecondaryIndex struct {
	IndexName             *string                `json:"indexName,omitempty"`
	KeySchema             []*KeySchemaElement    `json:"keySchema,omitempty"`
	Projection            *Projection            `json:"projection,omitempty"`
	ProvisionedThroughput *ProvisionedThroughput `json:"provisionedThroughput,omitempty"`

	OnDemandThroughput any `json:"onDemandThroughput,omitempty" ack:"unimplemented=object"`
}

// LocalSecondaryIndex is an LSI of the table (fixed at creation).
type LocalSecondaryIndex struct {
	IndexName  *string             `json:"indexName,omitempty"`
	KeySchema  []*KeySchemaElement `json:"keySchema,omitempty"`
	Projection *Projection         `json:"projection,omitempty"`
}

// StreamSpecification configures DynamoDB Streams.
type StreamSpecification struct {
	StreamEnabled *bool `json:"streamEnabled,omitempty"`
	// StreamViewType is KEYS_ONLY, NEW_IMAGE, OLD_IMAGE or NEW_AND_OLD_IMAGES.
	StreamViewType *string `json:"streamViewType,omitempty"`
}

// Tag is one DynamoDB tag.
type Tag struct {
	Key   *string `json:"key,omitempty"`
	Value *string `json:"value,omitempty"`
}

// TableSpec is the desired state of a Table.
type TableSpec struct {
	AttributeDefinitions []*AttributeDefinition `json:"attributeDefinitions,omitempty" ack:"required"`
	// BillingMode is PROVISIONED or PAY_PER_REQUEST.
	BillingMode               *string                 `json:"billingMode,omitempty"`
	DeletionProtectionEnabled *bool                   `json:"deletionProtectionEnabled,omitempty"`
	GlobalSecondaryIndexes    []*GlobalSecondaryIndex `json:"globalSecondaryIndexes,omitempty"`
	KeySchema                 []*KeySchemaElement     `json:"keySchema,omitempty" ack:"required,immutable"`
	LocalSecondaryIndexes     []*LocalSecondaryIndex  `json:"localSecondaryIndexes,omitempty" ack:"immutable"`
	ProvisionedThroughput     *ProvisionedThroughput  `json:"provisionedThroughput,omitempty"`
	StreamSpecification       *StreamSpecification    `json:"streamSpecification,omitempty"`
	// TableClass is STANDARD or STANDARD_INFREQUENT_ACCESS.
	TableClass *string `json:"tableClass,omitempty"`
	TableName  *string `json:"tableName,omitempty" ack:"required"`
	Tags       []*Tag  `json:"tags,omitempty"`

	// Fields of ACK's Table that trellis does not implement: kept by the
	// API server and reported as ACK.Terminal when set.
	ContinuousBackups   any `json:"continuousBackups,omitempty" ack:"unimplemented=object"`
	ContributorInsights any `json:"contributorInsights,omitempty" ack:"unimplemented=string"`
	OnDemandThroughput  any `json:"onDemandThroughput,omitempty" ack:"unimplemented=object"`
	ResourcePolicy      any `json:"resourcePolicy,omitempty" ack:"unimplemented=string"`
	SSESpecification    any `json:"sseSpecification,omitempty" ack:"unimplemented=object"`
	TableReplicas       any `json:"tableReplicas,omitempty" ack:"unimplemented=array"`
	TimeToLive          any `json:"timeToLive,omitempty" ack:"unimplemented=object"`
}

// IndexProvisionedThroughputDescription is an index's observed capacity.
type IndexProvisionedThroughputDescription struct {
	ReadCapacityUnits  *int64 `json:"readCapacityUnits,omitempty"`
	WriteCapacityUnits *int64 `json:"writeCapacityUnits,omitempty"`
}

// GlobalSecondaryIndexDescription is an index's observed state.
type GlobalSecondaryIndexDescription struct {
	Backfilling           *bool                                  `json:"backfilling,omitempty"`
	IndexARN              *string                                `json:"indexARN,omitempty"`
	IndexName             *string                                `json:"indexName,omitempty"`
	IndexSizeBytes        *int64                                 `json:"indexSizeBytes,omitempty"`
	IndexStatus           *string                                `json:"indexStatus,omitempty"`
	ItemCount             *int64                                 `json:"itemCount,omitempty"`
	KeySchema             []*KeySchemaElement                    `json:"keySchema,omitempty"`
	Projection            *Projection                            `json:"projection,omitempty"`
	ProvisionedThroughput *IndexProvisionedThroughputDescription `json:"provisionedThroughput,omitempty"`
}

// TableStatus is the observed state of a Table.
type TableStatus struct {
	ackv1alpha1.ResourceStatus         `json:",inline"`
	CreationDateTime                   *metav1.Time                       `json:"creationDateTime,omitempty"`
	GlobalSecondaryIndexesDescriptions []*GlobalSecondaryIndexDescription `json:"globalSecondaryIndexesDescriptions,omitempty"`
	ItemCount                          *int64                             `json:"itemCount,omitempty"`
	LatestStreamARN                    *string                            `json:"latestStreamARN,omitempty"`
	LatestStreamLabel                  *string                            `json:"latestStreamLabel,omitempty"`
	TableID                            *string                            `json:"tableID,omitempty"`
	TableSizeBytes                     *int64                             `json:"tableSizeBytes,omitempty"`
	// TableStatus is CREATING, UPDATING, DELETING, ACTIVE, …
	TableStatus *string `json:"tableStatus,omitempty"`
}

// Table is a DynamoDB table.
type Table struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              TableSpec   `json:"spec,omitempty"`
	Status            TableStatus `json:"status,omitempty"`
}

// TableList is a list of Tables.
type TableList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Table `json:"items"`
}

// DeepCopyObject implements runtime.Object.
func (t *Table) DeepCopyObject() runtime.Object { return t.DeepCopy() }

// DeepCopy returns a deep copy.
func (t *Table) DeepCopy() *Table {
	if t == nil {
		return nil
	}
	out := &Table{}
	ackv1alpha1.DeepCopyJSON(t, out)
	return out
}

// DeepCopyObject implements runtime.Object.
func (l *TableList) DeepCopyObject() runtime.Object {
	if l == nil {
		return nil
	}
	out := &TableList{}
	ackv1alpha1.DeepCopyJSON(l, out)
	return out
}

// ACKStatus returns the shared part of the status.
func (t *Table) ACKStatus() *ackv1alpha1.ResourceStatus { return &t.Status.ResourceStatus }
