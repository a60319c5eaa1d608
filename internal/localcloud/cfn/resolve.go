package cfn

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// noValue stands for AWS::NoValue: the property or element is removed.
type noValue struct{}

// scope is what intrinsics resolve against: the stack's pseudo parameters,
// its parameter values and conditions, and the resources created so far.
type scope struct {
	stack      Stack
	params     map[string]string
	conditions map[string]bool
	resources  map[string]Resource // every resource of the template
	refs       map[string]string   // logical ID -> Ref value, once created
	attrs      map[string]map[string]string
}

// pseudo returns a pseudo parameter's value.
func (s *scope) pseudo(name string) (any, bool) {
	switch name {
	case "AWS::StackName":
		return s.stack.Name, true
	case "AWS::Region":
		return s.stack.Region, true
	case "AWS::AccountId":
		return s.stack.Account, true
	case "AWS::Partition":
		return "aws", true
	case "AWS::URLSuffix":
		return "amazonaws.com", true
	case "AWS::StackId":
		return fmt.Sprintf("arn:aws:cloudformation:%s:%s:stack/%s/local", s.stack.Region, s.stack.Account, s.stack.Name), true
	case "AWS::NoValue":
		return noValue{}, true
	}
	return nil, false
}

// resolve evaluates every intrinsic function in v.
func (s *scope) resolve(v any) (any, error) {
	switch x := v.(type) {
	case map[string]any:
		if len(x) == 1 {
			for fn, arg := range x {
				if fn == "Ref" || fn == "Condition" || strings.HasPrefix(fn, "Fn::") {
					return s.intrinsic(fn, arg)
				}
			}
		}
		out := make(map[string]any, len(x))
		for _, k := range SortedKeys(x) {
			r, err := s.resolve(x[k])
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			if _, drop := r.(noValue); !drop {
				out[k] = r
			}
		}
		return out, nil
	case []any:
		out := make([]any, 0, len(x))
		for i, e := range x {
			r, err := s.resolve(e)
			if err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
			if _, drop := r.(noValue); !drop {
				out = append(out, r)
			}
		}
		return out, nil
	}
	return v, nil
}

// intrinsic evaluates one intrinsic function.
func (s *scope) intrinsic(fn string, arg any) (any, error) {
	switch fn {
	case "Ref":
		name, ok := arg.(string)
		if !ok {
			return nil, errors.New("!Ref needs a name")
		}
		return s.ref(name)
	case "Fn::GetAtt":
		parts, ok := arg.([]any)
		if !ok || len(parts) != 2 {
			return nil, errors.New("Fn::GetAtt needs [resource, attribute]")
		}
		return s.getAtt(String(parts[0]), String(parts[1]))
	case "Fn::Sub":
		return s.sub(arg)
	case "Fn::Join":
		parts, ok := arg.([]any)
		if !ok || len(parts) != 2 {
			return nil, errors.New("Fn::Join needs [delimiter, [values]]")
		}
		list, err := s.resolveList(parts[1])
		if err != nil {
			return nil, fmt.Errorf("Fn::Join: %w", err)
		}
		strs := make([]string, len(list))
		for i, e := range list {
			strs[i] = String(e)
		}
		return strings.Join(strs, String(parts[0])), nil
	case "Fn::Select":
		parts, ok := arg.([]any)
		if !ok || len(parts) != 2 {
			return nil, errors.New("Fn::Select needs [index, [values]]")
		}
		idx, err := s.resolve(parts[0])
		if err != nil {
			return nil, err
		}
		list, err := s.resolveList(parts[1])
		if err != nil {
			return nil, fmt.Errorf("Fn::Select: %w", err)
		}
		i, err := strconv.Atoi(String(idx))
		if err != nil || i < 0 || i >= len(list) {
			return nil, fmt.Errorf("Fn::Select index %v is out of range", idx)
		}
		return list[i], nil
	case "Fn::Split":
		parts, ok := arg.([]any)
		if !ok || len(parts) != 2 {
			return nil, errors.New("Fn::Split needs [delimiter, string]")
		}
		str, err := s.resolve(parts[1])
		if err != nil {
			return nil, err
		}
		var out []any
		for _, p := range strings.Split(String(str), String(parts[0])) {
			out = append(out, p)
		}
		return out, nil
	case "Fn::If":
		parts, ok := arg.([]any)
		if !ok || len(parts) != 3 {
			return nil, errors.New("Fn::If needs [condition, then, else]")
		}
		cond, err := s.condition(String(parts[0]))
		if err != nil {
			return nil, err
		}
		if cond {
			return s.resolve(parts[1])
		}
		return s.resolve(parts[2])
	case "Condition":
		return s.condition(String(arg))
	case "Fn::Equals", "Fn::Not", "Fn::And", "Fn::Or":
		return s.logic(fn, arg)
	}
	return nil, fmt.Errorf("intrinsic function %s is not supported locally", fn)
}

// resolveList resolves v and requires a list.
func (s *scope) resolveList(v any) ([]any, error) {
	r, err := s.resolve(v)
	if err != nil {
		return nil, err
	}
	list, ok := r.([]any)
	if !ok {
		return nil, fmt.Errorf("%v is not a list", r)
	}
	return list, nil
}

// ref resolves Ref: a parameter, a pseudo parameter or a created resource.
func (s *scope) ref(name string) (any, error) {
	if v, ok := s.params[name]; ok {
		return v, nil
	}
	if v, ok := s.pseudo(name); ok {
		return v, nil
	}
	if _, ok := s.resources[name]; ok {
		if v, ok := s.refs[name]; ok {
			return v, nil
		}
		return nil, fmt.Errorf("!Ref %s: that resource does not exist (yet)", name)
	}
	return nil, fmt.Errorf("!Ref %s: no such parameter or resource", name)
}

// getAtt resolves Fn::GetAtt against a created resource's attributes.
func (s *scope) getAtt(id, attr string) (any, error) {
	if _, ok := s.resources[id]; !ok {
		return nil, fmt.Errorf("Fn::GetAtt %s.%s: no such resource", id, attr)
	}
	if v, ok := s.attrs[id][attr]; ok {
		return v, nil
	}
	if _, created := s.refs[id]; !created {
		return nil, fmt.Errorf("Fn::GetAtt %s.%s: that resource does not exist (yet)", id, attr)
	}
	return nil, fmt.Errorf("Fn::GetAtt %s.%s: attribute %s is not supported locally for %s", id, attr, attr, s.resources[id].Type)
}

// subVar matches ${Name}, ${Resource.Attribute} and the literal ${!Text}.
var subVar = regexp.MustCompile(`\$\{([^}]*)\}`)

// sub resolves Fn::Sub, in its string and [string, {vars}] forms.
func (s *scope) sub(arg any) (any, error) {
	tmpl, vars := "", map[string]any{}
	switch x := arg.(type) {
	case string:
		tmpl = x
	case []any:
		if len(x) != 2 {
			return nil, errors.New("Fn::Sub needs a string or [string, {variables}]")
		}
		tmpl = String(x[0])
		m, ok := x[1].(map[string]any)
		if !ok {
			return nil, errors.New("Fn::Sub variables must be a mapping")
		}
		for k, v := range m {
			r, err := s.resolve(v)
			if err != nil {
				return nil, fmt.Errorf("Fn::Sub variable %s: %w", k, err)
			}
			vars[k] = r
		}
	default:
		return nil, errors.New("Fn::Sub needs a string or [string, {variables}]")
	}
	var firstErr error
	out := subVar.ReplaceAllStringFunc(tmpl, func(m string) string {
		name := m[2 : len(m)-1]
		if strings.HasPrefix(name, "!") {
			return "${" + name[1:] + "}"
		}
		var v any
		var err error
		if val, ok := vars[name]; ok {
			v = val
		} else if id, attr, dotted := strings.Cut(name, "."); dotted && !strings.HasPrefix(name, "AWS::") {
			v, err = s.getAtt(id, attr)
		} else {
			v, err = s.ref(name)
		}
		if err != nil && firstErr == nil {
			firstErr = fmt.Errorf("Fn::Sub %q: %w", tmpl, err)
		}
		return String(v)
	})
	if firstErr != nil {
		return nil, firstErr
	}
	return out, nil
}

// condition returns the value of a named condition.
func (s *scope) condition(name string) (bool, error) {
	v, ok := s.conditions[name]
	if !ok {
		return false, fmt.Errorf("condition %s is not defined", name)
	}
	return v, nil
}

// logic evaluates Fn::Equals, Fn::Not, Fn::And and Fn::Or.
func (s *scope) logic(fn string, arg any) (bool, error) {
	args, ok := arg.([]any)
	if !ok {
		return false, fmt.Errorf("%s needs a list", fn)
	}
	vals := make([]any, len(args))
	for i, a := range args {
		r, err := s.resolve(a)
		if err != nil {
			return false, fmt.Errorf("%s: %w", fn, err)
		}
		vals[i] = r
	}
	if fn == "Fn::Equals" {
		if len(vals) != 2 {
			return false, errors.New("Fn::Equals needs two values")
		}
		return String(vals[0]) == String(vals[1]), nil
	}
	bools := make([]bool, len(vals))
	for i, v := range vals {
		b, ok := v.(bool)
		if !ok {
			return false, fmt.Errorf("%s: %v is not a condition", fn, v)
		}
		bools[i] = b
	}
	switch fn {
	case "Fn::Not":
		if len(bools) != 1 {
			return false, errors.New("Fn::Not needs one condition")
		}
		return !bools[0], nil
	case "Fn::And":
		return !slices.Contains(bools, false), nil
	default:
		return slices.Contains(bools, true), nil
	}
}

// evalConditions evaluates the template's Conditions in dependency order.
func (s *scope) evalConditions(defs map[string]any) error {
	s.conditions = map[string]bool{}
	visiting := map[string]bool{}
	var eval func(name string) error
	eval = func(name string) error {
		if _, done := s.conditions[name]; done {
			return nil
		}
		def, ok := defs[name]
		if !ok {
			return fmt.Errorf("condition %s is not defined", name)
		}
		if visiting[name] {
			return fmt.Errorf("condition %s depends on itself (a cycle of conditions)", name)
		}
		visiting[name] = true
		for _, dep := range conditionRefs(def) {
			if err := eval(dep); err != nil {
				return err
			}
		}
		v, err := s.resolve(def)
		if err != nil {
			return fmt.Errorf("condition %s: %w", name, err)
		}
		b, ok := v.(bool)
		if !ok {
			return fmt.Errorf("condition %s is not a condition function", name)
		}
		s.conditions[name] = b
		return nil
	}
	for _, name := range SortedKeys(defs) {
		if err := eval(name); err != nil {
			return err
		}
	}
	return nil
}

// conditionRefs lists the conditions a condition definition names.
func conditionRefs(v any) []string {
	var out []string
	Walk(v, func(fn string, arg any) {
		if fn == "Condition" {
			out = append(out, String(arg))
		}
	})
	return out
}

// resourceRefs lists the logical IDs of resources that v refers to through
// Ref, Fn::GetAtt or Fn::Sub.
func resourceRefs(v any, resources map[string]Resource) []string {
	var out []string
	add := func(id string) {
		if _, ok := resources[id]; ok && !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	Walk(v, func(fn string, arg any) {
		switch fn {
		case "Ref":
			add(String(arg))
		case "Fn::GetAtt":
			if parts, ok := arg.([]any); ok && len(parts) > 0 {
				add(String(parts[0]))
			}
		case "Fn::Sub":
			tmpl, vars := subParts(arg)
			for _, m := range subVar.FindAllStringSubmatch(tmpl, -1) {
				if _, local := vars[m[1]]; local {
					continue // a variable of this Fn::Sub, not a resource
				}
				id, _, _ := strings.Cut(m[1], ".")
				add(id)
			}
		}
	})
	return out
}

// subParts splits Fn::Sub's argument into its template string and its
// variables, for either form ("string" or [string, {variables}]).
func subParts(arg any) (string, map[string]any) {
	parts, ok := arg.([]any)
	if !ok {
		return String(arg), nil
	}
	var vars map[string]any
	if len(parts) > 1 {
		vars, _ = parts[1].(map[string]any)
	}
	if len(parts) == 0 {
		return "", nil
	}
	return String(parts[0]), vars
}

// Walk calls visit for every intrinsic function call in v.
func Walk(v any, visit func(fn string, arg any)) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if len(x) == 1 && (k == "Ref" || k == "Condition" || strings.HasPrefix(k, "Fn::")) {
				visit(k, e)
			}
			Walk(e, visit)
		}
	case []any:
		for _, e := range x {
			Walk(e, visit)
		}
	}
}
