package cfn

import (
	"slices"
	"testing"

	"github.com/matryer/is"
)

const (
	specQueueARN = "arn:aws:sqs:eu-west-1:123456789012:rotcheck-dlq"
	specQueueURL = "http://127.0.0.1:4566/123456789012/rotcheck-dlq"
	specTableARN = "arn:aws:dynamodb:eu-west-1:123456789012:table/rotcheck-audit"
)

// specScope is a stack "rotcheck" mid-deploy: Queue and Table are created,
// Later is declared but not created yet.
func specScope() *scope {
	return &scope{
		stack:      Stack{Name: "rotcheck", Region: "eu-west-1", Account: "123456789012"},
		params:     map[string]string{"Env": "test", "Days": "30"},
		conditions: map[string]bool{"IsTest": true, "IsProd": false},
		resources: map[string]Resource{
			"Queue": {Type: "AWS::SQS::Queue"},
			"Table": {Type: "AWS::DynamoDB::Table"},
			"Later": {Type: "AWS::IAM::Role"},
		},
		refs: map[string]string{"Queue": specQueueURL, "Table": "rotcheck-audit"},
		attrs: map[string]map[string]string{
			"Queue": {"Arn": specQueueARN, "QueueName": "rotcheck-dlq"},
			"Table": {"Arn": specTableARN},
		},
	}
}

func specRef(name string) map[string]any         { return map[string]any{"Ref": name} }
func specCond(name string) map[string]any        { return map[string]any{"Condition": name} }
func specFn(name string, arg any) map[string]any { return map[string]any{name: arg} }

func TestResolveIntrinsics(t *testing.T) {
	tests := []struct {
		name string
		in   any
		want any
	}{
		{"Ref to a parameter", specRef("Env"), "test"},
		{"Ref to a created resource", specRef("Queue"), specQueueURL},
		{"AWS::StackName", specRef("AWS::StackName"), "rotcheck"},
		{"AWS::Region", specRef("AWS::Region"), "eu-west-1"},
		{"AWS::AccountId", specRef("AWS::AccountId"), "123456789012"},
		{"AWS::Partition", specRef("AWS::Partition"), "aws"},
		{"AWS::URLSuffix", specRef("AWS::URLSuffix"), "amazonaws.com"},
		{"AWS::StackId", specRef("AWS::StackId"), "arn:aws:cloudformation:eu-west-1:123456789012:stack/rotcheck/local"},
		{"GetAtt", specFn("Fn::GetAtt", []any{"Queue", "Arn"}), specQueueARN},
		{"Sub with a parameter, an attribute and a pseudo parameter",
			specFn("Fn::Sub", "${AWS::StackName}-${Env}-${Queue.QueueName}-${Table.Arn}"),
			"rotcheck-test-rotcheck-dlq-" + specTableARN},
		{"Sub with a resource Ref", specFn("Fn::Sub", "url=${Queue}"), "url=" + specQueueURL},
		{"Sub keeps ${!Literal} as ${Literal}", specFn("Fn::Sub", "${!Literal}-${Env}"), "${Literal}-test"},
		{"Sub without variables", specFn("Fn::Sub", "plain"), "plain"},
		{"Sub with its own variables", specFn("Fn::Sub", []any{"${Name}/${Env}/${AWS::Region}", map[string]any{
			"Name": specFn("Fn::GetAtt", []any{"Queue", "QueueName"}),
		}}), "rotcheck-dlq/test/eu-west-1"},
		{"Sub variables shadow parameters", specFn("Fn::Sub", []any{"${Env}", map[string]any{"Env": "prod"}}), "prod"},
		{"Join", specFn("Fn::Join", []any{"-", []any{"a", specRef("Env"), int64(3)}}), "a-test-3"},
		{"Join of an empty list", specFn("Fn::Join", []any{",", []any{}}), ""},
		{"Select", specFn("Fn::Select", []any{int64(1), []any{"a", "b", "c"}}), "b"},
		{"Select with a string index", specFn("Fn::Select", []any{"0", []any{"a"}}), "a"},
		{"Select of Split", specFn("Fn::Select", []any{int64(5), specFn("Fn::Split", []any{":", specFn("Fn::GetAtt", []any{"Queue", "Arn"})})}), "rotcheck-dlq"},
		{"Split", specFn("Fn::Split", []any{",", "a,b,,c"}), []any{"a", "b", "", "c"}},
		{"If true", specFn("Fn::If", []any{"IsTest", specRef("Env"), "other"}), "test"},
		{"If false", specFn("Fn::If", []any{"IsProd", specRef("Env"), "other"}), "other"},
		{"If takes no branch it does not need", specFn("Fn::If", []any{"IsTest", "ok", specRef("Nope")}), "ok"},
		{"Equals of equal strings", specFn("Fn::Equals", []any{specRef("Env"), "test"}), true},
		{"Equals of different strings", specFn("Fn::Equals", []any{specRef("Env"), "prod"}), false},
		{"Equals compares as strings", specFn("Fn::Equals", []any{specRef("Days"), int64(30)}), true},
		{"Not", specFn("Fn::Not", []any{specCond("IsTest")}), false},
		{"And", specFn("Fn::And", []any{specCond("IsTest"), specFn("Fn::Not", []any{specCond("IsProd")})}), true},
		{"And with a false", specFn("Fn::And", []any{specCond("IsTest"), specCond("IsProd")}), false},
		{"Or", specFn("Fn::Or", []any{specCond("IsProd"), specCond("IsTest")}), true},
		{"Or of falses", specFn("Fn::Or", []any{specCond("IsProd"), specFn("Fn::Equals", []any{"a", "b"})}), false},
		{"Condition", specCond("IsTest"), true},
		{"plain values are left alone", map[string]any{"N": int64(1), "B": true, "S": "s", "Two": map[string]any{"Ref": "x", "Other": "y"}},
			map[string]any{"N": int64(1), "B": true, "S": "s", "Two": map[string]any{"Ref": "x", "Other": "y"}}},
		{"intrinsics nested in maps and lists", map[string]any{"List": []any{specRef("Env"), map[string]any{"Arn": specFn("Fn::GetAtt", []any{"Table", "Arn"})}}},
			map[string]any{"List": []any{"test", map[string]any{"Arn": specTableARN}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			got, err := specScope().resolve(tt.in)
			is.NoErr(err)          // it resolves
			is.Equal(got, tt.want) // to what CloudFormation would make of it
		})
	}
}

func TestResolveNoValue(t *testing.T) {
	is := is.New(t)
	s := specScope()

	got, err := s.resolve(map[string]any{
		"Keep":     "x",
		"Drop":     specRef("AWS::NoValue"),
		"DropIf":   specFn("Fn::If", []any{"IsProd", "y", specRef("AWS::NoValue")}),
		"KeepElse": specFn("Fn::If", []any{"IsTest", "z", specRef("AWS::NoValue")}),
	})
	is.NoErr(err)
	is.Equal(got, map[string]any{"Keep": "x", "KeepElse": "z"}) // AWS::NoValue removes the key

	got, err = s.resolve([]any{"a", specRef("AWS::NoValue"), specFn("Fn::If", []any{"IsProd", "b", specRef("AWS::NoValue")}), "c"})
	is.NoErr(err)
	is.Equal(got, []any{"a", "c"}) // and removes a list element
}

func TestResolveErrors(t *testing.T) {
	tests := []struct {
		name  string
		in    any
		names []string // what the error must mention
	}{
		{"Ref to an unknown name", specRef("Nope"), []string{"Ref Nope", "no such parameter or resource"}},
		{"Ref to a resource not yet created", specRef("Later"), []string{"Ref Later", "not exist (yet)"}},
		{"Ref without a name", specFn("Ref", []any{"Env"}), []string{"Ref needs a name"}},
		{"GetAtt of an unknown resource", specFn("Fn::GetAtt", []any{"Nope", "Arn"}), []string{"Nope.Arn", "no such resource"}},
		{"GetAtt of a resource not yet created", specFn("Fn::GetAtt", []any{"Later", "Arn"}), []string{"Later.Arn", "not exist (yet)"}},
		{"GetAtt of an unknown attribute", specFn("Fn::GetAtt", []any{"Queue", "Bogus"}),
			[]string{"Queue.Bogus", "attribute Bogus", "AWS::SQS::Queue"}},
		{"GetAtt malformed", specFn("Fn::GetAtt", "Queue.Arn"), []string{"Fn::GetAtt needs [resource, attribute]"}},
		{"Sub of an unknown name", specFn("Fn::Sub", "x-${Nope}"), []string{"Fn::Sub", "x-${Nope}", "Nope"}},
		{"Sub of an attribute not yet there", specFn("Fn::Sub", "${Later.Arn}"), []string{"Fn::Sub", "Later.Arn"}},
		{"Sub variable that fails", specFn("Fn::Sub", []any{"${A}", map[string]any{"A": specRef("Nope")}}), []string{"Fn::Sub variable A", "Ref Nope"}},
		{"Sub variables not a mapping", specFn("Fn::Sub", []any{"${A}", []any{"A"}}), []string{"Fn::Sub variables must be a mapping"}},
		{"Sub of a number", specFn("Fn::Sub", int64(1)), []string{"Fn::Sub needs a string"}},
		{"Sub list of three", specFn("Fn::Sub", []any{"a", map[string]any{}, "c"}), []string{"Fn::Sub needs a string"}},
		{"Join malformed", specFn("Fn::Join", "a,b"), []string{"Fn::Join needs [delimiter, [values]]"}},
		{"Join of a non-list", specFn("Fn::Join", []any{",", "a"}), []string{"Fn::Join", "not a list"}},
		{"Select out of range", specFn("Fn::Select", []any{int64(5), []any{"a"}}), []string{"Fn::Select index 5"}},
		{"Select of a negative index", specFn("Fn::Select", []any{int64(-1), []any{"a"}}), []string{"Fn::Select index -1"}},
		{"Select with a non-number index", specFn("Fn::Select", []any{"x", []any{"a"}}), []string{"Fn::Select index x"}},
		{"Select malformed", specFn("Fn::Select", []any{int64(0)}), []string{"Fn::Select needs [index, [values]]"}},
		{"Split malformed", specFn("Fn::Split", ","), []string{"Fn::Split needs [delimiter, string]"}},
		{"If malformed", specFn("Fn::If", []any{"IsTest", "a"}), []string{"Fn::If needs [condition, then, else]"}},
		{"If of an undefined condition", specFn("Fn::If", []any{"Nope", "a", "b"}), []string{"condition Nope is not defined"}},
		{"Condition undefined", specCond("Nope"), []string{"condition Nope is not defined"}},
		{"Equals of one value", specFn("Fn::Equals", []any{"a"}), []string{"Fn::Equals needs two values"}},
		{"Not of two conditions", specFn("Fn::Not", []any{specCond("IsTest"), specCond("IsProd")}), []string{"Fn::Not needs one condition"}},
		{"And of a non-condition", specFn("Fn::And", []any{"yes", specCond("IsTest")}), []string{"Fn::And", "yes", "not a condition"}},
		{"Or not a list", specFn("Fn::Or", "IsTest"), []string{"Fn::Or needs a list"}},
		{"ImportValue", specFn("Fn::ImportValue", "shared-vpc"), []string{"Fn::ImportValue", "not supported"}},
		{"FindInMap", specFn("Fn::FindInMap", []any{"M", "a", "b"}), []string{"Fn::FindInMap", "not supported"}},
		{"GetAZs", specFn("Fn::GetAZs", ""), []string{"Fn::GetAZs", "not supported"}},
		{"Base64", specFn("Fn::Base64", "x"), []string{"Fn::Base64", "not supported"}},
		{"error deep in a property names the path", map[string]any{"Target": map[string]any{"Roles": []any{"ok", specRef("Nope")}}},
			[]string{"Target: Roles: [1]: !Ref Nope"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := specScope().resolve(tt.in)
			specErrorNames(t, err, tt.names...)
		})
	}
}

func TestEvalConditions(t *testing.T) {
	is := is.New(t)
	s := specScope()
	err := s.evalConditions(map[string]any{
		// Sorted first, yet it needs the others: evaluation follows references.
		"AAllOf":  specFn("Fn::And", []any{specCond("IsTest"), specCond("NotProd")}),
		"IsTest":  specFn("Fn::Equals", []any{specRef("Env"), "test"}),
		"IsProd":  specFn("Fn::Equals", []any{specRef("Env"), "prod"}),
		"NotProd": specFn("Fn::Not", []any{specCond("IsProd")}),
		"AnyOf":   specFn("Fn::Or", []any{specCond("IsProd"), specCond("AAllOf")}),
	})
	is.NoErr(err) // conditions may refer to conditions
	is.Equal(s.conditions, map[string]bool{
		"AAllOf": true, "IsTest": true, "IsProd": false, "NotProd": true, "AnyOf": true,
	}) // each condition's value; the scope's previous conditions are replaced

	is.NoErr(s.evalConditions(nil))           // no Conditions section
	is.Equal(s.conditions, map[string]bool{}) // means no conditions
}

func TestEvalConditionsErrors(t *testing.T) {
	tests := []struct {
		name  string
		defs  map[string]any
		names []string // what the error must mention
	}{
		{"undefined condition", map[string]any{"A": specFn("Fn::Not", []any{specCond("Missing")})},
			[]string{"condition Missing is not defined"}},
		{"cycle", map[string]any{"A": specFn("Fn::Not", []any{specCond("B")}), "B": specFn("Fn::Not", []any{specCond("A")})},
			[]string{"condition A depends on itself"}},
		{"self reference", map[string]any{"A": specFn("Fn::Or", []any{specCond("A"), specFn("Fn::Equals", []any{"a", "a"})})},
			[]string{"condition A depends on itself"}},
		{"not a condition function", map[string]any{"A": "yes"}, []string{"condition A", "not a condition function"}},
		{"failing intrinsic", map[string]any{"A": specFn("Fn::Equals", []any{specRef("Nope"), "x"})},
			[]string{"condition A", "Ref Nope"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			specErrorNames(t, specScope().evalConditions(tt.defs), tt.names...)
		})
	}
}

func TestResourceRefs(t *testing.T) {
	resources := specScope().resources
	tests := []struct {
		name string
		in   any
		want []string
	}{
		{"Ref", specRef("Queue"), []string{"Queue"}},
		{"Ref to a parameter or pseudo parameter is no resource", []any{specRef("Env"), specRef("AWS::Region")}, nil},
		{"GetAtt", specFn("Fn::GetAtt", []any{"Table", "Arn"}), []string{"Table"}},
		{"Sub names resources and attributes", specFn("Fn::Sub", "${Queue}/${Later.Arn}/${Env}/${AWS::StackName}"),
			[]string{"Later", "Queue"}},
		{"Sub literal is no reference", specFn("Fn::Sub", "${!Queue}"), nil},
		{"Sub with variables", specFn("Fn::Sub", []any{"${Name}-${Table.Arn}", map[string]any{"Name": specRef("Queue")}}),
			[]string{"Queue", "Table"}},
		{"Sub variable named like a resource is no reference", specFn("Fn::Sub", []any{"${Later}", map[string]any{"Later": "x"}}), nil},
		{"nested, each once", map[string]any{
			"A": []any{specRef("Queue"), specFn("Fn::If", []any{"IsTest", specFn("Fn::GetAtt", []any{"Queue", "Arn"}), specRef("Table")})},
			"B": map[string]any{"C": specFn("Fn::Join", []any{"", []any{specFn("Fn::Sub", "${Later.Arn}")}})},
		}, []string{"Later", "Queue", "Table"}},
		{"unknown names are not resources", []any{specRef("Nope"), specFn("Fn::GetAtt", []any{"Gone", "Arn"})}, nil},
		{"plain values", map[string]any{"Ref": "Queue", "Other": "x"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			got := resourceRefs(tt.in, resources)
			slices.Sort(got)
			is.Equal(got, tt.want) // the resources this value needs created first
		})
	}
}
