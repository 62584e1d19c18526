package runtime

import (
	"context"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/arn"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/go-logr/logr"
)

// Config is the runtime configuration shared by every ACK kind.
type Config struct {
	// Region is the default region (--aws-region, else the SDK's AWS_REGION
	// or shared config, else us-east-1).
	Region string
	// DefaultAccountID is used when STS GetCallerIdentity does not answer.
	DefaultAccountID string
	// DeletionPolicy is the default deletion policy: delete or retain.
	DeletionPolicy string
	// ResyncPeriod is the requeue delay of a synced resource (drift correction).
	ResyncPeriod time.Duration
	// NotSyncedRequeue is the requeue delay of a resource that has not yet
	// reached its desired state (e.g. a table still CREATING).
	NotSyncedRequeue time.Duration
	// MaxConcurrentSyncs is the number of parallel reconciles per kind.
	MaxConcurrentSyncs int
	// S3UsePathStyle addresses buckets path-style (needed by most
	// S3-compatible servers).
	S3UsePathStyle bool
	// IdentityTimeout bounds the STS GetCallerIdentity call.
	IdentityTimeout time.Duration
	// EndpointURL sends every service's calls to one endpoint (e.g. a local
	// AWS-compatible server); empty keeps the SDK's resolution, which also
	// honours AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_<SERVICE>.
	EndpointURL string
	// Credentials replaces the SDK's credential chain when set.
	Credentials aws.CredentialsProvider
}

// Identity is the AWS account the controllers act as.
type Identity struct {
	AccountID string
	Partition string
}

// callTimeout bounds one attempt of an AWS API call (control-plane calls
// answer in seconds).
const callTimeout = 15 * time.Second

// AWS holds the loaded SDK configuration and the caller identity.
type AWS struct {
	Config aws.Config
	cfg    Config
	log    logr.Logger

	idOnce sync.Once
	id     Identity
}

// LoadAWS loads the SDK configuration with the standard credential chain and
// the SDK's endpoint overrides (AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_S3,
// AWS_ENDPOINT_URL_DYNAMODB, AWS_ENDPOINT_URL_STS, …).
func LoadAWS(ctx context.Context, cfg Config, log logr.Logger) (*AWS, error) {
	var opts []func(*awsconfig.LoadOptions) error
	if cfg.Region != "" {
		opts = append(opts, awsconfig.WithRegion(cfg.Region))
	}
	if cfg.EndpointURL != "" {
		opts = append(opts, awsconfig.WithBaseEndpoint(cfg.EndpointURL))
	}
	if cfg.Credentials != nil {
		opts = append(opts, awsconfig.WithCredentialsProvider(cfg.Credentials))
	}
	// A call that never answers must not hold a worker: each attempt ends
	// after callTimeout and counts as a transient failure (the SDK tries three times, then the resource is Recoverable and requeued).
	opts = append(opts, awsconfig.WithHTTPClient(awshttp.NewBuildableClient().WithTimeout(callTimeout)))
	c, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, err
	}
	if c.Region == "" {
		c.Region = "us-east-1"
		log.Info("no AWS region configured (--aws-region, AWS_REGION); using us-east-1")
	}
	cfg.Region = c.Region
	instrument(&c) // ack_outbound_api_requests_* for every service (metrics.go)
	if cfg.IdentityTimeout == 0 {
		cfg.IdentityTimeout = 10 * time.Second
	}
	return &AWS{Config: c, cfg: cfg, log: log}, nil
}

// Region is the default region.
func (a *AWS) Region() string { return a.cfg.Region }

// Identity returns the account id and partition, asking STS
// GetCallerIdentity once per process. When STS does not answer, it logs that
// once and uses the configured default account id, so reconciles go on.
func (a *AWS) Identity(ctx context.Context) Identity {
	a.idOnce.Do(func() {
		a.id = Identity{AccountID: a.cfg.DefaultAccountID, Partition: "aws"}
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.cfg.IdentityTimeout)
		defer cancel()
		out, err := sts.NewFromConfig(a.Config, func(o *sts.Options) { o.RetryMaxAttempts = 1 }).
			GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		if err != nil {
			a.log.Info("STS GetCallerIdentity failed; using the default account id",
				"defaultAccountID", a.cfg.DefaultAccountID, "error", AWSErrorMessage(err))
			return
		}
		if out.Account != nil {
			a.id.AccountID = *out.Account
		}
		if out.Arn != nil {
			if parsed, err := arn.Parse(*out.Arn); err == nil && parsed.Partition != "" {
				a.id.Partition = parsed.Partition
			}
		}
		a.log.Info("AWS identity", "accountID", a.id.AccountID, "partition", a.id.Partition)
	})
	return a.id
}

// EnvRegion returns the region from the environment, for flag defaults.
func EnvRegion() string {
	for _, k := range []string{"AWS_REGION", "AWS_DEFAULT_REGION"} {
		if v := strings.TrimSpace(os.Getenv(k)); v != "" {
			return v
		}
	}
	return ""
}
