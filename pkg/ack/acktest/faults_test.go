package acktest

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/smithy-go"
)

// The injected errors are what the SDK itself parses as each protocol's
// throttling and server errors, and its standard retryer retries them
// (three attempts). No server behind the proxy is reached.
func TestFaultWireFormats(t *testing.T) {
	p := NewProxy(t, "http://127.0.0.1:1")
	cfg := aws.Config{Region: "us-west-2", BaseEndpoint: aws.String(p.Endpoint),
		Credentials: credentials.NewStaticCredentialsProvider("k", "s", ""),
		Retryer:     func() aws.Retryer { return retry.AddWithMaxBackoffDelay(retry.NewStandard(), 0) }}
	ctx := context.Background()
	calls := map[string]func() error{
		"iam": func() error {
			_, err := iam.NewFromConfig(cfg).GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String("r")})
			return err
		},
		"ec2": func() error { _, err := ec2.NewFromConfig(cfg).DescribeVpcs(ctx, &ec2.DescribeVpcsInput{}); return err },
		"dynamodb": func() error {
			_, err := dynamodb.NewFromConfig(cfg).DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String("t")})
			return err
		},
		"secretsmanager": func() error {
			_, err := secretsmanager.NewFromConfig(cfg).DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("s")})
			return err
		},
		"s3": func() error {
			_, err := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true }).ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("b")})
			return err
		},
	}
	throttle := map[string]string{"iam": "Throttling", "ec2": "RequestLimitExceeded", "dynamodb": "ThrottlingException",
		"secretsmanager": "ThrottlingException", "s3": "SlowDown"}
	for _, kind := range []FaultKind{Throttle, InternalError, Unavailable, Reset, Truncate} {
		for svc, call := range calls {
			if kind == Truncate {
				continue // needs an answer to truncate: the moto tests cover it
			}
			p.Inject(Fault{Kind: kind})
			n := p.Count()
			err := call()
			if err == nil {
				t.Fatalf("%s %s: no error", svc, kind)
			}
			if got := p.Count() - n; got != 3 {
				t.Errorf("%s %s: %d attempts, want the standard retryer's 3 (%v)", svc, kind, got, err)
			}
			var ae smithy.APIError
			switch kind {
			case Throttle:
				if !errors.As(err, &ae) || ae.ErrorCode() != throttle[svc] {
					t.Errorf("%s throttled: error %v, want code %s", svc, err, throttle[svc])
				}
			case InternalError, Unavailable:
				want := map[FaultKind]string{InternalError: "InternalError", Unavailable: "ServiceUnavailable"}[kind]
				if !errors.As(err, &ae) || ae.ErrorCode() != want {
					t.Errorf("%s %s: error %v, want code %s", svc, kind, err, want)
				}
			}
		}
	}
	p.Clear()
	if p.Injected() != 4*len(calls)*3 {
		t.Errorf("Injected() = %d, want %d", p.Injected(), 4*len(calls)*3)
	}
}

// A truncated answer always fails the call, also when it has no body to
// cut (HEAD, an empty 200), and the server behind the proxy was reached.
func TestTruncateFailsEveryAnswer(t *testing.T) {
	reached := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached++
		if r.URL.Path == "/body" {
			_, _ = w.Write([]byte("<Result><Name>answer</Name></Result>"))
		}
	}))
	defer srv.Close()
	p := NewProxy(t, srv.URL)
	p.Inject(Fault{Kind: Truncate})
	for _, c := range []struct{ method, path string }{{http.MethodHead, "/body"}, {http.MethodGet, "/empty"}, {http.MethodGet, "/body"}} {
		req, _ := http.NewRequest(c.method, p.Endpoint+c.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			_, err = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		if err == nil {
			t.Errorf("%s %s through a truncating proxy: no error", c.method, c.path)
		}
	}
	if reached != 3 {
		t.Errorf("server reached %d times, want 3 (a truncated answer is sent after the server acted)", reached)
	}
}
