package demo

import (
	"context"
	"fmt"
	"sort"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/trellis-dev/trellis/pkg/localaws"
)

// awsInventory lists, through the AWS APIs, every resource of the kinds the
// examples create: "<kind> <id>" -> true. Defaults that exist in every
// account (the default VPC, its subnets and security groups, AWS-managed
// policies) are left out.
func awsInventory(ctx context.Context, endpoint string) (map[string]bool, error) {
	cfg := aws.Config{
		Region:       localaws.Region,
		BaseEndpoint: aws.String(endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider(localaws.AccessKeyID, localaws.SecretAccessKey, ""),
	}
	out := map[string]bool{}
	add := func(kind string, ids ...*string) {
		for _, id := range ids {
			out[kind+" "+aws.ToString(id)] = true
		}
	}
	s3c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	buckets, err := s3c.ListBuckets(ctx, &s3.ListBucketsInput{})
	if err != nil {
		return nil, fmt.Errorf("listing buckets: %w", err)
	}
	for _, b := range buckets.Buckets {
		add("s3 bucket", b.Name)
	}
	tables, err := dynamodb.NewFromConfig(cfg).ListTables(ctx, &dynamodb.ListTablesInput{})
	if err != nil {
		return nil, fmt.Errorf("listing tables: %w", err)
	}
	for _, t := range tables.TableNames {
		add("dynamodb table", aws.String(t))
	}
	iamc := iam.NewFromConfig(cfg)
	pols, err := iamc.ListPolicies(ctx, &iam.ListPoliciesInput{Scope: iamtypes.PolicyScopeTypeLocal})
	if err != nil {
		return nil, fmt.Errorf("listing policies: %w", err)
	}
	for _, p := range pols.Policies {
		add("iam policy", p.Arn)
	}
	roles, err := iamc.ListRoles(ctx, &iam.ListRolesInput{})
	if err != nil {
		return nil, fmt.Errorf("listing roles: %w", err)
	}
	for _, r := range roles.Roles {
		add("iam role", r.Arn)
	}
	ec2c := ec2.NewFromConfig(cfg)
	vpcs, err := ec2c.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{})
	if err != nil {
		return nil, fmt.Errorf("listing VPCs: %w", err)
	}
	for _, v := range vpcs.Vpcs {
		if !aws.ToBool(v.IsDefault) {
			add("ec2 vpc", v.VpcId)
		}
	}
	subnets, err := ec2c.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{})
	if err != nil {
		return nil, fmt.Errorf("listing subnets: %w", err)
	}
	for _, sn := range subnets.Subnets {
		if !aws.ToBool(sn.DefaultForAz) {
			add("ec2 subnet", sn.SubnetId)
		}
	}
	groups, err := ec2c.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{})
	if err != nil {
		return nil, fmt.Errorf("listing security groups: %w", err)
	}
	for _, g := range groups.SecurityGroups {
		if aws.ToString(g.GroupName) != "default" {
			add("ec2 security group", g.GroupId)
		}
	}
	rdsc := rds.NewFromConfig(cfg)
	dbs, err := rdsc.DescribeDBInstances(ctx, &rds.DescribeDBInstancesInput{})
	if err != nil {
		return nil, fmt.Errorf("listing DB instances: %w", err)
	}
	for _, db := range dbs.DBInstances {
		add("rds db instance", db.DBInstanceIdentifier)
	}
	sgs, err := rdsc.DescribeDBSubnetGroups(ctx, &rds.DescribeDBSubnetGroupsInput{})
	if err != nil {
		return nil, fmt.Errorf("listing DB subnet groups: %w", err)
	}
	for _, g := range sgs.DBSubnetGroups {
		if aws.ToString(g.DBSubnetGroupName) != "default" {
			add("rds db subnet group", g.DBSubnetGroupName)
		}
	}
	secrets, err := secretsmanager.NewFromConfig(cfg).ListSecrets(ctx, &secretsmanager.ListSecretsInput{})
	if err != nil {
		return nil, fmt.Errorf("listing secrets: %w", err)
	}
	for _, sec := range secrets.SecretList {
		if sec.DeletedDate == nil {
			add("secretsmanager secret", sec.Name)
		}
	}
	queues, err := sqs.NewFromConfig(cfg).ListQueues(ctx, &sqs.ListQueuesInput{})
	if err != nil {
		return nil, fmt.Errorf("listing queues: %w", err)
	}
	for _, q := range queues.QueueUrls {
		add("sqs queue", aws.String(q))
	}
	return out, nil
}

// leftovers lists what after has that before had not.
func leftovers(before, after map[string]bool) []string {
	var out []string
	for k := range after {
		if !before[k] {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}
