package sam

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/matryer/is"

	"github.com/rotation-audit/rotation-audit/internal/localcloud/cfn"
)

// repoTemplatePath is the application's own template.
const repoTemplatePath = "../../../template.yaml"

// specParse parses an inline template, failing the test on error.
func specParse(t *testing.T, src string) *cfn.Template {
	t.Helper()
	tmpl, err := cfn.Parse([]byte(src))
	if err != nil {
		t.Fatalf("parse template: %v\n%s", err, src)
	}
	return tmpl
}

// specRepoTemplate parses the application's template.yaml.
func specRepoTemplate(t *testing.T) *cfn.Template {
	t.Helper()
	data, err := os.ReadFile(repoTemplatePath)
	if err != nil {
		t.Fatal(err)
	}
	return specParse(t, string(data))
}

// specErrorNames fails the test unless err names every one of names.
func specErrorNames(t *testing.T, err error, names ...string) {
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

// specTransform parses an inline template and applies the SAM transform,
// failing the test on error.
func specTransform(t *testing.T, src string) *cfn.Template {
	t.Helper()
	out, err := Transform(specParse(t, src))
	if err != nil {
		t.Fatalf("transform: %v\n%s", err, src)
	}
	return out
}

// specFunction is a SAM template with one function Fn whose Properties
// continue with props (indented by six spaces), after the ones every
// function needs.
func specFunction(props string) string {
	return `Transform: AWS::Serverless-2016-10-31
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: fn/
      Handler: bootstrap
      Runtime: provided.al2023
` + props
}

// specTick is one ScheduleV2 event Tick whose Properties continue with props
// (indented by twelve spaces).
func specTick(props string) string {
	return `      Events:
        Tick:
          Type: ScheduleV2
          Properties:
            ScheduleExpression: rate(1 minute)
` + props
}

func specGetAtt(id, attr string) map[string]any { return map[string]any{"Fn::GetAtt": []any{id, attr}} }

// specTrust is the trust policy SAM writes for a service principal.
func specTrust(service string) map[string]any {
	return map[string]any{
		"Version": "2012-10-17",
		"Statement": []any{map[string]any{
			"Action": []any{"sts:AssumeRole"}, "Effect": "Allow",
			"Principal": map[string]any{"Service": []any{service}},
		}},
	}
}

// specPolicy is a named one-statement inline policy as SAM writes it.
func specPolicy(name, action string, resource any) map[string]any {
	return map[string]any{
		"PolicyName": name,
		"PolicyDocument": map[string]any{"Statement": []any{map[string]any{
			"Action": action, "Effect": "Allow", "Resource": resource,
		}}},
	}
}

var specSAMTag = map[string]any{"Key": "lambda:createdBy", "Value": "SAM"}

func TestTransformRepoTemplateGeneratesSAMLogicalIDs(t *testing.T) {
	is := is.New(t)
	tmpl := specRepoTemplate(t)
	out, err := Transform(tmpl)
	is.NoErr(err) // template.yaml transforms

	types := map[string]string{}
	for id, r := range out.Resources {
		types[id] = r.Type
	}
	generated := map[string]string{
		"RotationCheckFunction":                  "AWS::Lambda::Function",
		"RotationCheckFunctionRole":              "AWS::IAM::Role",
		"RotationCheckFunctionHourly":            "AWS::Scheduler::Schedule",
		"RotationCheckFunctionHourlyRole":        "AWS::IAM::Role",
		"RotationCheckFunctionEventInvokeConfig": "AWS::Lambda::EventInvokeConfig",
	}
	for id, r := range tmpl.Resources {
		if r.Type != "AWS::Serverless::Function" {
			generated[id] = r.Type // the template's own resources carry over
		}
	}
	is.Equal(types, generated)                                                                           // exactly the logical IDs SAM generates, plus the template's own resources
	is.Equal(out.Transforms, nil)                                                                        // the transform is applied
	is.Equal(out.Parameters, tmpl.Parameters)                                                            // parameters carry over
	is.Equal(out.Conditions, tmpl.Conditions)                                                            // conditions carry over
	is.Equal(out.Outputs, tmpl.Outputs)                                                                  // outputs carry over
	is.Equal(out.Resources["AuditTable"], tmpl.Resources["AuditTable"])                                  // plain resources pass through
	is.Equal(tmpl.Resources["RotationCheckFunction"].Type, "AWS::Serverless::Function")                  // the input is not modified
	is.Equal(tmpl.Transforms, []string{"AWS::Serverless-2016-10-31"})                                    // the input keeps its transform
	is.Equal(out.Resources["RotationCheckFunction"].Metadata, map[string]any{"BuildMethod": "makefile"}) // Metadata stays on the function
}

func TestTransformRepoTemplateSchedule(t *testing.T) {
	is := is.New(t)
	out, err := Transform(specRepoTemplate(t))
	is.NoErr(err)

	props := out.Resources["RotationCheckFunctionHourly"].Properties
	target, _ := props["Target"].(map[string]any)
	input, _ := target["Input"].(string)
	var payload map[string]string
	is.NoErr(json.Unmarshal([]byte(input), &payload)) // the Input is one JSON document
	is.Equal(payload, map[string]string{
		"source":         "eventbridge-scheduler",
		"scheduled_time": "<aws.scheduler.scheduled-time>",
		"execution_id":   "<aws.scheduler.execution-id>",
		"attempt_number": "<aws.scheduler.attempt-number>",
		"schedule_arn":   "<aws.scheduler.schedule-arn>",
	}) // the placeholders EventBridge Scheduler fills in

	is.Equal(props, map[string]any{
		"Name":                       map[string]any{"Fn::Sub": "${AWS::StackName}-hourly"},
		"Description":                "Runs the rotation check.",
		"ScheduleExpression":         map[string]any{"Ref": "ScheduleExpression"},
		"ScheduleExpressionTimezone": map[string]any{"Ref": "ScheduleTimezone"},
		"FlexibleTimeWindow":         map[string]any{"Mode": "OFF"},
		"Target": map[string]any{
			"Arn":     specGetAtt("RotationCheckFunction", "Arn"),
			"RoleArn": specGetAtt("RotationCheckFunctionHourlyRole", "Arn"),
			"Input":   input,
			"RetryPolicy": map[string]any{
				"MaximumRetryAttempts": int64(3), "MaximumEventAgeInSeconds": int64(3600),
			},
			"DeadLetterConfig": map[string]any{"Arn": specGetAtt("DeadLetterQueue", "Arn")},
		},
	}) // the schedule SAM writes: Name from the event, target with role, retries and DLQ

	is.Equal(out.Resources["RotationCheckFunctionHourlyRole"].Properties, map[string]any{
		"AssumeRolePolicyDocument": specTrust("scheduler.amazonaws.com"),
		"Policies": []any{
			specPolicy("RotationCheckFunctionHourlyLambdaPolicy", "lambda:InvokeFunction", specGetAtt("RotationCheckFunction", "Arn")),
			specPolicy("RotationCheckFunctionHourlySQSPolicy", "sqs:SendMessage", specGetAtt("DeadLetterQueue", "Arn")),
		},
	}) // the scheduler may invoke the function and send to the DLQ, nothing else
}

func TestTransformRepoTemplateFunction(t *testing.T) {
	is := is.New(t)
	tmpl := specRepoTemplate(t)
	out, err := Transform(tmpl)
	is.NoErr(err)

	is.Equal(out.Resources["RotationCheckFunctionRole"].Properties, map[string]any{
		"AssumeRolePolicyDocument": specTrust("lambda.amazonaws.com"),
		"ManagedPolicyArns":        []any{"arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"},
		"Policies": []any{
			specPolicy("RotationCheckFunctionEventInvokeConfigOnFailureSQSPolicy", "sqs:SendMessage", specGetAtt("DeadLetterQueue", "Arn")), // to send failed runs to the queue
			map[string]any{
				"PolicyName":     "RotationCheckFunctionRolePolicy0",
				"PolicyDocument": tmpl.Resources["RotationCheckFunction"].Properties["Policies"].([]any)[0], // the template's statements, as written
			},
			map[string]any{"Fn::If": []any{"ImportFindings", map[string]any{
				"PolicyName":     "RotationCheckFunctionRolePolicy1",
				"PolicyDocument": tmpl.Resources["RotationCheckFunction"].Properties["Policies"].([]any)[1].(map[string]any)["Fn::If"].([]any)[1],
			}, map[string]any{"Ref": "AWS::NoValue"}}}, // Security Hub only when SecurityHubFindings is true
			map[string]any{"Fn::If": []any{"OrganizationMode", map[string]any{
				"PolicyName":     "RotationCheckFunctionRolePolicy2",
				"PolicyDocument": tmpl.Resources["RotationCheckFunction"].Properties["Policies"].([]any)[2].(map[string]any)["Fn::If"].([]any)[1],
			}, map[string]any{"Ref": "AWS::NoValue"}}}, // accounts, member roles, the units queue and tables only in organization mode
		},
		"Tags": []any{specSAMTag},
	}) // the execution role: Lambda's trust, basic logging, the template's statements inline

	fn := out.Resources["RotationCheckFunction"].Properties
	src := tmpl.Resources["RotationCheckFunction"].Properties
	is.Equal(fn, map[string]any{
		"FunctionName":  src["FunctionName"],
		"Description":   src["Description"],
		"Code":          map[string]any{"CodeUri": "."},
		"Handler":       "bootstrap",
		"Runtime":       "provided.al2023",
		"Architectures": []any{"arm64"},
		"MemorySize":    src["MemorySize"],
		"Timeout":       src["Timeout"],
		"LoggingConfig": map[string]any{"LogFormat": "JSON"},
		"Environment":   src["Environment"],
		"Role":          specGetAtt("RotationCheckFunctionRole", "Arn"),
		"Tags":          []any{specSAMTag},
	}) // the function keeps its settings, runs as the generated role, and its code stays a local CodeUri
}

func TestTransformScheduleNameDefaultsToLogicalID(t *testing.T) {
	is := is.New(t)
	out := specTransform(t, specFunction(specTick("")))
	s := out.Resources["FnTick"]
	is.Equal(s.Type, "AWS::Scheduler::Schedule")                                // <FunctionId><EventName>
	is.Equal(s.Properties["Name"], "FnTick")                                    // named after its logical ID
	is.Equal(s.Properties["FlexibleTimeWindow"], map[string]any{"Mode": "OFF"}) // no flexible window by default
	target := s.Properties["Target"].(map[string]any)
	is.Equal(target, map[string]any{"Arn": specGetAtt("Fn", "Arn"), "RoleArn": specGetAtt("FnTickRole", "Arn")}) // no Input, retries or DLQ unless asked
	is.Equal(out.Resources["FnTickRole"].Properties["Policies"], []any{
		specPolicy("FnTickLambdaPolicy", "lambda:InvokeFunction", specGetAtt("Fn", "Arn")),
	}) // without a DLQ the role may only invoke the function
}

func TestTransformOmitName(t *testing.T) {
	is := is.New(t)
	out := specTransform(t, specFunction(specTick("            OmitName: true\n")))
	_, named := out.Resources["FnTick"].Properties["Name"]
	is.True(!named) // OmitName leaves the name to CloudFormation

	_, err := Transform(specParse(t, specFunction(specTick("            OmitName: true\n            Name: tick\n"))))
	specErrorNames(t, err, "FnTick", "OmitName", "Name")
}

func TestTransformPassesScheduleSettingsThrough(t *testing.T) {
	is := is.New(t)
	out := specTransform(t, specFunction(specTick(`            State: DISABLED
            GroupName: nightly
            StartDate: 2026-01-02T03:04:05Z
            EndDate: "2027-01-01T00:00:00Z"
            KmsKeyArn: arn:aws:kms:us-east-1:123456789012:key/k
            FlexibleTimeWindow: {Mode: FLEXIBLE, MaximumWindowInMinutes: 5}
            PermissionsBoundary: arn:aws:iam::123456789012:policy/boundary
`)))
	s := out.Resources["FnTick"].Properties
	is.Equal(s["State"], "DISABLED")                                                                                     // State
	is.Equal(s["GroupName"], "nightly")                                                                                  // GroupName
	is.Equal(s["StartDate"], "2026-01-02T03:04:05Z")                                                                     // StartDate, as written
	is.Equal(s["EndDate"], "2027-01-01T00:00:00Z")                                                                       // EndDate
	is.Equal(s["KmsKeyArn"], "arn:aws:kms:us-east-1:123456789012:key/k")                                                 // KmsKeyArn
	is.Equal(s["FlexibleTimeWindow"], map[string]any{"Mode": "FLEXIBLE", "MaximumWindowInMinutes": int64(5)})            // the event's window replaces OFF
	is.Equal(out.Resources["FnTickRole"].Properties["PermissionsBoundary"], "arn:aws:iam::123456789012:policy/boundary") // the boundary goes on the generated role
}

func TestTransformDeadLetterQueueOfTypeSQS(t *testing.T) {
	tests := []struct {
		name    string
		dlq     string
		queueID string
	}{
		{"named after the schedule", "            DeadLetterConfig: {Type: SQS}\n", "FnTickQueue"},
		{"QueueLogicalId", "            DeadLetterConfig: {Type: SQS, QueueLogicalId: TickDLQ}\n", "TickDLQ"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			out := specTransform(t, specFunction(specTick(tt.dlq)))
			is.Equal(out.Resources[tt.queueID], cfn.Resource{Type: "AWS::SQS::Queue", Properties: map[string]any{}}) // SAM creates the queue
			target := out.Resources["FnTick"].Properties["Target"].(map[string]any)
			is.Equal(target["DeadLetterConfig"], map[string]any{"Arn": specGetAtt(tt.queueID, "Arn")}) // failed events go there
			is.Equal(out.Resources["FnTickRole"].Properties["Policies"], []any{
				specPolicy("FnTickLambdaPolicy", "lambda:InvokeFunction", specGetAtt("Fn", "Arn")),
				specPolicy("FnTickSQSPolicy", "sqs:SendMessage", specGetAtt(tt.queueID, "Arn")),
			}) // and the scheduler may send to it
		})
	}
}

func TestTransformGivenRoles(t *testing.T) {
	is := is.New(t)
	out := specTransform(t, specFunction(
		"      Role: arn:aws:iam::123456789012:role/fn\n"+
			specTick("            RoleArn: arn:aws:iam::123456789012:role/scheduler\n")))
	_, fnRole := out.Resources["FnRole"]
	_, tickRole := out.Resources["FnTickRole"]
	is.True(!fnRole)                                                                      // a function with Role gets no generated role
	is.True(!tickRole)                                                                    // an event with RoleArn gets no generated role
	is.Equal(out.Resources["Fn"].Properties["Role"], "arn:aws:iam::123456789012:role/fn") // the given role is used
	target := out.Resources["FnTick"].Properties["Target"].(map[string]any)
	is.Equal(target["RoleArn"], "arn:aws:iam::123456789012:role/scheduler") // the given role is used
}

func TestTransformCarriesConditionAndDependsOn(t *testing.T) {
	is := is.New(t)
	out := specTransform(t, `Transform: AWS::Serverless-2016-10-31
Conditions:
  Enabled: !Equals [a, a]
Resources:
  Other:
    Type: AWS::SQS::Queue
  Fn:
    Type: AWS::Serverless::Function
    Condition: Enabled
    DependsOn: Other
    Properties:
      CodeUri: fn/
      Events:
        Tick:
          Type: ScheduleV2
          Properties:
            ScheduleExpression: rate(1 minute)
            DeadLetterConfig: {Type: SQS}
`)
	for _, id := range []string{"Fn", "FnRole", "FnTick", "FnTickRole", "FnTickQueue"} {
		is.Equal(out.Resources[id].Condition, "Enabled") // every generated resource shares the function's condition
	}
	is.Equal(out.Resources["Fn"].DependsOn, []string{"Other"}) // DependsOn stays on the function
	is.Equal(out.Resources["FnRole"].DependsOn, nil)           // and only there, as in SAM
}

func TestTransformTagsAndPolicies(t *testing.T) {
	is := is.New(t)
	out := specTransform(t, specFunction(`      Tags:
        team: platform
        app: audit
      Policies:
        - arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole
        - arn:aws:iam::aws:policy/ReadOnlyAccess
        - Statement:
            - {Effect: Allow, Action: s3:GetObject, Resource: "*"}
`))
	wantTags := []any{specSAMTag,
		map[string]any{"Key": "app", "Value": "audit"},
		map[string]any{"Key": "team", "Value": "platform"}}
	is.Equal(out.Resources["Fn"].Properties["Tags"], wantTags)     // SAM's tag first, then the function's
	is.Equal(out.Resources["FnRole"].Properties["Tags"], wantTags) // the role is tagged like its function
	role := out.Resources["FnRole"].Properties
	is.Equal(role["ManagedPolicyArns"], []any{
		"arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
		"arn:aws:iam::aws:policy/ReadOnlyAccess",
	}) // each managed policy once, basic execution first
	is.Equal(role["Policies"], []any{map[string]any{
		"PolicyName": "FnRolePolicy2",
		"PolicyDocument": map[string]any{"Statement": []any{
			map[string]any{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"},
		}},
	}}) // a statement policy is named by its place in Policies

	single := specTransform(t, specFunction("      Policies: arn:aws:iam::aws:policy/ReadOnlyAccess\n"))
	is.Equal(single.Resources["FnRole"].Properties["ManagedPolicyArns"], []any{
		"arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
		"arn:aws:iam::aws:policy/ReadOnlyAccess",
	}) // Policies may be a single ARN
	_, inline := single.Resources["FnRole"].Properties["Policies"]
	is.True(!inline) // no statements, no inline policies
}

// A policy under Fn::If keeps its condition: the deploy decides, and the
// policy is named by its place in Policies like any other.
func TestTransformConditionalPolicy(t *testing.T) {
	is := is.New(t)
	out := specTransform(t, "Conditions:\n  On: !Equals [a, b]\n"+specFunction(`      Policies:
        - Statement:
            - {Effect: Allow, Action: s3:GetObject, Resource: "*"}
        - !If
          - On
          - Statement:
              - {Effect: Allow, Action: securityhub:BatchImportFindings, Resource: "*"}
          - !Ref AWS::NoValue
`))
	is.Equal(out.Resources["FnRole"].Properties["Policies"].([]any)[1], map[string]any{"Fn::If": []any{
		"On",
		map[string]any{"PolicyName": "FnRolePolicy1", "PolicyDocument": map[string]any{"Statement": []any{
			map[string]any{"Effect": "Allow", "Action": "securityhub:BatchImportFindings", "Resource": "*"},
		}}},
		map[string]any{"Ref": "AWS::NoValue"},
	}})
}

func TestTransformWithoutSAMIsUnchanged(t *testing.T) {
	for _, src := range []string{
		"Resources:\n  Queue:\n    Type: AWS::SQS::Queue\n",
		"Transform: AWS::LanguageExtensions\nResources:\n  Queue:\n    Type: AWS::SQS::Queue\n",
	} {
		is := is.New(t)
		tmpl := specParse(t, src)
		out, err := Transform(tmpl)
		is.NoErr(err)
		is.True(out == tmpl) // nothing to expand: the very same template
	}
}

func TestTransformErrors(t *testing.T) {
	tests := []struct {
		name  string
		src   string
		names []string // what the error must mention
	}{
		{"unsupported function property", specFunction("      Tracing: Active\n"), []string{"Fn", "Tracing"}},
		{"event type other than ScheduleV2", specFunction(`      Events:
        Tick:
          Type: Schedule
          Properties: {Schedule: rate(1 minute)}
`), []string{"Fn", "Tick", "Schedule", "ScheduleV2"}},
		{"SAM policy template", specFunction(`      Policies:
        - DynamoDBCrudPolicy: {TableName: x}
`), []string{"Fn", "DynamoDBCrudPolicy"}},
		{"managed policy by name", specFunction("      Policies: [AWSLambdaBasicExecutionRole]\n"),
			[]string{"Fn", "AWSLambdaBasicExecutionRole"}},
		{"policy neither statement nor ARN", specFunction("      Policies: [[a]]\n"), []string{"Fn", "policy 0"}},
		{"policy template under Fn::If", specFunction("      Policies:\n        - !If [C, {DynamoDBCrudPolicy: {TableName: x}}, !Ref AWS::NoValue]\n"),
			[]string{"Fn", "policy 0", "Fn::If", "Statement"}},
		{"Fn::If policy malformed", specFunction("      Policies:\n        - !If [C, {Statement: []}]\n"), []string{"Fn", "policy 0", "Fn::If"}},
		{"other serverless type", "Transform: AWS::Serverless-2016-10-31\nResources:\n  Table:\n    Type: AWS::Serverless::SimpleTable\n",
			[]string{"Table", "AWS::Serverless::SimpleTable"}},
		{"ScheduleV2 without ScheduleExpression", specFunction(`      Events:
        Tick:
          Type: ScheduleV2
          Properties: {Name: tick}
`), []string{"FnTick", "ScheduleExpression"}},
		{"unsupported ScheduleV2 property", specFunction(specTick("            Enabled: true\n")), []string{"Fn", "Enabled"}},
		{"DeadLetterConfig of another type", specFunction(specTick("            DeadLetterConfig: {Type: SNS}\n")),
			[]string{"FnTick", "DeadLetterConfig"}},
		{"DeadLetterConfig with Arn and Type", specFunction(specTick("            DeadLetterConfig: {Type: SQS, Arn: arn:aws:sqs:us-east-1:1:q}\n")),
			[]string{"FnTick", "DeadLetterConfig", "Arn", "Type"}},
		{"generated ID already taken", specFunction("  FnRole:\n    Type: AWS::SQS::Queue\n"), []string{"FnRole"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Transform(specParse(t, tt.src))
			specErrorNames(t, err, tt.names...)
		})
	}
}

// samReference runs SAM's own translator (tests/testdata/sam_translate.py)
// on a template file and returns its output's Resources. It skips the test
// when python3 or the Python modules it needs are missing.
func samReference(t *testing.T, path string) map[string]any {
	t.Helper()
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 is not installed, so SAM's translator cannot run here; CI runs this cross-check")
	}
	var missing []string
	for _, module := range []string{"samtranslator", "cfnlint"} {
		if exec.Command(python, "-c", "import "+module).Run() != nil {
			missing = append(missing, module)
		}
	}
	if len(missing) > 0 {
		t.Skipf("python3 lacks the module(s) %s (pip install aws-sam-translator cfn-lint); CI runs this cross-check",
			strings.Join(missing, " and "))
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(python, "../../../tests/testdata/sam_translate.py", path)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("sam_translate.py %s: %v\n%s", path, err, stderr.String())
	}
	var out struct{ Resources map[string]any }
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("sam_translate.py %s printed no JSON template: %v", path, err)
	}
	return out.Resources
}

// samComparable is a resource's Type, Condition, DependsOn and Properties as
// JSON would carry them, so SAM's output and ours compare regardless of
// number types or a single DependsOn written as a string. The function's
// Code is left out: ours is a local CodeUri, SAM's an S3 location.
func samComparable(t *testing.T, r any) map[string]any {
	t.Helper()
	data, err := json.Marshal(r)
	if err != nil {
		t.Fatalf("marshal resource: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("unmarshal resource: %v", err)
	}
	out := map[string]any{"Type": m["Type"], "Properties": m["Properties"]}
	if out["Properties"] == nil {
		out["Properties"] = map[string]any{}
	}
	if c, _ := m["Condition"].(string); c != "" {
		out["Condition"] = c
	}
	switch d := m["DependsOn"].(type) {
	case string:
		out["DependsOn"] = []any{d}
	case []any:
		if len(d) > 0 {
			out["DependsOn"] = d
		}
	}
	if props, ok := out["Properties"].(map[string]any); ok && out["Type"] == "AWS::Lambda::Function" {
		delete(props, "Code")
	}
	return out
}

// samCompare checks that our Transform of the template file at path yields
// the given resources exactly as SAM's translator does.
func samCompare(t *testing.T, path string, ids []string) {
	t.Helper()
	reference := samReference(t, path)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	tmpl, err := cfn.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	ours, err := Transform(tmpl)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := cfn.SortedKeys(ours.Resources), cfn.SortedKeys(reference); !slices.Equal(got, want) {
		t.Errorf("logical IDs: ours %q, SAM's %q", got, want)
	}
	for _, id := range ids {
		t.Run(id, func(t *testing.T) {
			is := is.New(t)
			sam, ok := reference[id]
			is.True(ok) // SAM generates this logical ID
			r, ok := ours.Resources[id]
			is.True(ok)                                          // and so do we
			is.Equal(samComparable(t, r), samComparable(t, sam)) // the same resource as SAM writes
		})
	}
}

func TestTransformEventInvokeConfig(t *testing.T) {
	is := is.New(t)
	out := specTransform(t, specFunction(`      EventInvokeConfig:
        MaximumRetryAttempts: 1
        DestinationConfig:
          OnSuccess: {Type: SNS, Destination: arn:aws:sns:us-east-1:1:ok}
          OnFailure: {Type: SQS, Destination: arn:aws:sqs:us-east-1:1:dlq}
`))
	is.Equal(out.Resources["FnEventInvokeConfig"], cfn.Resource{Type: "AWS::Lambda::EventInvokeConfig", Properties: map[string]any{
		"FunctionName": map[string]any{"Ref": "Fn"}, "Qualifier": "$LATEST", "MaximumRetryAttempts": int64(1),
		"DestinationConfig": map[string]any{
			"OnSuccess": map[string]any{"Destination": "arn:aws:sns:us-east-1:1:ok"},
			"OnFailure": map[string]any{"Destination": "arn:aws:sqs:us-east-1:1:dlq"},
		},
	}}) // on $LATEST, the destinations without their Type
	is.Equal(out.Resources["FnRole"].Properties["Policies"], []any{
		specPolicy("FnEventInvokeConfigOnSuccessSNSPolicy", "sns:publish", "arn:aws:sns:us-east-1:1:ok"),
		specPolicy("FnEventInvokeConfigOnFailureSQSPolicy", "sqs:SendMessage", "arn:aws:sqs:us-east-1:1:dlq"),
	}) // the role may reach both destinations, success first, as SAM orders them

	_, err := Transform(specParse(t, specFunction("      EventInvokeConfig:\n        DestinationConfig:\n          OnFailure: {Type: Lambda, Destination: x}\n")))
	specErrorNames(t, err, "Fn", "OnFailure", `"Lambda"`, "SQS or SNS")
	_, err = Transform(specParse(t, specFunction("      EventInvokeConfig:\n        Qualifier: live\n")))
	specErrorNames(t, err, "Fn", "Qualifier")
}

func TestTransformMatchesSAMOnRepoTemplate(t *testing.T) {
	samCompare(t, repoTemplatePath, []string{
		"RotationCheckFunctionHourly", "RotationCheckFunctionHourlyRole",
		"RotationCheckFunctionRole", "RotationCheckFunction", "RotationCheckFunctionEventInvokeConfig",
	})
}

func TestTransformMatchesSAMOnEveryFeature(t *testing.T) {
	// Tags are in key order: we sort them, SAM keeps template order.
	// Mode: "OFF" is quoted because SAM's YAML reader takes a bare OFF for false.
	const src = `Transform: AWS::Serverless-2016-10-31
Conditions:
  Enabled: !Equals [a, a]
Resources:
  Other:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: other
  Fn:
    Type: AWS::Serverless::Function
    Condition: Enabled
    DependsOn: Other
    Metadata: {BuildMethod: makefile}
    Properties:
      CodeUri: fn/
      Handler: bootstrap
      Runtime: provided.al2023
      FunctionName: !Sub ${AWS::StackName}-fn
      Description: Every feature the local transform knows.
      Architectures: [x86_64]
      MemorySize: 256
      Timeout: 30
      LoggingConfig: {LogFormat: Text}
      Environment:
        Variables:
          QUEUE: !Ref Other
      Tags:
        app: audit
        team: platform
      Policies:
        - arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole
        - arn:aws:iam::aws:policy/ReadOnlyAccess
        - Version: "2012-10-17"
          Statement:
            - Effect: Allow
              Action: sqs:SendMessage
              Resource: !GetAtt Other.Arn
        - !If
          - Enabled
          - Version: "2012-10-17"
            Statement:
              - Effect: Allow
                Action: sqs:ReceiveMessage
                Resource: !GetAtt Other.Arn
          - !Ref AWS::NoValue
        - !If
          - Enabled
          - Statement:
              - {Effect: Allow, Action: sqs:GetQueueUrl, Resource: "*"}
          - Statement:
              - {Effect: Allow, Action: sqs:GetQueueAttributes, Resource: "*"}
      Events:
        Nightly:
          Type: ScheduleV2
          Properties:
            ScheduleExpression: cron(0 3 * * ? *)
            ScheduleExpressionTimezone: Europe/Berlin
            State: DISABLED
            OmitName: true
            GroupName: nightly
            Description: Runs at night.
            StartDate: "2026-01-01T00:00:00Z"
            EndDate: "2027-01-01T00:00:00Z"
            KmsKeyArn: arn:aws:kms:us-east-1:123456789012:key/k
            PermissionsBoundary: arn:aws:iam::123456789012:policy/boundary
            FlexibleTimeWindow: {Mode: FLEXIBLE, MaximumWindowInMinutes: 15}
            DeadLetterConfig: {Type: SQS}
        Weekly:
          Type: ScheduleV2
          Properties:
            ScheduleExpression: rate(7 days)
            Name: weekly
            Input: '{"kind":"weekly"}'
            RetryPolicy: {MaximumRetryAttempts: 0}
            FlexibleTimeWindow: {Mode: "OFF"}
            DeadLetterConfig: {Type: SQS, QueueLogicalId: WeeklyDLQ}
        Hourly:
          Type: ScheduleV2
          Properties:
            ScheduleExpression: rate(1 hour)
            RoleArn: arn:aws:iam::123456789012:role/scheduler
            DeadLetterConfig: {Arn: !GetAtt Other.Arn}
`
	path := filepath.Join(t.TempDir(), "template.yaml")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	samCompare(t, path, []string{
		"Other", "Fn", "FnRole",
		"FnNightly", "FnNightlyRole", "FnNightlyQueue",
		"FnWeekly", "FnWeeklyRole", "WeeklyDLQ",
		"FnHourly",
	})
}

func TestTransformSQSEvents(t *testing.T) {
	is := is.New(t)
	out := specTransform(t, specFunction(`      Policies: [arn:aws:iam::aws:policy/ReadOnlyAccess]
      Events:
        Work:
          Type: SQS
          Properties:
            Queue: arn:aws:sqs:us-east-1:1:work
            BatchSize: 50
            MaximumBatchingWindowInSeconds: 5
            Enabled: false
            FunctionResponseTypes: [ReportBatchItemFailures]
            ScalingConfig: {MaximumConcurrency: 2}
        Plain:
          Type: SQS
          Properties:
            Queue: arn:aws:sqs:us-east-1:1:plain
`))
	is.Equal(out.Resources["FnWork"], cfn.Resource{Type: "AWS::Lambda::EventSourceMapping", Properties: map[string]any{
		"FunctionName": map[string]any{"Ref": "Fn"}, "EventSourceArn": "arn:aws:sqs:us-east-1:1:work",
		"BatchSize": int64(50), "MaximumBatchingWindowInSeconds": int64(5), "Enabled": false,
		"FunctionResponseTypes": []any{"ReportBatchItemFailures"}, "ScalingConfig": map[string]any{"MaximumConcurrency": int64(2)},
	}}) // <FunctionId><EventName>, every setting passed through
	is.Equal(out.Resources["FnPlain"], cfn.Resource{Type: "AWS::Lambda::EventSourceMapping", Properties: map[string]any{
		"FunctionName": map[string]any{"Ref": "Fn"}, "EventSourceArn": "arn:aws:sqs:us-east-1:1:plain",
	}}) // Lambda's defaults where the event sets nothing
	is.Equal(out.Resources["FnRole"].Properties["ManagedPolicyArns"], []any{
		"arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
		"arn:aws:iam::aws:policy/ReadOnlyAccess",
		"arn:aws:iam::aws:policy/service-role/AWSLambdaSQSQueueExecutionRole",
	}) // the poller's permissions, once for two events, after the function's own

	own := specTransform(t, specFunction(`      Role: arn:aws:iam::1:role/own
      Events:
        Work:
          Type: SQS
          Properties: {Queue: arn:aws:sqs:us-east-1:1:work}
`))
	_, made := own.Resources["FnRole"]
	is.True(!made)                                                            // a given role is left as it is
	is.Equal(own.Resources["FnWork"].Type, "AWS::Lambda::EventSourceMapping") // and the mapping is still made
}

func TestTransformSQSEventErrors(t *testing.T) {
	_, err := Transform(specParse(t, specFunction(`      Events:
        Work:
          Type: SQS
          Properties: {BatchSize: 5}
`)))
	specErrorNames(t, err, "Fn", "FnWork", "Queue")
	_, err = Transform(specParse(t, specFunction(`      Events:
        Work:
          Type: SQS
          Properties:
            Queue: arn:aws:sqs:us-east-1:1:work
            FilterCriteria: {Filters: [{Pattern: "{}"}]}
`)))
	specErrorNames(t, err, "Fn", "FilterCriteria")
}

func TestTransformMatchesSAMOnSQSEvents(t *testing.T) {
	samCompare(t, "testdata/sqs-events.yaml", []string{
		"Work", "WorkDLQ", "Worker", "WorkerRole", "WorkerWork", "WorkerOther", "OwnRole", "OwnRoleWork",
	})
}
