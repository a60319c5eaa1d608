package localcloud

import (
	"slices"
	"strings"
	"testing"

	"github.com/matryer/is"
)

// specPlan plans template.yaml as the stack "rotcheck" with the given
// parameter overrides.
func specPlan(t *testing.T, overrides map[string]string) (*plan, error) {
	t.Helper()
	return newPlan(specRepoTemplate(t), "rotcheck", "us-east-1", "123456789012", overrides)
}

func TestNewPlanParameterDefaults(t *testing.T) {
	is := is.New(t)
	p, err := specPlan(t, nil)
	is.NoErr(err) // template.yaml plans with its defaults
	is.Equal(p.params, map[string]string{
		"ScheduleExpression": "rate(1 hour)",
		"MaxAgeDays":         "30",
		"RetentionDays":      "400",
		"SeedTestSecrets":    "true",
	}) // every parameter has its default, as a string
	is.Equal(p.conditions, map[string]bool{"SeedSecrets": true}) // seeding is on by default
	is.Equal(p.tmpl.Transforms, nil)                             // the plan holds the transformed template
	is.Equal(p.resources["RotationCheckFunction"].Type, "AWS::Lambda::Function")
	is.Equal(p.stack, "rotcheck")
	is.Equal(p.region, "us-east-1")
	is.Equal(p.account, "123456789012")
}

func TestNewPlanParameterOverrides(t *testing.T) {
	is := is.New(t)
	p, err := specPlan(t, map[string]string{"ScheduleExpression": "rate(5 minutes)", "MaxAgeDays": "1", "RetentionDays": "3650"})
	is.NoErr(err) // overrides within the allowed range
	is.Equal(p.params, map[string]string{
		"ScheduleExpression": "rate(5 minutes)",
		"MaxAgeDays":         "1",
		"RetentionDays":      "3650",
		"SeedTestSecrets":    "true",
	}) // overrides replace defaults; the bounds themselves are allowed
}

func TestNewPlanParameterErrors(t *testing.T) {
	tests := []struct {
		name      string
		overrides map[string]string
		names     []string // what the error must mention
	}{
		{"unknown parameter", map[string]string{"MaxAge": "30"},
			[]string{"MaxAge", "MaxAgeDays, RetentionDays, ScheduleExpression, SeedTestSecrets"}},
		{"value not allowed", map[string]string{"SeedTestSecrets": "maybe"},
			[]string{"SeedTestSecrets", "maybe", "true, false"}},
		{"Number not a number", map[string]string{"MaxAgeDays": "thirty"}, []string{"MaxAgeDays", "thirty", "not a number"}},
		{"Number below MinValue", map[string]string{"MaxAgeDays": "0"}, []string{"MaxAgeDays=0", "1..3650"}},
		{"Number above MaxValue", map[string]string{"MaxAgeDays": "3651"}, []string{"MaxAgeDays=3651", "1..3650"}},
		{"Number fraction below MinValue", map[string]string{"RetentionDays": "0.5"}, []string{"RetentionDays=0.5", "1..3650"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := specPlan(t, tt.overrides)
			specErrorNames(t, err, tt.names...)
		})
	}
}

// specNoDefaultTemplate has a parameter without a default.
const specNoDefaultTemplate = `Parameters:
  QueueName:
    Type: String
Resources:
  Queue:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: !Ref QueueName
`

func TestNewPlanParameterWithoutDefault(t *testing.T) {
	is := is.New(t)
	tmpl := specParse(t, specNoDefaultTemplate)

	_, err := newPlan(tmpl, "rotcheck", "us-east-1", "123456789012", nil)
	specErrorNames(t, err, "QueueName", "no default") // a value is required

	p, err := newPlan(tmpl, "rotcheck", "us-east-1", "123456789012", map[string]string{"QueueName": "q"})
	is.NoErr(err)                        // given a value, it plans
	is.Equal(p.params["QueueName"], "q") // with that value
}

func TestNewPlanStackNames(t *testing.T) {
	tmpl := specRepoTemplate(t)
	for _, name := range []string{"", "1abc", "has_underscore", "has space", "-leading", "dotted.name", strings.Repeat("a", 129)} {
		t.Run("invalid "+name, func(t *testing.T) {
			_, err := newPlan(tmpl, name, "us-east-1", "123456789012", nil)
			specErrorNames(t, err, `stack name "`+name+`"`)
		})
	}
	for _, name := range []string{"a", "rotcheck", "Rot-Check-2", strings.Repeat("a", 128)} {
		t.Run("valid "+name, func(t *testing.T) {
			is := is.New(t)
			_, err := newPlan(tmpl, name, "us-east-1", "123456789012", nil)
			is.NoErr(err) // CloudFormation accepts this name
		})
	}
}

func TestNewPlanSeedTestSecretsFalseDisablesTestSecrets(t *testing.T) {
	is := is.New(t)
	on, err := specPlan(t, nil)
	is.NoErr(err)
	off, err := specPlan(t, map[string]string{"SeedTestSecrets": "false"})
	is.NoErr(err)

	secrets := []string{"FreshSecret", "StaleSecret", "IgnoredSecret"}
	for _, id := range on.order {
		seeded := slices.Contains(secrets, id)
		is.True(on.enabled(id))            // by default every resource is deployed
		is.Equal(off.enabled(id), !seeded) // without seeding, exactly the test secrets are not
	}
	is.Equal(off.conditions, map[string]bool{"SeedSecrets": false}) // the condition follows the parameter
}

func TestNewPlanCreationOrder(t *testing.T) {
	is := is.New(t)
	p, err := specPlan(t, nil)
	is.NoErr(err)

	is.Equal(p.order, []string{
		"AuditTable", "DeadLetterQueue", "FreshSecret", "IgnoredSecret",
		"RotationCheckFunctionRole", "RotationCheckFunction",
		"RotationCheckFunctionHourlyRole", "RotationCheckFunctionHourly",
		"StaleSecret",
	}) // dependencies first, otherwise alphabetical

	pos := map[string]int{}
	for i, id := range p.order {
		pos[id] = i
	}
	is.Equal(len(pos), len(p.tmpl.Resources)) // every resource exactly once
	for id, r := range p.tmpl.Resources {
		for _, dep := range append(resourceRefs(r.Properties, p.tmpl.Resources), r.DependsOn...) {
			if pos[dep] >= pos[id] {
				t.Errorf("%s comes before %s, which it refers to", id, dep)
			}
		}
	}

	for range 5 {
		again, err := specPlan(t, nil)
		is.NoErr(err)
		is.Equal(again.order, p.order) // the same order every time
	}
}

func TestNewPlanCreationOrderFollowsDependsOn(t *testing.T) {
	is := is.New(t)
	p, err := newPlan(specParse(t, `Resources:
  A:
    Type: AWS::SQS::Queue
    DependsOn: [C, B]
  B:
    Type: AWS::SQS::Queue
  C:
    Type: AWS::SQS::Queue
    DependsOn: D
  D:
    Type: AWS::SQS::Queue
`), "rotcheck", "us-east-1", "123456789012", nil)
	is.NoErr(err)
	is.Equal(p.order, []string{"B", "D", "C", "A"}) // DependsOn orders like a reference; ties alphabetical
}

func TestNewPlanRefCycleNamesOnlyTheCycle(t *testing.T) {
	is := is.New(t)
	_, err := newPlan(specParse(t, `Resources:
  Entry:
    Type: AWS::SQS::Queue
    Properties: {QueueName: !GetAtt LoopA.QueueName}
  LoopA:
    Type: AWS::SQS::Queue
    Properties: {QueueName: !Sub "${LoopB.QueueName}-a"}
  LoopB:
    Type: AWS::SQS::Queue
    Properties: {QueueName: !Ref LoopA}
`), "rotcheck", "us-east-1", "123456789012", nil)
	is.True(err != nil)                                                                         // resources that need each other cannot be created
	is.Equal(err.Error(), "resources depend on each other in a cycle: LoopA -> LoopB -> LoopA") // Entry only leads into the cycle
}

func TestNewPlanErrors(t *testing.T) {
	const queue = "  Queue:\n    Type: AWS::SQS::Queue\n"
	tests := []struct {
		name  string
		src   string
		names []string // what the error must mention
	}{
		{"self reference", "Resources:\n  Queue:\n    Type: AWS::SQS::Queue\n    Properties: {QueueName: !GetAtt Queue.Arn}\n",
			[]string{"cycle: Queue -> Queue"}},
		{"DependsOn cycle", "Resources:\n  A:\n    Type: AWS::SQS::Queue\n    DependsOn: B\n  B:\n    Type: AWS::SQS::Queue\n    DependsOn: A\n",
			[]string{"cycle: A -> B -> A"}},
		{"DependsOn on an unknown resource", "Resources:\n" + queue + "    DependsOn: Nope\n", []string{"Queue", "DependsOn Nope"}},
		{"resource condition not defined", "Resources:\n" + queue + "    Condition: Nope\n", []string{"resource Queue", "condition Nope"}},
		{"output condition not defined", "Resources:\n" + queue + "Outputs:\n  URL:\n    Condition: Nope\n    Value: !Ref Queue\n",
			[]string{"output URL", "condition Nope"}},
		{"condition cycle", "Conditions:\n  A: !Not [!Condition A]\nResources:\n" + queue, []string{"condition A"}},
		{"transform error", "Transform: AWS::Serverless-2016-10-31\nResources:\n  Api:\n    Type: AWS::Serverless::Api\n",
			[]string{"Api", "AWS::Serverless::Api"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := newPlan(specParse(t, tt.src), "rotcheck", "us-east-1", "123456789012", nil)
			specErrorNames(t, err, tt.names...)
		})
	}
}

func TestPlanCheck(t *testing.T) {
	is := is.New(t)
	p, err := specPlan(t, nil)
	is.NoErr(err)
	is.NoErr(p.check()) // the deployer implements everything template.yaml uses

	tests := []struct {
		name  string
		src   string
		names []string // what the error must mention
	}{
		{"unsupported type", "Resources:\n  Alerts:\n    Type: AWS::SNS::Topic\n", []string{"Alerts", "AWS::SNS::Topic"}},
		{"unsupported property", "Resources:\n  Secret:\n    Type: AWS::SecretsManager::Secret\n    Properties:\n      Name: s\n      ReplicaRegions: [{Region: eu-west-1}]\n",
			[]string{"Secret", "AWS::SecretsManager::Secret", "ReplicaRegions"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := newPlan(specParse(t, tt.src), "rotcheck", "us-east-1", "123456789012", nil)
			if err != nil {
				t.Fatalf("plan: %v", err)
			}
			specErrorNames(t, p.check(), tt.names...)
		})
	}
}
