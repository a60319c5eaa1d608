package cfn

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// stackName is what CloudFormation accepts as a stack name.
var stackName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9-]{0,127}$`)

// Stack is what a template is deployed as: the stack's name, and the region
// and account its pseudo parameters resolve to.
type Stack struct {
	Name, Region, Account string
}

// Plan is a template bound to one stack: parameter values and conditions
// are known, every reference is known to name something, and the resources
// are in creation order. As resources are created, Created records their
// Ref values and attributes, so later resources can resolve against them.
type Plan struct {
	scope
	// Template is the template the plan was made from.
	Template *Template
	// Order lists every resource, dependencies first.
	Order []string
}

// NewPlan binds t to the named stack: it resolves the parameters (defaults
// plus overrides) and conditions, and checks that every Ref, Fn::GetAtt,
// Fn::Sub variable and condition names something that exists, so that a
// typo is reported before anything is created. t must be plain
// CloudFormation (apply the SAM transform first).
func NewPlan(t *Template, stack Stack, overrides map[string]string) (*Plan, error) {
	if !stackName.MatchString(stack.Name) {
		return nil, fmt.Errorf("stack name %q must be 1 to 128 characters, start with a letter and hold only letters, digits and hyphens", stack.Name)
	}
	if len(t.Transforms) > 0 {
		return nil, fmt.Errorf("template still has the transform %s; apply it before planning", strings.Join(t.Transforms, ", "))
	}
	params, err := t.parameterValues(overrides)
	if err != nil {
		return nil, err
	}
	p := &Plan{
		scope: scope{
			stack: stack, params: params,
			resources: t.Resources, refs: map[string]string{}, attrs: map[string]map[string]string{},
		},
		Template: t,
	}
	if err := p.evalConditions(t.Conditions); err != nil {
		return nil, err
	}
	if err := p.checkReferences(); err != nil {
		return nil, err
	}
	if p.Order, err = creationOrder(t.Resources); err != nil {
		return nil, err
	}
	return p, nil
}

// Enabled reports whether a resource's condition (if any) holds.
func (p *Plan) Enabled(id string) bool {
	c := p.Template.Resources[id].Condition
	return c == "" || p.conditions[c]
}

// Condition reports the value of a named condition; an undefined one is false.
func (p *Plan) Condition(name string) bool { return p.conditions[name] }

// Params returns the parameter values the plan was made with.
func (p *Plan) Params() map[string]string { return p.params }

// Resolve evaluates every intrinsic function in v against the stack and the
// resources created so far.
func (p *Plan) Resolve(v any) (any, error) { return p.resolve(v) }

// Created records that a resource now exists, with its Ref value and its
// attributes for Fn::GetAtt.
func (p *Plan) Created(id, ref string, attrs map[string]string) {
	p.refs[id] = ref
	p.attrs[id] = attrs
}

// checkReferences checks every reference in resources and outputs: a Ref
// must name a parameter, a pseudo parameter or a resource; Fn::GetAtt and
// a dotted ${} a resource; Fn::If and Condition a condition; a resource's or
// output's Condition a condition.
func (p *Plan) checkReferences() error {
	t := p.Template
	for _, id := range SortedKeys(t.Resources) {
		r := t.Resources[id]
		if err := p.checkCondition(r.Condition); err != nil {
			return fmt.Errorf("resource %s: %w", id, err)
		}
		if err := p.checkRefs(r.Properties); err != nil {
			return fmt.Errorf("resource %s: %w", id, err)
		}
	}
	for _, name := range SortedKeys(t.Outputs) {
		o := t.Outputs[name]
		if err := p.checkCondition(o.Condition); err != nil {
			return fmt.Errorf("output %s: %w", name, err)
		}
		if err := p.checkRefs(o.Value); err != nil {
			return fmt.Errorf("output %s: %w", name, err)
		}
	}
	return nil
}

func (p *Plan) checkCondition(name string) error {
	if name == "" {
		return nil
	}
	if _, ok := p.conditions[name]; !ok {
		return fmt.Errorf("condition %s is not defined", name)
	}
	return nil
}

// checkRefs checks the references of one property tree.
func (p *Plan) checkRefs(v any) error {
	var errs []error
	ref := func(what, name string) {
		if _, ok := p.params[name]; ok {
			return
		}
		if _, ok := p.pseudo(name); ok {
			return
		}
		if _, ok := p.resources[name]; !ok {
			errs = append(errs, fmt.Errorf("%s: no parameter, pseudo parameter or resource is named %s", what, name))
		}
	}
	resource := func(what, id string) {
		if _, ok := p.resources[id]; !ok {
			errs = append(errs, fmt.Errorf("%s: no resource is named %s", what, id))
		}
	}
	Walk(v, func(fn string, arg any) {
		switch fn {
		case "Ref":
			name := String(arg)
			ref("!Ref "+name, name)
		case "Fn::GetAtt":
			if parts, ok := arg.([]any); ok && len(parts) == 2 {
				resource(fmt.Sprintf("!GetAtt %s.%s", String(parts[0]), String(parts[1])), String(parts[0]))
			}
		case "Fn::Sub":
			tmpl, vars := subParts(arg)
			for _, m := range subVar.FindAllStringSubmatch(tmpl, -1) {
				name := m[1]
				if _, local := vars[name]; local || strings.HasPrefix(name, "!") {
					continue
				}
				what := "${" + name + "}"
				if id, _, dotted := strings.Cut(name, "."); dotted && !strings.HasPrefix(name, "AWS::") {
					resource(what, id)
				} else {
					ref(what, name)
				}
			}
		case "Fn::If":
			if parts, ok := arg.([]any); ok && len(parts) == 3 {
				if err := p.checkCondition(String(parts[0])); err != nil {
					errs = append(errs, fmt.Errorf("!If: %w", err))
				}
			}
		case "Condition":
			if err := p.checkCondition(String(arg)); err != nil {
				errs = append(errs, err)
			}
		}
	})
	return errors.Join(errs...)
}

// parameterValues checks overrides against the declared parameters and
// fills in defaults.
func (t *Template) parameterValues(overrides map[string]string) (map[string]string, error) {
	for _, name := range SortedKeys(overrides) {
		if _, ok := t.Parameters[name]; !ok {
			return nil, fmt.Errorf("parameter %s is not declared in the template (it has %s)", name, strings.Join(SortedKeys(t.Parameters), ", "))
		}
	}
	values := map[string]string{}
	for _, name := range SortedKeys(t.Parameters) {
		p := t.Parameters[name]
		v, ok := overrides[name]
		if !ok {
			if p.Default == nil {
				return nil, fmt.Errorf("parameter %s has no default; give it a value", name)
			}
			v = *p.Default
		}
		if p.AllowedPattern != nil && !p.AllowedPattern.MatchString(v) {
			why := p.ConstraintDescription
			if why == "" {
				why = "it must match " + strings.TrimSuffix(strings.TrimPrefix(p.AllowedPattern.String(), "^(?:"), ")$")
			}
			return nil, fmt.Errorf("parameter %s=%q is refused: %s", name, v, why)
		}
		if len(p.AllowedValues) > 0 && !slices.Contains(p.AllowedValues, v) {
			return nil, fmt.Errorf("parameter %s=%q is not one of %s", name, v, strings.Join(p.AllowedValues, ", "))
		}
		if p.Type == "Number" {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return nil, fmt.Errorf("parameter %s=%q is not a number", name, v)
			}
			if p.MinValue != nil && f < *p.MinValue || p.MaxValue != nil && f > *p.MaxValue {
				return nil, fmt.Errorf("parameter %s=%s is out of range %s..%s", name, v, bound(p.MinValue), bound(p.MaxValue))
			}
		}
		values[name] = v
	}
	return values, nil
}

func bound(f *float64) string {
	if f == nil {
		return ""
	}
	return strconv.FormatFloat(*f, 'f', -1, 64)
}

// creationOrder sorts resources so that each comes after everything it
// refers to (Ref, Fn::GetAtt, Fn::Sub, DependsOn); ties go alphabetically.
func creationOrder(resources map[string]Resource) ([]string, error) {
	deps := map[string][]string{}
	for id, r := range resources {
		refs := resourceRefs(r.Properties, resources)
		for _, d := range r.DependsOn {
			if _, ok := resources[d]; !ok {
				return nil, fmt.Errorf("resource %s: DependsOn %s: no such resource", id, d)
			}
			refs = append(refs, d)
		}
		deps[id] = refs
	}
	var order []string
	done, visiting := map[string]bool{}, map[string]bool{}
	var visit func(id string, path []string) error
	visit = func(id string, path []string) error {
		if done[id] {
			return nil
		}
		if visiting[id] {
			cycle := append(path[slices.Index(path, id):], id) // only the cycle, not the way into it
			return fmt.Errorf("resources depend on each other in a cycle: %s", strings.Join(cycle, " -> "))
		}
		visiting[id] = true
		ds := slices.Clone(deps[id])
		slices.Sort(ds)
		for _, d := range ds {
			if err := visit(d, append(path, id)); err != nil {
				return err
			}
		}
		done[id] = true
		order = append(order, id)
		return nil
	}
	for _, id := range SortedKeys(resources) {
		if err := visit(id, nil); err != nil {
			return nil, err
		}
	}
	return order, nil
}
