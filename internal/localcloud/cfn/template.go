package cfn

import (
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Template is a parsed CloudFormation template. Values are plain trees of
// map[string]any, []any, string, int64, float64 and bool, with short-form
// intrinsics (!Ref, !Sub, ...) turned into their long form ({"Ref": ...}),
// as CloudFormation sees them.
type Template struct {
	Description string
	Transforms  []string
	Parameters  map[string]Parameter
	Conditions  map[string]any
	Resources   map[string]Resource
	Outputs     map[string]Output
}

// Parameter is a template parameter.
type Parameter struct {
	Type          string
	Default       *string
	AllowedValues []string
	// AllowedPattern is the value's pattern, anchored at both ends as
	// CloudFormation matches it; nil for none.
	AllowedPattern *regexp.Regexp
	MinValue       *float64
	MaxValue       *float64
	Description    string
	// ConstraintDescription is what a refused value is told, as
	// CloudFormation does.
	ConstraintDescription string
}

// Resource is a template resource.
type Resource struct {
	Type       string
	Condition  string
	DependsOn  []string
	Metadata   map[string]any
	Properties map[string]any
}

// Output is a template output.
type Output struct {
	Description string
	Condition   string
	Value       any
}

// shortForms maps YAML tags to the intrinsic functions they abbreviate.
var shortForms = map[string]string{
	"!Ref": "Ref", "!Condition": "Condition",
	"!Sub": "Fn::Sub", "!GetAtt": "Fn::GetAtt", "!Join": "Fn::Join", "!Select": "Fn::Select",
	"!Split": "Fn::Split", "!If": "Fn::If", "!Equals": "Fn::Equals", "!Not": "Fn::Not",
	"!And": "Fn::And", "!Or": "Fn::Or", "!FindInMap": "Fn::FindInMap", "!Base64": "Fn::Base64",
	"!GetAZs": "Fn::GetAZs", "!ImportValue": "Fn::ImportValue", "!Cidr": "Fn::Cidr",
	"!Transform": "Fn::Transform", "!ToJsonString": "Fn::ToJsonString", "!Length": "Fn::Length",
}

// topLevel lists the template sections this package reads or may ignore.
var topLevel = map[string]bool{
	"AWSTemplateFormatVersion": true, "Description": true, "Transform": true, "Parameters": true,
	"Conditions": true, "Resources": true, "Outputs": true, "Metadata": true,
}

// ParseTemplate reads a YAML (or JSON) CloudFormation template.
func Parse(data []byte) (*Template, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("parse template: %w", err)
	}
	if len(doc.Content) == 0 {
		return nil, errors.New("parse template: the template is empty")
	}
	tree, err := fromNode(doc.Content[0])
	if err != nil {
		return nil, fmt.Errorf("parse template: %w", err)
	}
	root, ok := tree.(map[string]any)
	if !ok {
		return nil, errors.New("parse template: the template is not a mapping")
	}
	for _, key := range SortedKeys(root) {
		if !topLevel[key] {
			return nil, fmt.Errorf("template section %s is not supported", key)
		}
	}
	t := &Template{
		Parameters: map[string]Parameter{},
		Conditions: map[string]any{},
		Resources:  map[string]Resource{},
		Outputs:    map[string]Output{},
	}
	t.Description, _ = root["Description"].(string)
	switch tr := root["Transform"].(type) {
	case nil:
	case string:
		t.Transforms = []string{tr}
	case []any:
		for _, v := range tr {
			s, ok := v.(string)
			if !ok {
				return nil, errors.New("template Transform must be a name or a list of names")
			}
			t.Transforms = append(t.Transforms, s)
		}
	default:
		return nil, errors.New("template Transform must be a name or a list of names")
	}
	if err := t.readParameters(root["Parameters"]); err != nil {
		return nil, err
	}
	if c, ok := root["Conditions"].(map[string]any); ok {
		t.Conditions = c
	}
	if err := t.readResources(root["Resources"]); err != nil {
		return nil, err
	}
	if err := t.readOutputs(root["Outputs"]); err != nil {
		return nil, err
	}
	return t, nil
}

func (t *Template) readParameters(v any) error {
	params, _ := v.(map[string]any)
	for _, name := range SortedKeys(params) {
		raw := params[name]
		def, ok := raw.(map[string]any)
		if !ok {
			return fmt.Errorf("parameter %s must be a mapping", name)
		}
		for _, key := range SortedKeys(def) {
			switch key {
			case "Type", "Default", "AllowedValues", "AllowedPattern", "MinValue", "MaxValue", "Description", "ConstraintDescription", "NoEcho":
			default:
				// An unenforced constraint (AllowedPattern, MinLength, ...) would accept values AWS refuses.
				return fmt.Errorf("parameter %s: %s is not supported", name, key)
			}
		}
		p := Parameter{}
		p.Type, _ = def["Type"].(string)
		p.Description, _ = def["Description"].(string)
		p.ConstraintDescription, _ = def["ConstraintDescription"].(string)
		if pattern, ok := def["AllowedPattern"]; ok {
			if p.Type != "String" {
				return fmt.Errorf("parameter %s: AllowedPattern applies to String parameters only", name)
			}
			re, err := regexp.Compile(`^(?:` + String(pattern) + `)$`)
			if err != nil {
				return fmt.Errorf("parameter %s: AllowedPattern %q: %w", name, String(pattern), err)
			}
			p.AllowedPattern = re
		}
		if p.Type != "String" && p.Type != "Number" {
			return fmt.Errorf("parameter %s: type %q is not supported (String or Number)", name, p.Type)
		}
		if d, ok := def["Default"]; ok {
			s := String(d)
			p.Default = &s
		}
		if av, ok := def["AllowedValues"].([]any); ok {
			for _, a := range av {
				p.AllowedValues = append(p.AllowedValues, String(a))
			}
		}
		for key, dst := range map[string]**float64{"MinValue": &p.MinValue, "MaxValue": &p.MaxValue} {
			if raw, ok := def[key]; ok {
				f, err := strconv.ParseFloat(String(raw), 64)
				if err != nil {
					return fmt.Errorf("parameter %s: %s %v is not a number", name, key, raw)
				}
				*dst = &f
			}
		}
		t.Parameters[name] = p
	}
	return nil
}

func (t *Template) readResources(v any) error {
	resources, ok := v.(map[string]any)
	if !ok || len(resources) == 0 {
		return errors.New("template has no Resources")
	}
	for _, id := range SortedKeys(resources) {
		raw := resources[id]
		def, ok := raw.(map[string]any)
		if !ok {
			return fmt.Errorf("resource %s must be a mapping", id)
		}
		r := Resource{}
		r.Type, _ = def["Type"].(string)
		if r.Type == "" {
			return fmt.Errorf("resource %s has no Type", id)
		}
		r.Condition, _ = def["Condition"].(string)
		r.Metadata, _ = def["Metadata"].(map[string]any)
		r.Properties, _ = def["Properties"].(map[string]any)
		if r.Properties == nil {
			r.Properties = map[string]any{}
		}
		switch d := def["DependsOn"].(type) {
		case string:
			r.DependsOn = []string{d}
		case []any:
			for _, x := range d {
				r.DependsOn = append(r.DependsOn, String(x))
			}
		}
		for key := range def {
			switch key {
			case "Type", "Condition", "Metadata", "Properties", "DependsOn", "DeletionPolicy", "UpdateReplacePolicy":
			default:
				return fmt.Errorf("resource %s: attribute %s is not supported", id, key)
			}
		}
		t.Resources[id] = r
	}
	return nil
}

func (t *Template) readOutputs(v any) error {
	outputs, _ := v.(map[string]any)
	for _, name := range SortedKeys(outputs) {
		raw := outputs[name]
		def, ok := raw.(map[string]any)
		if !ok {
			return fmt.Errorf("output %s must be a mapping", name)
		}
		o := Output{Value: def["Value"]}
		o.Description, _ = def["Description"].(string)
		o.Condition, _ = def["Condition"].(string)
		if _, exported := def["Export"]; exported {
			return fmt.Errorf("output %s: Export is not supported", name)
		}
		t.Outputs[name] = o
	}
	return nil
}

// fromNode converts a YAML node into a plain tree, expanding short-form
// intrinsics into their long form.
func fromNode(n *yaml.Node) (any, error) {
	if fn, ok := shortForms[n.Tag]; ok {
		return shortForm(fn, n)
	}
	if strings.HasPrefix(n.Tag, "!") && !strings.HasPrefix(n.Tag, "!!") {
		return nil, fmt.Errorf("line %d: unknown tag %s", n.Line, n.Tag)
	}
	switch n.Kind {
	case yaml.AliasNode:
		return fromNode(n.Alias)
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Tag == "!!merge" {
				return nil, fmt.Errorf("line %d: YAML merge keys are not supported", k.Line)
			}
			val, err := fromNode(v)
			if err != nil {
				return nil, err
			}
			if _, dup := m[k.Value]; dup {
				return nil, fmt.Errorf("line %d: key %s appears twice", k.Line, k.Value)
			}
			m[k.Value] = val
		}
		if att, ok := m["Fn::GetAtt"].(string); ok && len(m) == 1 {
			// The long form also takes "Resource.Attribute", like !GetAtt.
			id, attr, found := strings.Cut(att, ".")
			if !found {
				return nil, fmt.Errorf("line %d: Fn::GetAtt %s must be Resource.Attribute", n.Line, att)
			}
			m["Fn::GetAtt"] = []any{id, attr}
		}
		return m, nil
	case yaml.SequenceNode:
		s := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			val, err := fromNode(c)
			if err != nil {
				return nil, err
			}
			s = append(s, val)
		}
		return s, nil
	case yaml.ScalarNode:
		if n.ShortTag() == "!!timestamp" {
			return n.Value, nil // CloudFormation reads dates as strings, as written
		}
		var v any
		if err := n.Decode(&v); err != nil {
			return nil, fmt.Errorf("line %d: %w", n.Line, err)
		}
		if i, ok := v.(int); ok {
			return int64(i), nil
		}
		return v, nil
	}
	return nil, fmt.Errorf("line %d: unexpected YAML node", n.Line)
}

// shortForm expands !Fn value into {"Fn::Fn": value}; !GetAtt "A.B" becomes
// {"Fn::GetAtt": ["A", "B"]} as CloudFormation defines.
func shortForm(fn string, n *yaml.Node) (any, error) {
	plain := *n
	plain.Tag = ""
	if n.Kind == yaml.ScalarNode {
		plain.Tag = "!!str"
	}
	v, err := fromNode(&plain)
	if err != nil {
		return nil, err
	}
	if fn == "Fn::GetAtt" {
		if s, ok := v.(string); ok {
			id, attr, found := strings.Cut(s, ".")
			if !found {
				return nil, fmt.Errorf("line %d: !GetAtt %s must be Resource.Attribute", n.Line, s)
			}
			v = []any{id, attr}
		}
	}
	return map[string]any{fn: v}, nil
}

// scalarString renders a scalar as CloudFormation sees it: everything is a string.
func String(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	case nil:
		return ""
	}
	return fmt.Sprint(v)
}

// sortedKeys returns a map's keys in order, so output and errors are stable.
func SortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}
