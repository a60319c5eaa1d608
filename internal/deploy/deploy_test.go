package localcloud

import (
	"context"
	"io"
	"runtime"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/matryer/is"
)

// deployTemplate parses src and deploys it as stack on a fresh cloud.
func deployTemplate(t *testing.T, c *Cloud, stack, src string, params map[string]string) (*Deployer, *Template, *StackResult, error) {
	t.Helper()
	tmpl, err := ParseTemplate([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	b, err := testBuilder()
	if err != nil {
		t.Fatal(err)
	}
	d := &Deployer{Clients: c.Clients(), Stack: stack, Params: params, Code: b.Code(true), Logs: io.Discard}
	res, err := d.Deploy(context.Background(), tmpl)
	return d, tmpl, res, err
}

func TestDeployRefusesUnsupportedBeforeCreatingAnything(t *testing.T) {
	is := is.New(t)
	c := startCloud(t, nil)
	_, _, res, err := deployTemplate(t, c, "unsupported", `
Resources:
  Table:
    Type: AWS::DynamoDB::Table
    Properties:
      TableName: !Sub ${AWS::StackName}-t
      KeySchema: [{AttributeName: k, KeyType: HASH}]
      AttributeDefinitions: [{AttributeName: k, AttributeType: S}]
      BillingMode: PAY_PER_REQUEST
  Topic:
    Type: AWS::SNS::Topic
`, nil)
	is.True(err != nil)
	is.True(strings.Contains(err.Error(), "resource Topic: type AWS::SNS::Topic is not supported locally"))
	is.True(res == nil) // refused up front: nothing half-created
	_, err = c.Clients().DynamoDB.DescribeTable(context.Background(), describeTableInput("unsupported-t"))
	is.True(isNotFound(err))
}

// A failure part-way names the resource and what already exists, and a
// teardown then removes it.
func TestDeployFailureNamesResourceAndLeftovers(t *testing.T) {
	is := is.New(t)
	c := startCloud(t, nil)
	d, tmpl, res, err := deployTemplate(t, c, "halfway", `
Resources:
  Queue:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: !Sub ${AWS::StackName}-q
  Schedule:
    Type: AWS::Scheduler::Schedule
    Properties:
      Name: !Sub ${AWS::StackName}-s
      ScheduleExpression: rate(banana)
      FlexibleTimeWindow: {Mode: "OFF"}
      Target: {Arn: !GetAtt Queue.Arn, RoleArn: arn:aws:iam::000000000000:role/x}
`, nil)
	is.True(err != nil)
	msg := err.Error()
	is.True(strings.Contains(msg, "resource Schedule (AWS::Scheduler::Schedule)")) // names the failing resource
	is.True(strings.Contains(msg, "rate(banana)"))                                 // and the bad value
	is.True(strings.Contains(msg, "already deployed: Queue; run teardown"))        // and what exists
	is.Equal(len(res.Resources), 1)

	td, err := d.Teardown(context.Background(), tmpl)
	is.NoErr(err)
	is.Equal(len(td.Deleted), 1)
	is.Equal(len(td.Leftovers), 0)
}

func TestDeployChecksParameters(t *testing.T) {
	is := is.New(t)
	c := startCloud(t, nil)
	src := `
Parameters:
  Days: {Type: Number, Default: 30, MinValue: 1, MaxValue: 3650}
Resources:
  Queue:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: !Sub ${AWS::StackName}-${Days}
`
	_, _, _, err := deployTemplate(t, c, "params", src, map[string]string{"Days": "0"})
	is.True(err != nil)
	is.True(strings.Contains(err.Error(), "parameter Days=0 is out of range 1..3650"))
	_, _, _, err = deployTemplate(t, c, "params", src, map[string]string{"Weeks": "2"})
	is.True(err != nil)
	is.True(strings.Contains(err.Error(), "parameter Weeks is not declared in the template (it has Days)"))

	d, tmpl, res, err := deployTemplate(t, c, "params", src, map[string]string{"Days": "7"})
	is.NoErr(err)
	is.Equal(res.Resources[0].Name, "params-7") // the override reached the name
	td, err := d.Teardown(context.Background(), tmpl)
	is.NoErr(err)
	is.Equal(len(td.Leftovers), 0)
}

// A deploy to any endpoint other than the embedded cloud uploads the Linux
// build for the template's architecture.
func TestBuilderCodeForExternalEndpoint(t *testing.T) {
	is := is.New(t)
	b, err := testBuilder()
	is.NoErr(err)
	z, err := b.Code(false)(context.Background(), "arm64")
	is.NoErr(err)
	path := t.TempDir()
	bin, err := unpackBootstrap(z, path)
	is.NoErr(err)
	err = runnable(bin)
	if runtime.GOOS == "linux" && runtime.GOARCH == "arm64" {
		is.NoErr(err)
	} else {
		is.True(err != nil)
		is.True(strings.Contains(err.Error(), "built for linux/arm64")) // what AWS runs
	}
	_, err = b.Code(false)(context.Background(), "sparc")
	is.True(err != nil) // an unknown architecture is named
	is.True(strings.Contains(err.Error(), `"sparc"`))
}

func describeTableInput(name string) *dynamodb.DescribeTableInput {
	return &dynamodb.DescribeTableInput{TableName: &name}
}

// Updating a role in place leaves exactly the template's inline policies.
func TestRedeployDropsRemovedPolicies(t *testing.T) {
	is := is.New(t)
	c := startCloud(t, nil)
	role := func(policies string) string {
		return `
Resources:
  Role:
    Type: AWS::IAM::Role
    Properties:
      RoleName: !Sub ${AWS::StackName}-role
      AssumeRolePolicyDocument: {Version: "2012-10-17", Statement: []}
      Policies:` + policies
	}
	const read = `
        - PolicyName: read
          PolicyDocument: {Statement: [{Effect: Allow, Action: "s3:GetObject", Resource: "*"}]}`
	const write = `
        - PolicyName: write
          PolicyDocument: {Statement: [{Effect: Allow, Action: "s3:PutObject", Resource: "*"}]}`
	_, _, _, err := deployTemplate(t, c, "policies", role(read+write), nil)
	is.NoErr(err)
	d, tmpl, res, err := deployTemplate(t, c, "policies", role(read), nil)
	is.NoErr(err)
	is.Equal(res.Updated, 1)
	got, err := c.Clients().IAM.ListRolePolicies(context.Background(), &iam.ListRolePoliciesInput{RoleName: aws.String("policies-role")})
	is.NoErr(err)
	is.Equal(got.PolicyNames, []string{"read"}) // "write" left the template, so it left the role
	_, err = d.Teardown(context.Background(), tmpl)
	is.NoErr(err)
}
