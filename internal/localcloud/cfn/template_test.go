package cfn

import (
	"os"
	"strings"
	"testing"

	"github.com/matryer/is"
)

// repoTemplatePath is the application's own template, the one the deployer reads.
const repoTemplatePath = "../../../template.yaml"

// specRepoTemplate parses the application's template.yaml.
func specRepoTemplate(t *testing.T) *Template {
	t.Helper()
	data, err := os.ReadFile(repoTemplatePath)
	if err != nil {
		t.Fatalf("read %s: %v", repoTemplatePath, err)
	}
	tmpl, err := Parse(data)
	if err != nil {
		t.Fatalf("parse %s: %v", repoTemplatePath, err)
	}
	return tmpl
}

// specParse parses an inline template, failing the test on error.
func specParse(t *testing.T, src string) *Template {
	t.Helper()
	tmpl, err := Parse([]byte(src))
	if err != nil {
		t.Fatalf("parse template: %v\n%s", err, src)
	}
	return tmpl
}

// specErrorNames fails the test unless err is an error whose text holds every
// one of names, so an error message points at what is wrong.
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

func specPtr[T any](v T) *T { return &v }

func TestParseTemplateReadsRepoTemplate(t *testing.T) {
	is := is.New(t)
	tmpl := specRepoTemplate(t)

	is.Equal(tmpl.Transforms, []string{"AWS::Serverless-2016-10-31"}) // the SAM transform
	is.True(strings.HasPrefix(tmpl.Description, "rotation-audit: every hour"))
	is.Equal(len(tmpl.Parameters), 13) // with SecurityHubFindings, and organization mode's Accounts, Regions, MemberRoleName, WorkerConcurrency
	is.Equal(tmpl.Parameters["ScheduleExpression"], Parameter{
		Type: "String", Default: specPtr("rate(1 hour)"),
		Description: "When EventBridge Scheduler runs the check (rate(), cron() or at()).",
	}) // a plain parameter, whole
	is.Equal(tmpl.Parameters["SeedTestSecrets"].AllowedValues, []string{"true", "false"})
	for _, name := range []string{"MaxAgeDays", "RetentionDays"} {
		p := tmpl.Parameters[name]
		is.Equal(p.Type, "String")
		is.Equal(p.ConstraintDescription, "must be a whole number of days from 1 to 3650")
		for _, ok := range []string{"1", "30", "400", "999", "1000", "3599", "3649", "3650"} {
			is.True(p.AllowedPattern.MatchString(ok)) // whole days from 1 to 3650
		}
		for _, bad := range []string{"0", "1.5", "30 ", "-1", "3651", "4000", "10000", "030", ""} {
			is.True(!p.AllowedPattern.MatchString(bad)) // nothing else, anchored at both ends
		}
	}
	is.Equal(tmpl.Conditions["SeedSecrets"],
		map[string]any{"Fn::Equals": []any{map[string]any{"Ref": "SeedTestSecrets"}, "true"}}) // a condition, in long form

	is.Equal(tmpl.Resources["RotationCheckFunction"].Type, "AWS::Serverless::Function") // before the SAM transform
	for _, id := range []string{"FreshSecret", "StaleSecret", "IgnoredSecret"} {
		is.Equal(tmpl.Resources[id].Condition, "SeedSecrets") // test secrets exist only when seeding
	}
	is.Equal(tmpl.Resources["RotationCheckFunction"].Metadata, map[string]any{"BuildMethod": "makefile"}) // sam build's instructions survive
	is.Equal(tmpl.Resources["DeadLetterQueue"].Properties["MessageRetentionPeriod"], int64(1209600))      // integers are int64
	is.Equal(tmpl.Resources["AuditTable"].Properties["TableName"], map[string]any{"Fn::Sub": "${AWS::StackName}-audit"})

	is.Equal(tmpl.Outputs["FunctionName"], Output{Description: "The rotation-check Lambda function.", Value: map[string]any{"Ref": "RotationCheckFunction"}})
	is.Equal(tmpl.Outputs["FreshSecretName"], Output{Condition: "SeedSecrets", Value: map[string]any{"Fn::Sub": "${AWS::StackName}-fresh"}}) // an output with its condition

}

// specValue parses a template whose one resource has the property Value
// written as src, and returns the parsed Value.
func specValue(t *testing.T, src string) any {
	t.Helper()
	tmpl := specParse(t, "Resources:\n  R:\n    Type: AWS::SQS::Queue\n    Properties:\n      Value: "+src+"\n")
	return tmpl.Resources["R"].Properties["Value"]
}

func TestParseTemplateShortForms(t *testing.T) {
	ref := func(name string) map[string]any { return map[string]any{"Ref": name} }
	tests := []struct {
		name string
		src  string
		want any
	}{
		{"Ref", `!Ref X`, ref("X")},
		{"Ref of a pseudo parameter", `!Ref AWS::StackName`, ref("AWS::StackName")},
		{"Sub", `!Sub "a-${AWS::StackName}"`, map[string]any{"Fn::Sub": "a-${AWS::StackName}"}},
		{"Sub with variables", `!Sub ["${A}-x", {A: !Ref P}]`,
			map[string]any{"Fn::Sub": []any{"${A}-x", map[string]any{"A": ref("P")}}}},
		{"GetAtt", `!GetAtt A.Arn`, map[string]any{"Fn::GetAtt": []any{"A", "Arn"}}},
		{"GetAtt splits at the first dot only", `!GetAtt Db.Endpoint.Address`,
			map[string]any{"Fn::GetAtt": []any{"Db", "Endpoint.Address"}}},
		{"GetAtt as a list", `!GetAtt [A, Arn]`, map[string]any{"Fn::GetAtt": []any{"A", "Arn"}}},
		{"long-form GetAtt as a string", `{"Fn::GetAtt": "A.Arn"}`, map[string]any{"Fn::GetAtt": []any{"A", "Arn"}}},
		{"Equals", `!Equals [a, b]`, map[string]any{"Fn::Equals": []any{"a", "b"}}},
		{"If nested with Ref and NoValue", `!If [C, !Ref A, !Ref AWS::NoValue]`,
			map[string]any{"Fn::If": []any{"C", ref("A"), ref("AWS::NoValue")}}},
		{"Join", `!Join ["-", [a, !Ref B]]`, map[string]any{"Fn::Join": []any{"-", []any{"a", ref("B")}}}},
		{"Select of Split", `!Select [1, !Split [",", "a,b"]]`,
			map[string]any{"Fn::Select": []any{int64(1), map[string]any{"Fn::Split": []any{",", "a,b"}}}}},
		{"Not, And, Or and Condition", `!Not [!And [!Condition A, !Or [!Condition B, !Condition C]]]`,
			map[string]any{"Fn::Not": []any{map[string]any{"Fn::And": []any{
				map[string]any{"Condition": "A"},
				map[string]any{"Fn::Or": []any{map[string]any{"Condition": "B"}, map[string]any{"Condition": "C"}}},
			}}}}},
		{"a short form's scalar is a string", `!Ref 123`, ref("123")},
		{"long form stays long form", `{"Fn::GetAtt": [A, Arn]}`, map[string]any{"Fn::GetAtt": []any{"A", "Arn"}}},
		{"unsupported intrinsics still parse", `!ImportValue shared-vpc`, map[string]any{"Fn::ImportValue": "shared-vpc"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			is.Equal(specValue(t, tt.src), tt.want) // the long form CloudFormation sees
		})
	}
}

func TestParseTemplateScalars(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want any
	}{
		{"integer", `30`, int64(30)},
		{"negative integer", `-7`, int64(-7)},
		{"float", `1.5`, 1.5},
		{"bool", `true`, true},
		{"quoted bool is a string", `"true"`, "true"},
		{"quoted integer is a string", `"30"`, "30"},
		{"null", `null`, nil},
		{"date stays a string", `2026-01-02`, "2026-01-02"},
		{"timestamp stays a string as written", `2026-01-02T03:04:05Z`, "2026-01-02T03:04:05Z"},
		{"list of integers", `[1, 2]`, []any{int64(1), int64(2)}},
		{"folded string", ">-\n        a\n        b", "a b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			is.Equal(specValue(t, tt.src), tt.want) // plain Go values, integers as int64
		})
	}
}

func TestParseTemplateResourceAttributes(t *testing.T) {
	is := is.New(t)
	tmpl := specParse(t, `
Conditions:
  Always: !Equals [a, a]
Resources:
  One:
    Type: AWS::SQS::Queue
    Condition: Always
    DependsOn: Two
    DeletionPolicy: Delete
    UpdateReplacePolicy: Retain
    Metadata: {Note: kept}
  Two:
    Type: AWS::SQS::Queue
    DependsOn: [Three, Four]
  Three:
    Type: AWS::SQS::Queue
  Four:
    Type: AWS::SQS::Queue
`)
	is.Equal(tmpl.Resources["One"], Resource{
		Type: "AWS::SQS::Queue", Condition: "Always", DependsOn: []string{"Two"},
		Metadata: map[string]any{"Note": "kept"}, Properties: map[string]any{},
	}) // a single DependsOn becomes a list; no Properties is an empty map
	is.Equal(tmpl.Resources["Two"].DependsOn, []string{"Three", "Four"}) // a DependsOn list keeps its order
	is.Equal(tmpl.Transforms, nil)                                       // no Transform section, no transforms
}

func TestParseTemplateAliasesAndTransformList(t *testing.T) {
	is := is.New(t)
	tmpl := specParse(t, `
Transform: [AWS::Serverless-2016-10-31]
Resources:
  One:
    Type: AWS::SQS::Queue
    Properties:
      Tags: &tags
        - {Key: team, Value: platform}
  Two:
    Type: AWS::SQS::Queue
    Properties:
      Tags: *tags
`)
	is.Equal(tmpl.Transforms, []string{"AWS::Serverless-2016-10-31"})                            // a list of transforms
	is.Equal(tmpl.Resources["Two"].Properties["Tags"], tmpl.Resources["One"].Properties["Tags"]) // an alias is its anchor's value
}

func TestParseTemplateErrors(t *testing.T) {
	const queue = "Resources:\n  Queue:\n    Type: AWS::SQS::Queue\n"
	tests := []struct {
		name  string
		src   string
		names []string // what the error must mention
	}{
		{"empty template", ``, []string{"empty"}},
		{"only a comment", "# nothing here\n", []string{"empty"}},
		{"invalid YAML", "Resources: [\n", []string{"parse template"}},
		{"not a mapping", "- a\n- b\n", []string{"not a mapping"}},
		{"unknown tag", "Resources:\n  Queue:\n    Type: AWS::SQS::Queue\n    Properties:\n      QueueName: !Bogus x\n",
			[]string{"!Bogus", "line 5"}},
		{"GetAtt without attribute", "Resources:\n  Queue:\n    Type: AWS::SQS::Queue\n    Properties:\n      QueueName: !GetAtt Other\n",
			[]string{"!GetAtt Other"}},
		{"duplicate key", "Resources:\n  Queue:\n    Type: AWS::SQS::Queue\n  Queue:\n    Type: AWS::SQS::Queue\n",
			[]string{"Queue appears twice", "line 4"}},
		{"merge key", "Resources:\n  Queue:\n    Type: AWS::SQS::Queue\n    Properties:\n      <<: {A: b}\n",
			[]string{"merge"}},
		{"Globals section", "Globals:\n  Function:\n    Timeout: 3\n" + queue, []string{"Globals"}},
		{"Mappings section", "Mappings:\n  M: {a: {b: c}}\n" + queue, []string{"Mappings"}},
		{"no Resources", "Description: nothing\n", []string{"Resources"}},
		{"empty Resources", "Resources: {}\n", []string{"Resources"}},
		{"Transform not a name", "Transform: {Name: x}\n" + queue, []string{"Transform"}},
		{"resource without Type", "Resources:\n  Queue:\n    Properties: {}\n", []string{"Queue", "Type"}},
		{"resource not a mapping", "Resources:\n  Queue: AWS::SQS::Queue\n", []string{"Queue", "mapping"}},
		{"unsupported resource attribute", "Resources:\n  Queue:\n    Type: AWS::SQS::Queue\n    UpdatePolicy: {}\n",
			[]string{"Queue", "UpdatePolicy"}},
		{"parameter type other than String or Number", "Parameters:\n  Subnets:\n    Type: CommaDelimitedList\n" + queue,
			[]string{"Subnets", "CommaDelimitedList"}},
		{"parameter without Type", "Parameters:\n  Env:\n    Default: x\n" + queue, []string{"Env", "type"}},
		{"parameter constraint that is not enforced", "Parameters:\n  Env:\n    Type: String\n    MinLength: 3\n" + queue,
			[]string{"Env", "MinLength"}},
		{"AllowedPattern on a Number", "Parameters:\n  Days:\n    Type: Number\n    AllowedPattern: '[0-9]+'\n" + queue,
			[]string{"Days", "AllowedPattern applies to String parameters only"}},
		{"AllowedPattern that does not compile", "Parameters:\n  Env:\n    Type: String\n    AllowedPattern: '[a-z'\n" + queue,
			[]string{"Env", "AllowedPattern"}},
		{"parameter MinValue not a number", "Parameters:\n  Days:\n    Type: Number\n    MinValue: one\n" + queue,
			[]string{"Days", "MinValue"}},
		{"parameter not a mapping", "Parameters:\n  Env: String\n" + queue, []string{"Env", "mapping"}},
		{"output with Export", queue + "Outputs:\n  QueueURL:\n    Value: !Ref Queue\n    Export:\n      Name: shared-queue\n",
			[]string{"QueueURL", "Export"}},
		{"output not a mapping", queue + "Outputs:\n  QueueURL: x\n", []string{"QueueURL", "mapping"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.src))
			specErrorNames(t, err, tt.names...)
		})
	}
}

func TestScalarString(t *testing.T) {
	tests := []struct {
		in   any
		want string
	}{
		{"rate(1 hour)", "rate(1 hour)"},
		{int64(30), "30"},
		{int64(-1), "-1"},
		{1.5, "1.5"},
		{3650.0, "3650"},
		{1e21, "1000000000000000000000"},
		{true, "true"},
		{false, "false"},
		{nil, ""},
	}
	for _, tt := range tests {
		is := is.New(t)
		is.Equal(String(tt.in), tt.want) // CloudFormation sees every scalar as a string
	}
}

func TestSortedKeys(t *testing.T) {
	is := is.New(t)
	is.Equal(SortedKeys(map[string]int{"b": 1, "a": 2, "c": 3}), []string{"a", "b", "c"}) // keys in order
	is.Equal(len(SortedKeys(map[string]any{})), 0)                                        // an empty map has no keys
}
