package runtime

import (
	"context"
	"errors"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/smithy-go/middleware"

	"github.com/trellis-dev/trellis/pkg/metrics"
)

// instrument adds the middleware that counts every AWS API call made with
// cfg (ACK's ack_outbound_api_requests_total and _error_total), whatever
// the service: every ACK kind's client is made from the shared config.
func instrument(cfg *aws.Config) {
	cfg.APIOptions = append(cfg.APIOptions, func(stack *middleware.Stack) error {
		// Last of the initialize step: the service and operation are in
		// the context by then, and the retries happen further down, so
		// one call counts once, with its final outcome.
		return stack.Initialize.Add(countCalls, middleware.After)
	})
}

var countCalls = middleware.InitializeMiddlewareFunc("trellis.ack.metrics",
	func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
		out, md, err := next.HandleInitialize(ctx, in)
		status := 0
		var withStatus interface{ HTTPStatusCode() int }
		if errors.As(err, &withStatus) {
			status = withStatus.HTTPStatusCode()
		}
		metrics.AWSRequest(serviceLabel(awsmiddleware.GetServiceID(ctx)), awsmiddleware.GetOperationName(ctx), err != nil, status)
		return out, md, err
	})

// serviceLabel turns the SDK's service ID ("S3", "DynamoDB") into ACK's
// service label ("s3", "dynamodb").
func serviceLabel(id string) string {
	return strings.ToLower(strings.NewReplacer(" ", "", "-", "").Replace(id))
}
