package main

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/matryer/is"
)

func lookup(vars map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		v, ok := vars[name]
		return v, ok
	}
}

var lambdaEnv = map[string]string{
	"TABLE_NAME":            "rotcheck-audit",
	"AWS_REGION":            "eu-west-1",
	"AWS_ACCESS_KEY_ID":     "AKIA",
	"AWS_SECRET_ACCESS_KEY": "secret",
	"AWS_SESSION_TOKEN":     "token",
}

func with(extra map[string]string) map[string]string {
	vars := map[string]string{}
	for k, v := range lambdaEnv {
		vars[k] = v
	}
	for k, v := range extra {
		if v == "<unset>" {
			delete(vars, k)
			continue
		}
		vars[k] = v
	}
	return vars
}

func TestNewChecker(t *testing.T) {
	is := is.New(t)
	h, err := newChecker(lookup(lambdaEnv), slog.New(slog.NewTextHandler(io.Discard, nil)))
	is.NoErr(err)
	is.True(h != nil)
}

func TestNewCheckerErrors(t *testing.T) {
	tests := []struct {
		name string
		vars map[string]string
		want string
	}{
		{"no table", with(map[string]string{"TABLE_NAME": "<unset>"}), "TABLE_NAME is required"},
		{"bad max age", with(map[string]string{"MAX_AGE_DAYS": "soon"}), `MAX_AGE_DAYS="soon"`},
		{"no region", with(map[string]string{"AWS_REGION": "<unset>"}), "AWS_REGION is not set"},
		{"no credentials", with(map[string]string{"AWS_SECRET_ACCESS_KEY": "<unset>"}), "AWS_SECRET_ACCESS_KEY are not set"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			h, err := newChecker(lookup(tt.vars), slog.New(slog.NewTextHandler(io.Discard, nil)))
			is.True(err != nil) // every invocation will fail with this error
			is.True(h == nil)
			is.True(strings.Contains(err.Error(), tt.want))
			_, invokeErr := failing{err}.Invoke(context.Background(), []byte(`{}`))
			is.Equal(invokeErr, err) // what every invocation then answers
		})
	}
}

func TestAWSConfigRegionFallback(t *testing.T) {
	is := is.New(t)
	cfg, err := awsConfig(lookup(with(map[string]string{"AWS_REGION": "<unset>", "AWS_DEFAULT_REGION": "ap-south-1"})))
	is.NoErr(err)
	is.Equal(cfg.Region, "ap-south-1")
}

func TestEndpoint(t *testing.T) {
	tests := []struct {
		name string
		vars map[string]string
		want *string
	}{
		{"none", nil, nil},
		{"empty, as the template declares it", map[string]string{"AWS_ENDPOINT_URL": ""}, nil},
		{"global", map[string]string{"AWS_ENDPOINT_URL": "http://localhost:4566"}, aws.String("http://localhost:4566")},
		{"service wins", map[string]string{"AWS_ENDPOINT_URL": "http://a", "AWS_ENDPOINT_URL_DYNAMODB": "http://b"}, aws.String("http://b")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			is.Equal(endpoint(lookup(tt.vars), "DYNAMODB"), tt.want)
		})
	}
}
