package cfn

import (
	"os"
	"strings"
	"testing"

	"github.com/matryer/is"
)

// specStack is the stack most plans are made for.
var specStack = Stack{Name: "rotcheck", Region: "us-east-1", Account: "123456789012"}

// specPlan plans testdata/stack.yaml as the stack "rotcheck" with the given
// parameter overrides.
func specPlan(t *testing.T, overrides map[string]string) (*Plan, error) {
	t.Helper()
	data, err := os.ReadFile("testdata/stack.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return NewPlan(specParse(t, string(data)), specStack, overrides)
}

func TestNewPlanParameterDefaults(t *testing.T) {
	is := is.New(t)
	p, err := specPlan(t, nil)
	is.NoErr(err) // the template plans with its defaults
	is.Equal(p.Params(), map[string]string{
		"ScheduleExpression": "rate(1 hour)",
		"MaxAgeDays":         "30",
		"RetentionDays":      "400",
		"SeedTestSecrets":    "true",
	}) // every parameter has its default, as a string
	is.True(p.Condition("SeedSecrets")) // seeding is on by default
	is.Equal(p.stack, specStack)
}

func TestNewPlanParameterOverrides(t *testing.T) {
	is := is.New(t)
	p, err := specPlan(t, map[string]string{"ScheduleExpression": "rate(5 minutes)", "MaxAgeDays": "1", "RetentionDays": "3650"})
	is.NoErr(err) // overrides within the allowed range
	is.Equal(p.Params(), map[string]string{
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

func TestNewPlanParameterAllowedPattern(t *testing.T) {
	is := is.New(t)
	tmpl := specParse(t, `Parameters:
  Days:
    Type: String
    Default: "30"
    AllowedPattern: "[1-9][0-9]*"
    ConstraintDescription: must be a whole number of days
  Env:
    Type: String
    Default: prod
    AllowedPattern: "[a-z]+"
Resources:
  Queue:
    Type: AWS::SQS::Queue
`)
	_, err := NewPlan(tmpl, specStack, map[string]string{"Days": "1.5"})
	specErrorNames(t, err, `parameter Days="1.5" is refused: must be a whole number of days`) // CloudFormation's message is the template's
	_, err = NewPlan(tmpl, specStack, map[string]string{"Env": "Prod"})
	specErrorNames(t, err, `parameter Env="Prod" is refused: it must match [a-z]+`) // without one, the pattern
	_, err = NewPlan(tmpl, specStack, map[string]string{"Days": "90", "Env": "test"})
	is.NoErr(err)
}

func TestNewPlanParameterWithoutDefault(t *testing.T) {
	is := is.New(t)
	tmpl := specParse(t, specNoDefaultTemplate)

	_, err := NewPlan(tmpl, specStack, nil)
	specErrorNames(t, err, "QueueName", "no default") // a value is required

	p, err := NewPlan(tmpl, specStack, map[string]string{"QueueName": "q"})
	is.NoErr(err)                          // given a value, it plans
	is.Equal(p.Params()["QueueName"], "q") // with that value
}

func TestNewPlanStackNames(t *testing.T) {
	tmpl := specParse(t, "Resources:\n  Queue:\n    Type: AWS::SQS::Queue\n")
	for _, name := range []string{"", "1abc", "has_underscore", "has space", "-leading", "dotted.name", strings.Repeat("a", 129)} {
		t.Run("invalid "+name, func(t *testing.T) {
			_, err := NewPlan(tmpl, Stack{Name: name}, nil)
			specErrorNames(t, err, `stack name "`+name+`"`, "1 to 128 characters") // names the rule, length included
		})
	}
	for _, name := range []string{"a", "rotcheck", "Rot-Check-2", strings.Repeat("a", 128)} {
		t.Run("valid "+name, func(t *testing.T) {
			is := is.New(t)
			_, err := NewPlan(tmpl, Stack{Name: name}, nil)
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

	for _, id := range on.Order {
		is.True(on.Enabled(id))                   // by default every resource is deployed
		is.Equal(off.Enabled(id), id != "Secret") // without seeding, exactly the test secret is not
	}
	is.True(!off.Condition("SeedSecrets")) // the condition follows the parameter
}

func TestNewPlanCreationOrder(t *testing.T) {
	is := is.New(t)
	p, err := specPlan(t, nil)
	is.NoErr(err)

	is.Equal(p.Order, []string{
		"Table", "Role", "Function", "Queue", "Schedule", "Secret",
	}) // dependencies first, otherwise alphabetical

	pos := map[string]int{}
	for i, id := range p.Order {
		pos[id] = i
	}
	is.Equal(len(pos), len(p.Template.Resources)) // every resource exactly once
	for id, r := range p.Template.Resources {
		for _, dep := range append(resourceRefs(r.Properties, p.Template.Resources), r.DependsOn...) {
			if pos[dep] >= pos[id] {
				t.Errorf("%s comes before %s, which it refers to", id, dep)
			}
		}
	}

	for range 5 {
		again, err := specPlan(t, nil)
		is.NoErr(err)
		is.Equal(again.Order, p.Order) // the same order every time
	}
}

func TestNewPlanCreationOrderFollowsDependsOn(t *testing.T) {
	is := is.New(t)
	p, err := NewPlan(specParse(t, `Resources:
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
`), specStack, nil)
	is.NoErr(err)
	is.Equal(p.Order, []string{"B", "D", "C", "A"}) // DependsOn orders like a reference; ties alphabetical
}

func TestNewPlanRefCycleNamesOnlyTheCycle(t *testing.T) {
	is := is.New(t)
	_, err := NewPlan(specParse(t, `Resources:
  Entry:
    Type: AWS::SQS::Queue
    Properties: {QueueName: !GetAtt LoopA.QueueName}
  LoopA:
    Type: AWS::SQS::Queue
    Properties: {QueueName: !Sub "${LoopB.QueueName}-a"}
  LoopB:
    Type: AWS::SQS::Queue
    Properties: {QueueName: !Ref LoopA}
`), specStack, nil)
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
		{"transform not applied", "Transform: AWS::Serverless-2016-10-31\nResources:\n" + queue,
			[]string{"transform AWS::Serverless-2016-10-31", "apply it"}},
		{"Ref to nothing", "Resources:\n" + queue + "    Properties: {QueueName: !Ref Nope}\n",
			[]string{"resource Queue", "!Ref Nope", "no parameter, pseudo parameter or resource"}},
		{"GetAtt of nothing", "Resources:\n" + queue + "    Properties: {QueueName: !GetAtt Nope.Arn}\n",
			[]string{"resource Queue", "!GetAtt Nope.Arn", "no resource is named Nope"}},
		{"Sub of nothing", "Resources:\n" + queue + "    Properties: {QueueName: !Sub \"${AWS::StackName}-${Nope}\"}\n",
			[]string{"resource Queue", "${Nope}"}},
		{"Sub attribute of nothing", "Resources:\n" + queue + "    Properties: {QueueName: !Sub \"${Nope.Arn}\"}\n",
			[]string{"resource Queue", "${Nope.Arn}", "no resource"}},
		{"If on an undefined condition", "Resources:\n" + queue + "    Properties: {QueueName: !If [Nope, a, b]}\n",
			[]string{"resource Queue", "condition Nope"}},
		{"output Ref to nothing", "Resources:\n" + queue + "Outputs:\n  URL:\n    Value: !Ref Qeueu\n",
			[]string{"output URL", "!Ref Qeueu"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewPlan(specParse(t, tt.src), specStack, nil)
			specErrorNames(t, err, tt.names...)
		})
	}
}
