package localcloud

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// stackName is what CloudFormation accepts as a stack name.
var stackName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9-]{0,127}$`)

// plan is a transformed template bound to one stack: parameter values and
// conditions are known, and the resources are in creation order.
type plan struct {
	scope
	tmpl  *Template
	order []string // every resource, dependencies first
}

// newPlan transforms t and resolves its parameters (defaults plus
// overrides) and conditions for the named stack.
func newPlan(t *Template, stack, region, account string, overrides map[string]string) (*plan, error) {
	if !stackName.MatchString(stack) {
		return nil, fmt.Errorf("stack name %q must start with a letter and hold only letters, digits and hyphens", stack)
	}
	tt, err := t.Transform()
	if err != nil {
		return nil, err
	}
	params, err := tt.parameterValues(overrides)
	if err != nil {
		return nil, err
	}
	p := &plan{
		scope: scope{
			stack: stack, region: region, account: account, params: params,
			resources: tt.Resources, refs: map[string]string{}, attrs: map[string]map[string]string{},
		},
		tmpl: tt,
	}
	if err := p.evalConditions(tt.Conditions); err != nil {
		return nil, err
	}
	for _, id := range sortedKeys(tt.Resources) {
		if c := tt.Resources[id].Condition; c != "" {
			if _, ok := p.conditions[c]; !ok {
				return nil, fmt.Errorf("resource %s: condition %s is not defined", id, c)
			}
		}
	}
	for _, name := range sortedKeys(tt.Outputs) {
		if c := tt.Outputs[name].Condition; c != "" {
			if _, ok := p.conditions[c]; !ok {
				return nil, fmt.Errorf("output %s: condition %s is not defined", name, c)
			}
		}
	}
	if p.order, err = creationOrder(tt.Resources); err != nil {
		return nil, err
	}
	return p, nil
}

// enabled reports whether a resource's condition (if any) holds.
func (p *plan) enabled(id string) bool {
	c := p.tmpl.Resources[id].Condition
	return c == "" || p.conditions[c]
}

// parameterValues checks overrides against the declared parameters and
// fills in defaults.
func (t *Template) parameterValues(overrides map[string]string) (map[string]string, error) {
	for _, name := range sortedKeys(overrides) {
		if _, ok := t.Parameters[name]; !ok {
			return nil, fmt.Errorf("parameter %s is not declared in the template (it has %s)", name, strings.Join(sortedKeys(t.Parameters), ", "))
		}
	}
	values := map[string]string{}
	for _, name := range sortedKeys(t.Parameters) {
		p := t.Parameters[name]
		v, ok := overrides[name]
		if !ok {
			if p.Default == nil {
				return nil, fmt.Errorf("parameter %s has no default; give it a value", name)
			}
			v = *p.Default
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
	for _, id := range sortedKeys(resources) {
		if err := visit(id, nil); err != nil {
			return nil, err
		}
	}
	return order, nil
}
