package main

import (
	"context"
	"os"
	"path/filepath"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"k8s.io/client-go/rest"

	"github.com/trellis-dev/trellis/pkg/localaws"
)

// startLocalAWS starts moto next to the local cluster, points every
// ACK-compatible controller at it and installs what the seed RGDs need
// besides the ACK kinds (the SecretProviderClass CRD). It returns the
// server, stopped by the caller.
func startLocalAWS(ctx context.Context, cfg *rest.Config, logDir string, opts *controllerOptions) (*localaws.Server, error) {
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return nil, err
	}
	logFile, err := os.Create(filepath.Join(logDir, "moto.log"))
	if err != nil {
		return nil, err
	}
	srv, err := localaws.Start(ctx, 0, logFile)
	if err != nil {
		logFile.Close()
		return nil, err
	}
	rt := &opts.ACK.Runtime
	rt.EndpointURL = srv.Endpoint
	rt.Credentials = credentials.NewStaticCredentialsProvider(localaws.AccessKeyID, localaws.SecretAccessKey, "")
	if rt.Region == "" {
		rt.Region = localaws.Region
	}
	rt.S3UsePathStyle = true
	if err := localaws.InstallSecretProviderClassCRD(ctx, cfg); err != nil {
		srv.Stop()
		return nil, err
	}
	return srv, nil
}
