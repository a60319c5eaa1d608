// Package sam applies the AWS SAM transform (AWS::Serverless-2016-10-31) to
// a parsed template, the way SAM's translator does, for the constructs this
// application uses: AWS::Serverless::Function with ScheduleV2 and SQS events.
//
// It is pure: it imports only the standard library and package cfn.
package sam

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/rotation-audit/rotation-audit/internal/localcloud/cfn"
)

// samTransform is the SAM transform's name in a template's Transform section.
const samTransform = "AWS::Serverless-2016-10-31"

// basicExecutionRoleARN is the managed policy SAM attaches to every function role.
const basicExecutionRoleARN = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"

// sqsExecutionRoleARN is the managed policy SAM attaches to the role of a
// function with an SQS event: what Lambda's poller needs (sqs:ReceiveMessage,
// DeleteMessage, GetQueueAttributes, ChangeMessageVisibility).
const sqsExecutionRoleARN = "arn:aws:iam::aws:policy/service-role/AWSLambdaSQSQueueExecutionRole"

// sqsProperties are the SQS event properties the transform understands
// (SAM accepts more, such as FilterCriteria, which the local poller does
// not implement).
var sqsProperties = map[string]bool{
	"Queue": true, "BatchSize": true, "MaximumBatchingWindowInSeconds": true, "Enabled": true,
	"FunctionResponseTypes": true, "ScalingConfig": true,
}

// functionProperties are the AWS::Serverless::Function properties the
// transform understands; anything else is an error rather than a silent gap.
var functionProperties = map[string]bool{
	"FunctionName": true, "Description": true, "CodeUri": true, "Handler": true, "Runtime": true,
	"Architectures": true, "MemorySize": true, "Timeout": true, "LoggingConfig": true,
	"Environment": true, "Policies": true, "Events": true, "Role": true, "Tags": true,
	"EventInvokeConfig": true,
}

// destinationActions are the permissions SAM grants a function's role for
// each type of EventInvokeConfig destination it supports here.
var destinationActions = map[string]string{"SQS": "sqs:SendMessage", "SNS": "sns:publish"}

// scheduleV2Properties are the ScheduleV2 event properties SAM accepts.
var scheduleV2Properties = map[string]bool{
	"ScheduleExpression": true, "ScheduleExpressionTimezone": true, "FlexibleTimeWindow": true,
	"Input": true, "RetryPolicy": true, "DeadLetterConfig": true, "State": true, "Name": true,
	"OmitName": true, "GroupName": true, "RoleArn": true, "PermissionsBoundary": true,
	"StartDate": true, "EndDate": true, "KmsKeyArn": true, "Description": true,
}

// Transform expands the SAM resources of a template into plain CloudFormation
// resources, the way SAM's translator does (samtranslator/model/sam_resources.py
// and model/eventsources/scheduler.py and pull.py): a function becomes an IAM
// role and an AWS::Lambda::Function, each ScheduleV2 event an
// AWS::Scheduler::Schedule with its own execution role, and each SQS event an
// AWS::Lambda::EventSourceMapping. A template without the SAM transform is
// returned unchanged; a SAM construct it does not know is an error.
func Transform(t *cfn.Template) (*cfn.Template, error) {
	if !usesSAM(t) {
		return t, nil
	}
	out := *t
	out.Transforms = nil
	out.Resources = make(map[string]cfn.Resource, len(t.Resources))
	add := func(id string, r cfn.Resource) error {
		if _, taken := out.Resources[id]; taken {
			return fmt.Errorf("resource %s: the SAM transform would generate it, but the template already has it", id)
		}
		out.Resources[id] = r
		return nil
	}
	for _, id := range cfn.SortedKeys(t.Resources) {
		r := t.Resources[id]
		switch {
		case r.Type == "AWS::Serverless::Function":
			generated, err := transformFunction(id, r)
			if err != nil {
				return nil, err
			}
			for _, gid := range cfn.SortedKeys(generated) {
				if err := add(gid, generated[gid]); err != nil {
					return nil, err
				}
			}
		case strings.HasPrefix(r.Type, "AWS::Serverless::"):
			return nil, fmt.Errorf("resource %s: type %s is not supported locally", id, r.Type)
		default:
			if err := add(id, r); err != nil {
				return nil, err
			}
		}
	}
	return &out, nil
}

func usesSAM(t *cfn.Template) bool {
	for _, name := range t.Transforms {
		if name == samTransform {
			return true
		}
	}
	return false
}

// transformFunction expands one AWS::Serverless::Function.
func transformFunction(id string, r cfn.Resource) (map[string]cfn.Resource, error) {
	p := r.Properties
	for _, key := range cfn.SortedKeys(p) {
		if !functionProperties[key] {
			return nil, fmt.Errorf("resource %s: property %s is not supported locally", id, key)
		}
	}
	out := map[string]cfn.Resource{}
	// SAM tags the function and its generated role alike: its own tag first,
	// then the function's Tags (in key order here; SAM keeps template order).
	tags := []any{map[string]any{"Key": "lambda:createdBy", "Value": "SAM"}}
	if userTags, ok := p["Tags"].(map[string]any); ok {
		for _, k := range cfn.SortedKeys(userTags) {
			tags = append(tags, map[string]any{"Key": k, "Value": userTags[k]})
		}
	}

	fn := map[string]any{"Code": map[string]any{"CodeUri": p["CodeUri"]}, "Tags": tags}
	for _, key := range []string{"FunctionName", "Description", "Handler", "Runtime", "Architectures",
		"MemorySize", "Timeout", "LoggingConfig", "Environment"} {
		if v, ok := p[key]; ok {
			fn[key] = v
		}
	}
	var destinationPolicies []any
	if eic, ok := p["EventInvokeConfig"]; ok {
		config, policies, err := eventInvokeConfig(id, eic)
		if err != nil {
			return nil, err
		}
		out[id+"EventInvokeConfig"] = cfn.Resource{Type: "AWS::Lambda::EventInvokeConfig", Condition: r.Condition, Properties: config}
		destinationPolicies = policies
	}
	events, _ := p["Events"].(map[string]any)
	var eventManaged []any
	for _, name := range cfn.SortedKeys(events) {
		ev, _ := events[name].(map[string]any)
		if ev["Type"] == "SQS" && !slices.Contains(eventManaged, any(sqsExecutionRoleARN)) {
			eventManaged = append(eventManaged, sqsExecutionRoleARN)
		}
	}
	if role, ok := p["Role"]; ok {
		fn["Role"] = role
	} else {
		roleID := id + "Role"
		role, err := functionRole(id, p["Policies"], tags, destinationPolicies, eventManaged)
		if err != nil {
			return nil, err
		}
		out[roleID] = cfn.Resource{Type: "AWS::IAM::Role", Condition: r.Condition, Properties: role}
		fn["Role"] = getAtt(roleID, "Arn")
	}
	out[id] = cfn.Resource{Type: "AWS::Lambda::Function", Condition: r.Condition, DependsOn: r.DependsOn,
		Metadata: r.Metadata, Properties: fn}

	for _, name := range cfn.SortedKeys(events) {
		ev, _ := events[name].(map[string]any)
		typ, _ := ev["Type"].(string)
		props, _ := ev["Properties"].(map[string]any)
		switch typ {
		case "ScheduleV2":
			generated, err := transformScheduleV2(id, id+name, props, r.Condition)
			if err != nil {
				return nil, err
			}
			maps.Copy(out, generated)
		case "SQS":
			mapping, err := transformSQS(id, id+name, props)
			if err != nil {
				return nil, err
			}
			out[id+name] = cfn.Resource{Type: "AWS::Lambda::EventSourceMapping", Condition: r.Condition, Properties: mapping}
		default:
			return nil, fmt.Errorf("resource %s: event %s of type %q is not supported locally (only ScheduleV2 and SQS)", id, name, typ)
		}
	}
	return out, nil
}

// transformSQS expands one SQS event into the properties of an event source
// mapping from the queue to the function, as SAM's translator does
// (samtranslator/model/eventsources/pull.py, SQS); the function's generated
// role gets the SQS poller's managed policy in transformFunction.
func transformSQS(fnID, id string, p map[string]any) (map[string]any, error) {
	for _, key := range cfn.SortedKeys(p) {
		if !sqsProperties[key] {
			return nil, fmt.Errorf("resource %s: SQS event property %s is not supported locally", fnID, key)
		}
	}
	if p["Queue"] == nil {
		return nil, fmt.Errorf("resource %s: SQS event %s has no Queue", fnID, id)
	}
	mapping := map[string]any{"FunctionName": map[string]any{"Ref": fnID}, "EventSourceArn": p["Queue"]}
	for _, key := range []string{"BatchSize", "MaximumBatchingWindowInSeconds", "Enabled", "FunctionResponseTypes", "ScalingConfig"} {
		if v, ok := p[key]; ok {
			mapping[key] = v
		}
	}
	return mapping, nil
}

// functionRole builds the execution role SAM gives a function without Role:
// the destinations' policies first, then the function's own, as SAM orders
// them, then the managed policies its events need.
func functionRole(id string, policies any, tags, destinationPolicies, eventManaged []any) (map[string]any, error) {
	managed := []any{basicExecutionRoleARN}
	inline := destinationPolicies
	list, ok := policies.([]any)
	if policies != nil && !ok {
		list = []any{policies}
	}
	for i, pol := range list {
		if cond, ok := conditionalPolicy(pol); ok {
			if len(cond) != 3 {
				return nil, fmt.Errorf("resource %s: policy %d: Fn::If needs [condition, then, else]", id, i)
			}
			// A policy under Fn::If: SAM names it as any other and keeps
			// the Fn::If around it, so the condition decides at deploy.
			name := fmt.Sprintf("%sRolePolicy%d", id, i)
			branches := []any{cond[0]}
			for _, b := range cond[1:] {
				doc, ok := b.(map[string]any)
				switch {
				case ok && isNoValue(doc):
					branches = append(branches, doc)
				case ok && doc["Statement"] != nil:
					branches = append(branches, map[string]any{"PolicyName": name, "PolicyDocument": doc})
				default:
					return nil, fmt.Errorf("resource %s: policy %d: each branch of its Fn::If must be a policy document with a Statement, or AWS::NoValue", id, i)
				}
			}
			inline = append(inline, map[string]any{"Fn::If": branches})
			continue
		}
		switch v := pol.(type) {
		case map[string]any:
			if _, ok := v["Statement"]; !ok {
				return nil, fmt.Errorf("resource %s: policy %d (%s) is a SAM policy template, not supported locally; write its Statement", id, i, strings.Join(cfn.SortedKeys(v), ","))
			}
			inline = append(inline, map[string]any{"PolicyName": fmt.Sprintf("%sRolePolicy%d", id, i), "PolicyDocument": v})
		case string:
			if !strings.HasPrefix(v, "arn:") {
				return nil, fmt.Errorf("resource %s: managed policy %q must be an ARN locally", id, v)
			}
			if !slices.Contains(managed, any(v)) { // SAM lists each ARN once
				managed = append(managed, v)
			}
		default:
			return nil, fmt.Errorf("resource %s: policy %d is neither a statement nor an ARN", id, i)
		}
	}
	for _, arn := range eventManaged {
		if !slices.Contains(managed, arn) {
			managed = append(managed, arn)
		}
	}
	role := map[string]any{
		"AssumeRolePolicyDocument": assumeRolePolicy("lambda.amazonaws.com"),
		"ManagedPolicyArns":        managed,
		"Tags":                     tags,
	}
	if len(inline) > 0 {
		role["Policies"] = inline
	}
	return role, nil
}

// conditionalPolicy returns the [condition, then, else] of a policy
// written as Fn::If.
func conditionalPolicy(pol any) ([]any, bool) {
	m, ok := pol.(map[string]any)
	if !ok || len(m) != 1 {
		return nil, false
	}
	_, ok = m["Fn::If"]
	args, _ := m["Fn::If"].([]any)
	return args, ok
}

// isNoValue reports a {"Ref": "AWS::NoValue"}.
func isNoValue(m map[string]any) bool { return len(m) == 1 && m["Ref"] == "AWS::NoValue" }

// eventInvokeConfig expands a function's EventInvokeConfig into the
// properties of an AWS::Lambda::EventInvokeConfig on $LATEST and the
// policies that let the function's role reach its destinations, as SAM's
// translator does (samtranslator/model/sam_resources.py,
// _validate_and_inject_resource for EventInvokeConfig).
func eventInvokeConfig(fnID string, v any) (map[string]any, []any, error) {
	eic, ok := v.(map[string]any)
	if !ok {
		return nil, nil, fmt.Errorf("resource %s: EventInvokeConfig must be a mapping", fnID)
	}
	config := map[string]any{"FunctionName": map[string]any{"Ref": fnID}, "Qualifier": "$LATEST"}
	for _, key := range cfn.SortedKeys(eic) {
		switch key {
		case "MaximumRetryAttempts", "MaximumEventAgeInSeconds":
			config[key] = eic[key]
		case "DestinationConfig":
		default:
			return nil, nil, fmt.Errorf("resource %s: EventInvokeConfig property %s is not supported locally", fnID, key)
		}
	}
	dests, _ := eic["DestinationConfig"].(map[string]any)
	if dests == nil {
		return config, nil, nil
	}
	var policies []any
	out := map[string]any{}
	for _, when := range []string{"OnSuccess", "OnFailure"} {
		d, ok := dests[when].(map[string]any)
		if !ok {
			continue
		}
		typ := cfn.String(d["Type"])
		action, ok := destinationActions[typ]
		if !ok {
			return nil, nil, fmt.Errorf("resource %s: EventInvokeConfig %s destination of type %q is not supported locally (SQS or SNS)", fnID, when, typ)
		}
		if d["Destination"] == nil {
			return nil, nil, fmt.Errorf("resource %s: EventInvokeConfig %s needs a Destination", fnID, when)
		}
		out[when] = map[string]any{"Destination": d["Destination"]}
		policies = append(policies, map[string]any{
			"PolicyName":     fnID + "EventInvokeConfig" + when + typ + "Policy",
			"PolicyDocument": statement(action, d["Destination"]),
		})
	}
	config["DestinationConfig"] = out
	return config, policies, nil
}

// transformScheduleV2 expands one ScheduleV2 event into a schedule, its role
// and, for DeadLetterConfig Type SQS, a queue.
func transformScheduleV2(fnID, id string, p map[string]any, condition string) (map[string]cfn.Resource, error) {
	for _, key := range cfn.SortedKeys(p) {
		if !scheduleV2Properties[key] {
			return nil, fmt.Errorf("resource %s: ScheduleV2 property %s is not supported", fnID, key)
		}
	}
	if _, ok := p["ScheduleExpression"]; !ok {
		return nil, fmt.Errorf("resource %s: ScheduleV2 event %s has no ScheduleExpression", fnID, id)
	}
	out := map[string]cfn.Resource{}
	schedule := map[string]any{"ScheduleExpression": p["ScheduleExpression"]}
	if v, ok := p["State"]; ok {
		schedule["State"] = v
	}
	if omit, _ := p["OmitName"].(bool); omit {
		if _, named := p["Name"]; named {
			return nil, fmt.Errorf("resource %s: Name cannot be set when OmitName is true", id)
		}
	} else if v, ok := p["Name"]; ok {
		schedule["Name"] = v
	} else {
		schedule["Name"] = id
	}
	schedule["FlexibleTimeWindow"] = map[string]any{"Mode": "OFF"}
	if v, ok := p["FlexibleTimeWindow"]; ok {
		schedule["FlexibleTimeWindow"] = v
	}
	for _, key := range []string{"Description", "StartDate", "EndDate", "ScheduleExpressionTimezone", "GroupName", "KmsKeyArn"} {
		if v, ok := p[key]; ok {
			schedule[key] = v
		}
	}

	var dlqARN any
	if dlq, ok := p["DeadLetterConfig"].(map[string]any); ok {
		switch {
		case dlq["Arn"] != nil && dlq["Type"] != nil:
			return nil, fmt.Errorf("resource %s: DeadLetterConfig takes Arn or Type, not both", id)
		case dlq["Arn"] != nil:
			dlqARN = dlq["Arn"]
		case dlq["Type"] == "SQS":
			queueID, _ := dlq["QueueLogicalId"].(string)
			if queueID == "" {
				queueID = id + "Queue"
			}
			out[queueID] = cfn.Resource{Type: "AWS::SQS::Queue", Condition: condition, Properties: map[string]any{}}
			dlqARN = getAtt(queueID, "Arn")
		default:
			return nil, fmt.Errorf("resource %s: DeadLetterConfig needs Arn or Type: SQS", id)
		}
	}

	target := map[string]any{"Arn": getAtt(fnID, "Arn")}
	if roleARN, ok := p["RoleArn"]; ok {
		target["RoleArn"] = roleARN
	} else {
		policies := []any{map[string]any{
			"PolicyName":     id + "LambdaPolicy",
			"PolicyDocument": statement("lambda:InvokeFunction", getAtt(fnID, "Arn")),
		}}
		if dlqARN != nil {
			policies = append(policies, map[string]any{
				"PolicyName":     id + "SQSPolicy",
				"PolicyDocument": statement("sqs:SendMessage", dlqARN),
			})
		}
		role := map[string]any{
			"AssumeRolePolicyDocument": assumeRolePolicy("scheduler.amazonaws.com"),
			"Policies":                 policies,
		}
		if v, ok := p["PermissionsBoundary"]; ok {
			role["PermissionsBoundary"] = v
		}
		out[id+"Role"] = cfn.Resource{Type: "AWS::IAM::Role", Condition: condition, Properties: role}
		target["RoleArn"] = getAtt(id+"Role", "Arn")
	}
	if v, ok := p["Input"]; ok {
		target["Input"] = v
	}
	if dlqARN != nil {
		target["DeadLetterConfig"] = map[string]any{"Arn": dlqARN}
	}
	if v, ok := p["RetryPolicy"]; ok {
		target["RetryPolicy"] = v
	}
	schedule["Target"] = target
	out[id] = cfn.Resource{Type: "AWS::Scheduler::Schedule", Condition: condition, Properties: schedule}
	return out, nil
}

// assumeRolePolicy is the trust policy SAM writes for a service principal.
func assumeRolePolicy(service string) map[string]any {
	return map[string]any{
		"Version": "2012-10-17",
		"Statement": []any{map[string]any{
			"Action":    []any{"sts:AssumeRole"},
			"Effect":    "Allow",
			"Principal": map[string]any{"Service": []any{service}},
		}},
	}
}

// statement is a one-statement policy document as SAM writes it.
func statement(action string, resource any) map[string]any {
	return map[string]any{"Statement": []any{map[string]any{
		"Action": action, "Effect": "Allow", "Resource": resource,
	}}}
}

func getAtt(id, attr string) map[string]any {
	return map[string]any{"Fn::GetAtt": []any{id, attr}}
}
