package deploy

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	ltypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/matryer/is"

	"github.com/rotation-audit/rotation-audit/internal/localcloud"
	"github.com/rotation-audit/rotation-audit/internal/localcloud/bootstrap"
	"github.com/rotation-audit/rotation-audit/internal/localcloud/cfn"
	"github.com/rotation-audit/rotation-audit/internal/localcloud/funcrunner"
)

// The tests of this file deploy to one embedded cloud. kumo keeps its state
// in package variables, so every test uses stack names of its own.
var (
	cloud   *localcloud.Cloud
	clients *Clients
	builder *bootstrap.Builder
)

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	root, err := bootstrap.ModuleRoot(".")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	builder = &bootstrap.Builder{ModuleDir: root, Package: "./rotation-check"}
	if cloud, err = localcloud.Start(localcloud.Options{}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer cloud.Close()
	clients = NewClients(cloud.URL, localcloud.DefaultRegion)
	return m.Run()
}

// deployer returns a deployer of the named stack on the test cloud.
func deployer(stack string, params map[string]string) *Deployer {
	return &Deployer{Clients: clients, Stack: stack, Params: params, Code: builder.Code(true), Logs: io.Discard, Embedded: true}
}

// parse parses an inline template or, for a name ending in .yaml, a file
// of testdata.
func parse(t *testing.T, src string) *cfn.Template {
	t.Helper()
	if strings.HasSuffix(src, ".yaml") {
		data, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		src = string(data)
	}
	tmpl, err := cfn.Parse([]byte(src))
	if err != nil {
		t.Fatalf("parse template: %v", err)
	}
	return tmpl
}

// repoTemplate is the application's template.yaml.
func repoTemplate(t *testing.T) *cfn.Template { return parse(t, "../../../template.yaml") }

// errorNames fails the test unless err names every one of names.
func errorNames(t *testing.T, err error, names ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want one naming %q", names)
	}
	for _, n := range names {
		if !strings.Contains(err.Error(), n) {
			t.Errorf("error %q does not name %q", err, n)
		}
	}
}

// teardownClean tears a stack down at the end of a test, failing it if
// anything stays.
func teardownClean(t *testing.T, d *Deployer, tmpl *cfn.Template) {
	t.Helper()
	t.Cleanup(func() {
		res, err := d.Teardown(context.Background(), tmpl)
		if err != nil {
			t.Errorf("teardown %s: %v", d.Stack, err)
			return
		}
		if len(res.Leftovers) > 0 {
			t.Errorf("teardown %s left %v", d.Stack, res.Leftovers)
		}
	})
}

func tableExistsNamed(t *testing.T, name string) bool {
	t.Helper()
	there, err := tableExists(context.Background(), clients, StackResource{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	return there
}

func TestPlanRepoTemplate(t *testing.T) {
	is := is.New(t)
	p, err := deployer("rotcheck", nil).bind(repoTemplate(t), "123456789012")
	is.NoErr(err) // the deployer implements everything template.yaml uses
	is.Equal(p.Order, []string{
		"AlarmTopic", "AuditTable", "DeadLetterQueue", "DeadLetterAlarm", "FlaggedAlarm",
		"FreshSecret", "IgnoredSecret", "NoRunAlarm", "OrgAuditTable", "RunsTable", "UnitsQueue", "UnitsTable",
		"RotationCheckFunctionRole", "RotationCheckFunction", "RotationCheckFunctionEventInvokeConfig",
		"RotationCheckFunctionHourlyRole", "RotationCheckFunctionHourly",
		"StaleSecret", "UnitsMapping",
	}) // dependencies first, otherwise alphabetical
	for _, id := range []string{"OrgAuditTable", "UnitsQueue", "UnitsTable", "UnitsMapping"} {
		is.True(!p.Enabled(id)) // organization mode's: not in the tutorial's stack
	}

	off, err := deployer("rotcheck", map[string]string{"SeedTestSecrets": "false"}).bind(repoTemplate(t), "123456789012")
	is.NoErr(err)
	for _, id := range p.Order {
		seeded := strings.HasSuffix(id, "Secret")
		is.Equal(off.Enabled(id), !seeded && p.Enabled(id)) // without seeding, exactly the test secrets are left out
	}
}

func TestCheckRefusesWhatItCannotCreate(t *testing.T) {
	tests := []struct {
		name  string
		src   string
		names []string // what the error must mention
	}{
		{"unsupported type", "Resources:\n  Alerts:\n    Type: AWS::Kinesis::Stream\n", []string{"Alerts", "AWS::Kinesis::Stream"}},
		{"unsupported property", "Resources:\n  Secret:\n    Type: AWS::SecretsManager::Secret\n    Properties:\n      Name: s\n      ReplicaRegions: [{Region: eu-west-1}]\n",
			[]string{"Secret", "AWS::SecretsManager::Secret", "ReplicaRegions"}},
		{"unsupported attribute", "testdata/bad-getatt.yaml", []string{"resource Other", "!GetAtt Queue.Endpoint", "Arn, QueueName, QueueUrl"}},
		{"reference to nothing", "testdata/bad-ref.yaml", []string{"resource Queue", "${Tabel}"}},
		{"name over the limit", "Resources:\n  Queue:\n    Type: AWS::SQS::Queue\n    Properties:\n      QueueName: " + strings.Repeat("q", 81) + "\n",
			[]string{"resource Queue (AWS::SQS::Queue)", "81 characters, over the limit of 80"}},
		{"name with a bad character", "Resources:\n  Fn:\n    Type: AWS::Scheduler::Schedule\n    Properties:\n      Name: a/b\n      ScheduleExpression: rate(1 hour)\n",
			[]string{"resource Fn", `Name "a/b" may hold only letters, digits and _.-`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errorNames(t, deployer("checks", nil).Validate(parse(t, tt.src)), tt.names...)
		})
	}
}

// A stack name whose derived names break a service's limit is refused
// before anything is created: a 100-character name used to create the
// table and then fail on the queue.
func TestLongStackNameRefusedUpFront(t *testing.T) {
	is := is.New(t)
	stack := "s" + strings.Repeat("x", 99)
	_, err := deployer(stack, nil).Deploy(context.Background(), repoTemplate(t))
	errorNames(t, err, "QueueName", "over the limit of 80", "FunctionName", "over the limit of 64")
	is.True(!tableExistsNamed(t, stack+"-audit")) // nothing was created
}

// Generated names too long for their service are cut with a hash, so two
// of them never collide (a 42-character stack name used to give the
// function's role and the schedule's role the same name).
func TestGeneratedNamesStayUnique(t *testing.T) {
	is := is.New(t)
	k := kinds["AWS::IAM::Role"]
	stack := "s" + strings.Repeat("x", 41)
	fn := physicalName(stack, "RotationCheckFunctionRole", k, nil)
	sched := physicalName(stack, "RotationCheckFunctionHourlyRole", k, nil)
	is.True(fn != sched)  // unique
	is.Equal(len(fn), 64) // within IAM's limit
	is.Equal(len(sched), 64)
	is.True(strings.HasPrefix(fn, stack+"-Rotation"))                                                             // still readable
	is.Equal(physicalName("rotcheck", "RotationCheckFunctionRole", k, nil), "rotcheck-RotationCheckFunctionRole") // short names as before
	is.Equal(physicalName(stack, "RotationCheckFunctionRole", k, nil), fn)                                        // and the same every time, so teardown finds it
}

// The whole stack deploys and tears down cleanly under a 42-character stack
// name: every resource created, every one deleted.
func TestDeployWithLongStackName(t *testing.T) {
	is := is.New(t)
	d := deployer("l"+strings.Repeat("o", 38)+"ng", nil)
	tmpl := repoTemplate(t)
	res, err := d.Deploy(context.Background(), tmpl)
	is.NoErr(err)
	is.Equal(res.Created, len(res.Resources)) // nothing "updated" into another resource
	is.Equal(res.Updated, 0)
	td, err := d.Teardown(context.Background(), tmpl)
	is.NoErr(err)
	is.Equal(len(td.Deleted), len(res.Resources))
	is.Equal(len(td.Leftovers), 0)
}

// Schedule expressions and parameters that would fail later are refused
// before the first create.
func TestBadScheduleOrParameterRefusedUpFront(t *testing.T) {
	for _, expr := range []string{"rate(0 hours)", "nonsense", "cron(0 9 * * MON *)"} {
		t.Run(expr, func(t *testing.T) {
			is := is.New(t)
			_, err := deployer("badsched", map[string]string{"Expression": expr}).Deploy(context.Background(), parse(t, "testdata/bad-schedule.yaml"))
			errorNames(t, err, "resource Schedule", expr)
			_, qerr := clients.SQS.GetQueueUrl(context.Background(), &sqs.GetQueueUrlInput{QueueName: aws.String("badsched-q")})
			is.True(isNotFound(qerr)) // nothing was created
		})
	}
	t.Run("MaxAgeDays=1.5", func(t *testing.T) {
		err := deployer("badparam", map[string]string{"MaxAgeDays": "1.5"}).Validate(repoTemplate(t))
		errorNames(t, err, `MaxAgeDays="1.5"`, "whole number of days from 1 to 3650")
	})
}

func TestDeployRefusesUnsupportedBeforeCreatingAnything(t *testing.T) {
	is := is.New(t)
	_, err := deployer("unsupported", nil).Deploy(context.Background(), parse(t, `
Resources:
  Table:
    Type: AWS::DynamoDB::Table
    Properties:
      TableName: !Sub ${AWS::StackName}-t
      KeySchema: [{AttributeName: k, KeyType: HASH}]
      AttributeDefinitions: [{AttributeName: k, AttributeType: S}]
      BillingMode: PAY_PER_REQUEST
  Stream:
    Type: AWS::Kinesis::Stream
`))
	errorNames(t, err, "resource Stream: type AWS::Kinesis::Stream is not supported locally")
	is.True(!tableExistsNamed(t, "unsupported-t")) // refused up front: nothing half-created
}

// A failure part-way names the resource and what already exists; the same
// deployer's teardown removes it all, even a resource whose name the
// template alone cannot give.
func TestHalfDeployedStackTornDown(t *testing.T) {
	is := is.New(t)
	ctx := context.Background()
	tmpl := parse(t, "testdata/unresolvable-name.yaml")
	d := deployer("halfway", nil)
	res, err := d.Deploy(ctx, tmpl)
	errorNames(t, err, "resource Broken (AWS::Lambda::Function)", "already deployed: First, Table, Second; run teardown")
	is.Equal(len(res.Resources), 3)

	td, err := d.Teardown(ctx, tmpl)
	is.NoErr(err)
	is.Equal(len(td.Deleted), 3)   // the table, both queues...
	is.Equal(len(td.Leftovers), 0) // ...nothing left
	is.Equal(len(td.Unnamed), 0)   // the deployer knew every name it made
}

// A teardown in a later process cannot work out a name that depends on
// another resource's attribute: it removes everything else and says which
// name it could not work out, rather than giving up on all of them.
func TestTeardownSkipsUnnamedButRemovesTheRest(t *testing.T) {
	is := is.New(t)
	ctx := context.Background()
	tmpl := parse(t, "testdata/unresolvable-name.yaml")
	_, err := deployer("later", nil).Deploy(ctx, tmpl)
	is.True(err != nil) // Broken fails, as in the test above
	t.Cleanup(func() {
		url, err := clients.SQS.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String("later-first-second")})
		if err == nil {
			_, _ = clients.SQS.DeleteQueue(ctx, &sqs.DeleteQueueInput{QueueUrl: url.QueueUrl})
		}
	})

	td, err := deployer("later", nil).Teardown(ctx, tmpl) // a new deployer: another process
	is.NoErr(err)
	is.Equal(len(td.Deleted), 2) // the table and the first queue
	is.Equal(len(td.Unnamed), 1)
	is.True(strings.Contains(td.Unnamed[0], "Second (AWS::SQS::Queue)")) // named, with why
	is.True(!tableExistsNamed(t, "later-audit"))                         // rotcheck-audit used to stay behind
}

func TestDeployChecksParameters(t *testing.T) {
	is := is.New(t)
	src := `
Parameters:
  Days: {Type: Number, Default: 30, MinValue: 1, MaxValue: 3650}
Resources:
  Queue:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: !Sub ${AWS::StackName}-${Days}
`
	ctx := context.Background()
	_, err := deployer("params", map[string]string{"Days": "0"}).Deploy(ctx, parse(t, src))
	errorNames(t, err, "parameter Days=0 is out of range 1..3650")
	_, err = deployer("params", map[string]string{"Weeks": "2"}).Deploy(ctx, parse(t, src))
	errorNames(t, err, "parameter Weeks is not declared in the template (it has Days)")

	d := deployer("params", map[string]string{"Days": "7"})
	tmpl := parse(t, src)
	teardownClean(t, d, tmpl)
	res, err := d.Deploy(ctx, tmpl)
	is.NoErr(err)
	is.Equal(res.Resources[0].Name, "params-7") // the override reached the name
}

// A deploy to any endpoint other than the embedded cloud uploads the Linux
// build for the template's architecture.
func TestBuilderCodeForExternalEndpoint(t *testing.T) {
	is := is.New(t)
	z, err := builder.Code(false)(context.Background(), "arm64")
	is.NoErr(err)
	dir := t.TempDir()
	bin := dir + "/bootstrap"
	is.NoErr(unzipBootstrap(z, bin))
	err = funcrunner.Runnable(bin)
	if runtime.GOOS == "linux" && runtime.GOARCH == "arm64" {
		is.NoErr(err)
	} else {
		is.True(err != nil)
		is.True(strings.Contains(err.Error(), "built for linux/arm64")) // what AWS runs
	}
	_, err = builder.Code(false)(context.Background(), "sparc")
	is.True(err != nil) // an unknown architecture is named
	is.True(strings.Contains(err.Error(), `"sparc"`))
}

// Updating a role in place leaves exactly the template's inline policies.
func TestRedeployDropsRemovedPolicies(t *testing.T) {
	is := is.New(t)
	ctx := context.Background()
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
	d := deployer("policies", nil)
	teardownClean(t, d, parse(t, role(read)))
	_, err := d.Deploy(ctx, parse(t, role(read+write)))
	is.NoErr(err)
	res, err := d.Deploy(ctx, parse(t, role(read)))
	is.NoErr(err)
	is.Equal(res.Updated, 1)
	got, err := clients.IAM.ListRolePolicies(ctx, &iam.ListRolePoliciesInput{RoleName: aws.String("policies-role")})
	is.NoErr(err)
	is.Equal(got.PolicyNames, []string{"read"}) // "write" left the template, so it left the role
}

// A table whose indexes the template changes is not reported "updated"
// while the change is ignored: the deploy says it cannot make it.
func TestRedeployRefusesTableIndexChange(t *testing.T) {
	is := is.New(t)
	ctx := context.Background()
	d := deployer("indexes", nil)
	teardownClean(t, d, parse(t, "testdata/table-v1.yaml"))
	_, err := d.Deploy(ctx, parse(t, "testdata/table-v1.yaml"))
	is.NoErr(err)
	_, err = d.Deploy(ctx, parse(t, "testdata/table-v2.yaml"))
	errorNames(t, err, "table indexes-t exists with no index by-g", "not supported locally", "tear the stack down first")
	desc, err := clients.DynamoDB.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String("indexes-t")})
	is.NoErr(err)
	is.Equal(len(desc.Table.GlobalSecondaryIndexes), 0) // the table is as it was
}

// A secret scheduled for deletion (after a teardown by hand, say) is
// deleted for good and created anew, instead of failing on CreateSecret.
func TestDeploySecretPendingDeletion(t *testing.T) {
	is := is.New(t)
	ctx := context.Background()
	src := `
Resources:
  Secret:
    Type: AWS::SecretsManager::Secret
    Properties:
      Name: !Sub ${AWS::StackName}-s
      SecretString: v1
`
	d := deployer("pending", nil)
	teardownClean(t, d, parse(t, src))
	_, err := d.Deploy(ctx, parse(t, src))
	is.NoErr(err)
	_, err = clients.SecretsManager.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{
		SecretId: aws.String("pending-s"), RecoveryWindowInDays: aws.Int64(7),
	})
	is.NoErr(err)
	_, err = clients.SecretsManager.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("pending-s"), SecretString: aws.String("x")})
	is.True(err != nil) // the name is taken while it is pending deletion, as on AWS

	res, err := d.Deploy(ctx, parse(t, src))
	is.NoErr(err)
	is.Equal(res.Created, 1) // created anew
	desc, err := clients.SecretsManager.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("pending-s")})
	is.NoErr(err)
	is.True(desc.DeletedDate == nil) // alive
}

// unzipBootstrap writes the deployment package's bootstrap to path.
func unzipBootstrap(z []byte, path string) error {
	zr, err := zip.NewReader(bytes.NewReader(z), int64(len(z)))
	if err != nil {
		return err
	}
	f, err := zr.Open("bootstrap")
	if err != nil {
		return err
	}
	defer f.Close()
	data, err := io.ReadAll(f)
	if err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o755)
}

// SAM's SQS event and a plain AWS::Lambda::EventSourceMapping deploy as
// mappings with their settings; a redeploy updates them in place, and the
// teardown removes them.
func TestDeployEventSourceMappings(t *testing.T) {
	is := is.New(t)
	ctx := context.Background()
	tmpl := parse(t, "testdata/sqs-worker.yaml")
	d := deployer("esm", nil)
	logs := &strings.Builder{}
	d.Logs = logs
	teardownClean(t, d, tmpl)
	res, err := d.Deploy(ctx, tmpl)
	is.NoErr(err)

	list := func() []ltypes.EventSourceMappingConfiguration {
		out, err := clients.Lambda.ListEventSourceMappings(ctx, &lambda.ListEventSourceMappingsInput{FunctionName: aws.String("esm-worker")})
		is.NoErr(err)
		return out.EventSourceMappings
	}
	mappings := list()
	is.Equal(len(mappings), 2) // the SQS event's and the plain one
	byQueue := map[string]ltypes.EventSourceMappingConfiguration{}
	for _, m := range mappings {
		byQueue[aws.ToString(m.EventSourceArn)[strings.LastIndexByte(aws.ToString(m.EventSourceArn), ':')+1:]] = m
	}
	work, other := byQueue["esm-Work"], byQueue["esm-Other"]
	is.Equal(aws.ToInt32(work.BatchSize), int32(5))
	is.Equal(work.FunctionResponseTypes, []ltypes.FunctionResponseType{ltypes.FunctionResponseTypeReportBatchItemFailures})
	is.Equal(aws.ToInt32(work.ScalingConfig.MaximumConcurrency), int32(2))
	is.Equal(aws.ToString(work.State), "Enabled")
	is.Equal(aws.ToString(other.State), "Disabled")                         // Enabled: false
	is.Equal(aws.ToInt32(other.ScalingConfig.MaximumConcurrency), int32(3)) // a Number parameter, read as a number
	is.Equal(res.Outputs["OtherMappingId"], aws.ToString(other.UUID))       // Ref is the mapping's UUID
	// kumo has no AWS managed policies: the deploy says it could not
	// attach the poller's, which shows the role asked for it.
	is.True(strings.Contains(logs.String(), "WorkerRole: the endpoint has no AWS managed policy arn:aws:iam::aws:policy/service-role/AWSLambdaSQSQueueExecutionRole"))

	d2 := deployer("esm", map[string]string{"Batch": "7"})
	res, err = d2.Deploy(ctx, tmpl)
	is.NoErr(err)
	is.Equal(res.Created, 0) // everything updated in place
	mappings = list()
	is.Equal(len(mappings), 2) // no second mapping for the same queue
	for _, m := range mappings {
		if aws.ToString(m.UUID) == aws.ToString(work.UUID) {
			is.Equal(aws.ToInt32(m.BatchSize), int32(7)) // the new batch size
		}
	}

	_, err = d2.Teardown(ctx, tmpl)
	is.NoErr(err)
	is.Equal(len(list()), 0) // gone with the stack
}

// A queue's RedrivePolicy, an object in the template, reaches SQS as the
// JSON text its API takes, so a message received too often moves to the
// dead-letter queue (template.yaml's units queue).
func TestDeployQueueRedrivePolicy(t *testing.T) {
	is := is.New(t)
	ctx := context.Background()
	tmpl := parse(t, `
Resources:
  Dead:
    Type: AWS::SQS::Queue
  Work:
    Type: AWS::SQS::Queue
    Properties:
      RedrivePolicy:
        deadLetterTargetArn: !GetAtt Dead.Arn
        maxReceiveCount: 3
`)
	d := deployer("redrive", nil)
	teardownClean(t, d, tmpl)
	res, err := d.Deploy(ctx, tmpl)
	is.NoErr(err)
	url, err := clients.SQS.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String("redrive-Work")})
	is.NoErr(err)
	got, err := clients.SQS.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: url.QueueUrl,
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameRedrivePolicy}})
	is.NoErr(err)
	var policy struct {
		DeadLetterTargetArn string `json:"deadLetterTargetArn"`
		MaxReceiveCount     json.Number
	}
	is.NoErr(json.Unmarshal([]byte(got.Attributes["RedrivePolicy"]), &policy))
	is.Equal(policy.DeadLetterTargetArn, arnOfResource(res, "Dead"))
	is.Equal(policy.MaxReceiveCount.String(), "3")
}

func arnOfResource(res *StackResult, id string) string {
	for _, r := range res.Resources {
		if r.LogicalID == id {
			return r.ARN
		}
	}
	return ""
}
