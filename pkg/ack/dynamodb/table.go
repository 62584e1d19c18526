// Package dynamodb implements the ACK-compatible dynamodb.services.k8s.aws
// Table.
//
// ReadOne calls DescribeTable, plus ListTagsOfResource only when the spec
// manages tags. Updates go one UpdateTable change at a time (DynamoDB allows
// one of throughput/billing, streams, or one index change per call) and only
// while the table is ACTIVE; the resource is requeued until all are applied.
package dynamodb

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	ackv1alpha1 "github.com/trellis-dev/trellis/api/ack/core/v1alpha1"
	v1 "github.com/trellis-dev/trellis/api/ack/dynamodb/v1alpha1"
	ackrt "github.com/trellis-dev/trellis/pkg/ack/runtime"
)

// TableManager implements runtime.Manager for Table.
type TableManager struct{}

var _ ackrt.Manager[*v1.Table] = TableManager{}

// Service implements runtime.Manager.
func (TableManager) Service() string { return "dynamodb" }

// Kind implements runtime.Manager.
func (TableManager) Kind() string { return "Table" }

// New implements runtime.Manager.
func (TableManager) New() *v1.Table { return &v1.Table{} }

// Classifier implements runtime.Manager.
func (TableManager) Classifier() ackrt.Classifier {
	return ackrt.Classifier{
		NotFoundCodes: []string{"ResourceNotFoundException"},
		TerminalCodes: []string{"InvalidParameter", "ValidationException"},
	}
}

func client(env ackrt.Env) *dynamodb.Client { return dynamodb.NewFromConfig(env.AWS) }

// AdoptionFields implements runtime.Manager: {"tableName": "..."}.
func (TableManager) AdoptionFields(t *v1.Table, fields map[string]string) error {
	name := fields["tableName"]
	if name == "" {
		return errors.New(`"tableName" is required`)
	}
	t.Spec.TableName = &name
	return nil
}

// Validate implements runtime.Manager. spec.tableName cannot change once
// the table exists (ACK's CRD has no rule for it; changing it would orphan
// the table).
func (TableManager) Validate(t *v1.Table) error {
	name := aws.ToString(t.Spec.TableName)
	if name == "" {
		return ackrt.Terminal("spec.tableName is required")
	}
	if md := t.Status.ACKResourceMetadata; md != nil && md.ARN != nil {
		if a := string(*md.ARN); !strings.HasSuffix(a, ":table/"+name) {
			return ackrt.Terminal("spec.tableName is immutable: this resource manages %s", a)
		}
	}
	return nil
}

// ARN implements runtime.Manager: the TableArn DescribeTable returned.
func (TableManager) ARN(_ ackrt.Env, t *v1.Table) string {
	if md := t.Status.ACKResourceMetadata; md != nil && md.ARN != nil {
		return string(*md.ARN)
	}
	return ""
}

func keySchemaFrom(ks []ddbtypes.KeySchemaElement) []*v1.KeySchemaElement {
	var out []*v1.KeySchemaElement
	for _, k := range ks {
		out = append(out, &v1.KeySchemaElement{AttributeName: k.AttributeName, KeyType: aws.String(string(k.KeyType))})
	}
	return out
}

func keySchemaTo(ks []*v1.KeySchemaElement) []ddbtypes.KeySchemaElement {
	var out []ddbtypes.KeySchemaElement
	for _, k := range ks {
		if k != nil {
			out = append(out, ddbtypes.KeySchemaElement{AttributeName: k.AttributeName, KeyType: ddbtypes.KeyType(aws.ToString(k.KeyType))})
		}
	}
	return out
}

func projectionFrom(p *ddbtypes.Projection) *v1.Projection {
	if p == nil {
		return nil
	}
	out := &v1.Projection{ProjectionType: aws.String(string(p.ProjectionType))}
	for _, a := range p.NonKeyAttributes {
		out.NonKeyAttributes = append(out.NonKeyAttributes, aws.String(a))
	}
	return out
}

func projectionTo(p *v1.Projection) *ddbtypes.Projection {
	if p == nil {
		return nil
	}
	out := &ddbtypes.Projection{ProjectionType: ddbtypes.ProjectionType(aws.ToString(p.ProjectionType))}
	for _, a := range p.NonKeyAttributes {
		out.NonKeyAttributes = append(out.NonKeyAttributes, aws.ToString(a))
	}
	return out
}

func throughputTo(p *v1.ProvisionedThroughput) *ddbtypes.ProvisionedThroughput {
	if p == nil {
		return nil
	}
	return &ddbtypes.ProvisionedThroughput{ReadCapacityUnits: p.ReadCapacityUnits, WriteCapacityUnits: p.WriteCapacityUnits}
}

func billingMode(t *v1.Table) string {
	if m := aws.ToString(t.Spec.BillingMode); m != "" {
		return m
	}
	return string(ddbtypes.BillingModeProvisioned)
}

// ReadOne implements runtime.Manager.
func (TableManager) ReadOne(ctx context.Context, env ackrt.Env, desired *v1.Table) (*v1.Table, error) {
	c := client(env)
	out, err := c.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: desired.Spec.TableName})
	if err != nil {
		return nil, err
	}
	d := out.Table
	latest := desired.DeepCopy()
	s := v1.TableSpec{TableName: d.TableName, KeySchema: keySchemaFrom(d.KeySchema)}
	for _, a := range d.AttributeDefinitions {
		s.AttributeDefinitions = append(s.AttributeDefinitions, &v1.AttributeDefinition{AttributeName: a.AttributeName, AttributeType: aws.String(string(a.AttributeType))})
	}
	mode := string(ddbtypes.BillingModeProvisioned)
	if d.BillingModeSummary != nil && d.BillingModeSummary.BillingMode != "" {
		mode = string(d.BillingModeSummary.BillingMode)
	}
	s.BillingMode = aws.String(mode)
	provisioned := mode == string(ddbtypes.BillingModeProvisioned)
	if provisioned && d.ProvisionedThroughput != nil {
		s.ProvisionedThroughput = &v1.ProvisionedThroughput{ReadCapacityUnits: d.ProvisionedThroughput.ReadCapacityUnits, WriteCapacityUnits: d.ProvisionedThroughput.WriteCapacityUnits}
	}
	latest.Status.GlobalSecondaryIndexesDescriptions = nil
	for _, g := range d.GlobalSecondaryIndexes {
		gsi := &v1.GlobalSecondaryIndex{IndexName: g.IndexName, KeySchema: keySchemaFrom(g.KeySchema), Projection: projectionFrom(g.Projection)}
		desc := &v1.GlobalSecondaryIndexDescription{
			Backfilling: g.Backfilling, IndexARN: g.IndexArn, IndexName: g.IndexName, IndexSizeBytes: g.IndexSizeBytes,
			IndexStatus: aws.String(string(g.IndexStatus)), ItemCount: g.ItemCount, KeySchema: gsi.KeySchema, Projection: gsi.Projection,
		}
		if g.ProvisionedThroughput != nil {
			desc.ProvisionedThroughput = &v1.IndexProvisionedThroughputDescription{ReadCapacityUnits: g.ProvisionedThroughput.ReadCapacityUnits, WriteCapacityUnits: g.ProvisionedThroughput.WriteCapacityUnits}
			if provisioned {
				gsi.ProvisionedThroughput = &v1.ProvisionedThroughput{ReadCapacityUnits: g.ProvisionedThroughput.ReadCapacityUnits, WriteCapacityUnits: g.ProvisionedThroughput.WriteCapacityUnits}
			}
		}
		s.GlobalSecondaryIndexes = append(s.GlobalSecondaryIndexes, gsi)
		latest.Status.GlobalSecondaryIndexesDescriptions = append(latest.Status.GlobalSecondaryIndexesDescriptions, desc)
	}
	for _, l := range d.LocalSecondaryIndexes {
		s.LocalSecondaryIndexes = append(s.LocalSecondaryIndexes, &v1.LocalSecondaryIndex{IndexName: l.IndexName, KeySchema: keySchemaFrom(l.KeySchema), Projection: projectionFrom(l.Projection)})
	}
	if ss := d.StreamSpecification; ss != nil {
		s.StreamSpecification = &v1.StreamSpecification{StreamEnabled: ss.StreamEnabled}
		if ss.StreamViewType != "" {
			s.StreamSpecification.StreamViewType = aws.String(string(ss.StreamViewType))
		}
	}
	if d.TableClassSummary != nil && d.TableClassSummary.TableClass != "" {
		s.TableClass = aws.String(string(d.TableClassSummary.TableClass))
	}
	s.DeletionProtectionEnabled = d.DeletionProtectionEnabled
	switch {
	case desired.Spec.Tags == nil || d.TableArn == nil:
	case d.TableStatus == ddbtypes.TableStatusCreating || d.TableStatus == ddbtypes.TableStatusDeleting:
		// Tags of a table still being created may not be readable yet;
		// they are compared (and written) once it is ACTIVE. A table being
		// deleted may vanish between the two calls; its tags do not matter.
		s.Tags = desired.Spec.Tags
	default:
		s.Tags = []*v1.Tag{}
		var next *string
		for {
			tags, err := c.ListTagsOfResource(ctx, &dynamodb.ListTagsOfResourceInput{ResourceArn: d.TableArn, NextToken: next})
			if err != nil {
				// The table exists: a NotFound here must not look like
				// a missing table (that would trigger a create).
				return nil, fmt.Errorf("listing tags of %s: %s", *d.TableArn, ackrt.AWSErrorMessage(err))
			}
			for _, t := range tags.Tags {
				s.Tags = append(s.Tags, &v1.Tag{Key: t.Key, Value: t.Value})
			}
			if next = tags.NextToken; next == nil {
				break
			}
		}
	}
	latest.Spec = s

	st := &latest.Status
	st.TableStatus = aws.String(string(d.TableStatus))
	st.TableID = d.TableId
	st.ItemCount = d.ItemCount
	st.TableSizeBytes = d.TableSizeBytes
	st.LatestStreamARN = d.LatestStreamArn
	st.LatestStreamLabel = d.LatestStreamLabel
	st.CreationDateTime = nil
	if d.CreationDateTime != nil {
		t := metav1.NewTime(*d.CreationDateTime)
		st.CreationDateTime = &t
	}
	if d.TableArn != nil {
		a := ackv1alpha1.ARN(*d.TableArn)
		if st.ACKResourceMetadata == nil {
			st.ACKResourceMetadata = &ackv1alpha1.ResourceMetadata{}
		}
		st.ACKResourceMetadata.ARN = &a
	}
	return latest, nil
}

// Create implements runtime.Manager.
func (m TableManager) Create(ctx context.Context, env ackrt.Env, desired *v1.Table) (*v1.Table, error) {
	s := desired.Spec
	in := &dynamodb.CreateTableInput{
		TableName:                 s.TableName,
		KeySchema:                 keySchemaTo(s.KeySchema),
		ProvisionedThroughput:     throughputTo(s.ProvisionedThroughput),
		DeletionProtectionEnabled: s.DeletionProtectionEnabled,
	}
	if s.BillingMode != nil {
		in.BillingMode = ddbtypes.BillingMode(*s.BillingMode)
	}
	if s.TableClass != nil {
		in.TableClass = ddbtypes.TableClass(*s.TableClass)
	}
	for _, a := range s.AttributeDefinitions {
		if a != nil {
			in.AttributeDefinitions = append(in.AttributeDefinitions, ddbtypes.AttributeDefinition{AttributeName: a.AttributeName, AttributeType: ddbtypes.ScalarAttributeType(aws.ToString(a.AttributeType))})
		}
	}
	for _, g := range s.GlobalSecondaryIndexes {
		if g != nil {
			in.GlobalSecondaryIndexes = append(in.GlobalSecondaryIndexes, ddbtypes.GlobalSecondaryIndex{
				IndexName: g.IndexName, KeySchema: keySchemaTo(g.KeySchema), Projection: projectionTo(g.Projection), ProvisionedThroughput: throughputTo(g.ProvisionedThroughput),
			})
		}
	}
	for _, l := range s.LocalSecondaryIndexes {
		if l != nil {
			in.LocalSecondaryIndexes = append(in.LocalSecondaryIndexes, ddbtypes.LocalSecondaryIndex{IndexName: l.IndexName, KeySchema: keySchemaTo(l.KeySchema), Projection: projectionTo(l.Projection)})
		}
	}
	if ss := s.StreamSpecification; ss != nil {
		in.StreamSpecification = &ddbtypes.StreamSpecification{StreamEnabled: ss.StreamEnabled, StreamViewType: ddbtypes.StreamViewType(aws.ToString(ss.StreamViewType))}
	}
	for _, t := range s.Tags {
		if t != nil {
			in.Tags = append(in.Tags, ddbtypes.Tag{Key: t.Key, Value: t.Value})
		}
	}
	out, err := client(env).CreateTable(ctx, in)
	if err != nil {
		return nil, err
	}
	created := desired.DeepCopy()
	if d := out.TableDescription; d != nil {
		created.Status.TableStatus = aws.String(string(d.TableStatus))
		created.Status.TableID = d.TableId
		if d.TableArn != nil {
			a := ackv1alpha1.ARN(*d.TableArn)
			created.Status.ACKResourceMetadata = &ackv1alpha1.ResourceMetadata{ARN: &a}
		}
	}
	return created, nil
}

func tagMap(tags []*v1.Tag) map[string]string {
	m := map[string]string{}
	for _, t := range tags {
		if t != nil {
			m[aws.ToString(t.Key)] = aws.ToString(t.Value)
		}
	}
	return m
}

func equalThroughput(a, b *v1.ProvisionedThroughput) bool {
	if a == nil {
		return true // unmanaged
	}
	if b == nil {
		return false
	}
	return aws.ToInt64(a.ReadCapacityUnits) == aws.ToInt64(b.ReadCapacityUnits) && aws.ToInt64(a.WriteCapacityUnits) == aws.ToInt64(b.WriteCapacityUnits)
}

func gsiByName(l []*v1.GlobalSecondaryIndex) map[string]*v1.GlobalSecondaryIndex {
	m := map[string]*v1.GlobalSecondaryIndex{}
	for _, g := range l {
		if g != nil {
			m[aws.ToString(g.IndexName)] = g
		}
	}
	return m
}

func equalProjection(a, b *v1.Projection) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	if aws.ToString(a.ProjectionType) != aws.ToString(b.ProjectionType) {
		return false
	}
	var x, y []string
	for _, s := range a.NonKeyAttributes {
		x = append(x, aws.ToString(s))
	}
	for _, s := range b.NonKeyAttributes {
		y = append(y, aws.ToString(s))
	}
	sort.Strings(x)
	sort.Strings(y)
	return reflect.DeepEqual(x, y)
}

// gsiChanges lists index names to delete, to create, and whose throughput
// differs. An index whose key schema or projection changed is deleted and
// then created again.
func gsiChanges(desired, latest *v1.Table) (del, create, throughput []string) {
	want, have := gsiByName(desired.Spec.GlobalSecondaryIndexes), gsiByName(latest.Spec.GlobalSecondaryIndexes)
	for name, h := range have {
		w, ok := want[name]
		if !ok || !reflect.DeepEqual(keySchemaTo(w.KeySchema), keySchemaTo(h.KeySchema)) || !equalProjection(w.Projection, h.Projection) {
			del = append(del, name)
			continue
		}
		if billingMode(desired) == string(ddbtypes.BillingModeProvisioned) && !equalThroughput(w.ProvisionedThroughput, h.ProvisionedThroughput) {
			throughput = append(throughput, name)
		}
	}
	for name := range want {
		if _, ok := have[name]; !ok {
			create = append(create, name)
		}
	}
	sort.Strings(del)
	sort.Strings(create)
	sort.Strings(throughput)
	return del, create, throughput
}

// Delta implements runtime.Manager.
func (TableManager) Delta(desired, latest *v1.Table) []string {
	var d []string
	ds, ls := desired.Spec, latest.Spec
	if ds.BillingMode != nil && *ds.BillingMode != aws.ToString(ls.BillingMode) {
		d = append(d, "spec.billingMode")
	}
	if billingMode(desired) == string(ddbtypes.BillingModeProvisioned) && !equalThroughput(ds.ProvisionedThroughput, ls.ProvisionedThroughput) {
		d = append(d, "spec.provisionedThroughput")
	}
	if ds.TableClass != nil && *ds.TableClass != aws.ToString(ls.TableClass) {
		d = append(d, "spec.tableClass")
	}
	if ds.DeletionProtectionEnabled != nil && *ds.DeletionProtectionEnabled != aws.ToBool(ls.DeletionProtectionEnabled) {
		d = append(d, "spec.deletionProtectionEnabled")
	}
	if w := ds.StreamSpecification; w != nil {
		var h v1.StreamSpecification
		if ls.StreamSpecification != nil {
			h = *ls.StreamSpecification
		}
		if aws.ToBool(w.StreamEnabled) != aws.ToBool(h.StreamEnabled) ||
			(aws.ToBool(w.StreamEnabled) && aws.ToString(w.StreamViewType) != aws.ToString(h.StreamViewType)) {
			d = append(d, "spec.streamSpecification")
		}
	}
	if ds.GlobalSecondaryIndexes != nil {
		if del, create, tp := gsiChanges(desired, latest); len(del)+len(create)+len(tp) > 0 {
			d = append(d, "spec.globalSecondaryIndexes")
		}
	}
	if ds.Tags != nil && !reflect.DeepEqual(tagMap(ds.Tags), tagMap(ls.Tags)) {
		d = append(d, "spec.tags")
	}
	return d
}

func has(delta []string, path string) bool {
	for _, p := range delta {
		if p == path {
			return true
		}
	}
	return false
}

// Update implements runtime.Manager.
func (m TableManager) Update(ctx context.Context, env ackrt.Env, desired, latest *v1.Table, delta []string) (*v1.Table, error) {
	status := aws.ToString(latest.Status.TableStatus)
	if status != string(ddbtypes.TableStatusActive) {
		return nil, ackrt.RequeueAfter(env.Config.NotSyncedRequeue, "table is %s; waiting to update %s", status, strings.Join(delta, ", "))
	}
	for _, g := range latest.Status.GlobalSecondaryIndexesDescriptions {
		if s := aws.ToString(g.IndexStatus); s != string(ddbtypes.IndexStatusActive) {
			return nil, ackrt.RequeueAfter(env.Config.NotSyncedRequeue, "index %s is %s; waiting to update %s", aws.ToString(g.IndexName), s, strings.Join(delta, ", "))
		}
	}
	c := client(env)
	arn := m.ARN(env, latest)
	if has(delta, "spec.tags") {
		want, have := tagMap(desired.Spec.Tags), tagMap(latest.Spec.Tags)
		var remove []string
		for k := range have {
			if _, ok := want[k]; !ok {
				remove = append(remove, k)
			}
		}
		sort.Strings(remove)
		if len(remove) > 0 {
			if _, err := c.UntagResource(ctx, &dynamodb.UntagResourceInput{ResourceArn: &arn, TagKeys: remove}); err != nil {
				return nil, err
			}
		}
		var add []ddbtypes.Tag
		for k, v := range want {
			if hv, ok := have[k]; !ok || hv != v {
				add = append(add, ddbtypes.Tag{Key: aws.String(k), Value: aws.String(v)})
			}
		}
		sort.Slice(add, func(i, j int) bool { return *add[i].Key < *add[j].Key })
		if len(add) > 0 {
			if _, err := c.TagResource(ctx, &dynamodb.TagResourceInput{ResourceArn: &arn, Tags: add}); err != nil {
				return nil, err
			}
		}
	}

	// One UpdateTable per loop; later changes follow once the table is ACTIVE again.
	in := &dynamodb.UpdateTableInput{TableName: desired.Spec.TableName}
	switch {
	case has(delta, "spec.billingMode") || has(delta, "spec.provisionedThroughput") || has(delta, "spec.tableClass") || has(delta, "spec.deletionProtectionEnabled"):
		if has(delta, "spec.billingMode") || has(delta, "spec.provisionedThroughput") {
			in.BillingMode = ddbtypes.BillingMode(billingMode(desired))
			if in.BillingMode == ddbtypes.BillingModeProvisioned {
				in.ProvisionedThroughput = throughputTo(desired.Spec.ProvisionedThroughput)
				// Indexes need capacity too when switching to PROVISIONED.
				if has(delta, "spec.billingMode") {
					for _, g := range desired.Spec.GlobalSecondaryIndexes {
						if g != nil && g.ProvisionedThroughput != nil {
							in.GlobalSecondaryIndexUpdates = append(in.GlobalSecondaryIndexUpdates, ddbtypes.GlobalSecondaryIndexUpdate{
								Update: &ddbtypes.UpdateGlobalSecondaryIndexAction{IndexName: g.IndexName, ProvisionedThroughput: throughputTo(g.ProvisionedThroughput)}})
						}
					}
				}
			}
		}
		if has(delta, "spec.tableClass") {
			in.TableClass = ddbtypes.TableClass(aws.ToString(desired.Spec.TableClass))
		}
		if has(delta, "spec.deletionProtectionEnabled") {
			in.DeletionProtectionEnabled = desired.Spec.DeletionProtectionEnabled
		}
	case has(delta, "spec.streamSpecification"):
		ss := desired.Spec.StreamSpecification
		in.StreamSpecification = &ddbtypes.StreamSpecification{StreamEnabled: aws.Bool(aws.ToBool(ss.StreamEnabled))}
		if aws.ToBool(ss.StreamEnabled) {
			in.StreamSpecification.StreamViewType = ddbtypes.StreamViewType(aws.ToString(ss.StreamViewType))
		}
	case has(delta, "spec.globalSecondaryIndexes"):
		del, create, tp := gsiChanges(desired, latest)
		want := gsiByName(desired.Spec.GlobalSecondaryIndexes)
		switch {
		case len(del) > 0:
			in.GlobalSecondaryIndexUpdates = []ddbtypes.GlobalSecondaryIndexUpdate{{Delete: &ddbtypes.DeleteGlobalSecondaryIndexAction{IndexName: aws.String(del[0])}}}
		case len(create) > 0:
			g := want[create[0]]
			in.GlobalSecondaryIndexUpdates = []ddbtypes.GlobalSecondaryIndexUpdate{{Create: &ddbtypes.CreateGlobalSecondaryIndexAction{
				IndexName: g.IndexName, KeySchema: keySchemaTo(g.KeySchema), Projection: projectionTo(g.Projection), ProvisionedThroughput: throughputTo(g.ProvisionedThroughput)}}}
			for _, a := range desired.Spec.AttributeDefinitions {
				if a != nil {
					in.AttributeDefinitions = append(in.AttributeDefinitions, ddbtypes.AttributeDefinition{AttributeName: a.AttributeName, AttributeType: ddbtypes.ScalarAttributeType(aws.ToString(a.AttributeType))})
				}
			}
		default:
			for _, name := range tp {
				in.GlobalSecondaryIndexUpdates = append(in.GlobalSecondaryIndexUpdates, ddbtypes.GlobalSecondaryIndexUpdate{
					Update: &ddbtypes.UpdateGlobalSecondaryIndexAction{IndexName: aws.String(name), ProvisionedThroughput: throughputTo(want[name].ProvisionedThroughput)}})
			}
		}
	default:
		return m.ReadOne(ctx, env, desired)
	}
	if _, err := c.UpdateTable(ctx, in); err != nil {
		return nil, err
	}
	return m.ReadOne(ctx, env, desired)
}

// Delete implements runtime.Manager. Deletion is asynchronous: the
// resource is requeued until DescribeTable no longer finds the table.
func (TableManager) Delete(ctx context.Context, env ackrt.Env, latest *v1.Table) (bool, error) {
	if aws.ToString(latest.Status.TableStatus) == string(ddbtypes.TableStatusDeleting) {
		return false, nil
	}
	_, err := client(env).DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: latest.Spec.TableName})
	return false, err
}

// IsSynced implements runtime.Manager: ACTIVE (or ARCHIVED) with every
// index ACTIVE. A table being deleted or archived never converges.
func (TableManager) IsSynced(t *v1.Table) (bool, string, error) {
	s := aws.ToString(t.Status.TableStatus)
	switch ddbtypes.TableStatus(s) {
	case ddbtypes.TableStatusActive, ddbtypes.TableStatusArchived:
	case ddbtypes.TableStatusDeleting, ddbtypes.TableStatusArchiving:
		return false, "", ackrt.Terminal("table is %s", s)
	default:
		return false, fmt.Sprintf("table is %s", s), nil
	}
	for _, g := range t.Status.GlobalSecondaryIndexesDescriptions {
		if is := aws.ToString(g.IndexStatus); is != string(ddbtypes.IndexStatusActive) {
			return false, fmt.Sprintf("index %s is %s", aws.ToString(g.IndexName), is), nil
		}
	}
	return true, "", nil
}

// LateInitialize implements runtime.Manager: billingMode, tableClass and
// (for PROVISIONED tables) provisionedThroughput default on the server.
func (TableManager) LateInitialize(desired, latest *v1.Table) bool {
	changed := false
	if desired.Spec.BillingMode == nil && latest.Spec.BillingMode != nil {
		desired.Spec.BillingMode = latest.Spec.BillingMode
		changed = true
	}
	if desired.Spec.TableClass == nil && latest.Spec.TableClass != nil {
		desired.Spec.TableClass = latest.Spec.TableClass
		changed = true
	}
	return changed
}

// ReadForAdoption implements runtime.AdoptionReader: DescribeTable already
// returns the whole table; tags are read too.
func (m TableManager) ReadForAdoption(ctx context.Context, env ackrt.Env, desired *v1.Table) (*v1.Table, error) {
	all := desired.DeepCopy()
	all.Spec.Tags = []*v1.Tag{}
	latest, err := m.ReadOne(ctx, env, all)
	if err != nil {
		return nil, err
	}
	if len(latest.Spec.Tags) == 0 {
		latest.Spec.Tags = nil
	}
	return latest, nil
}
