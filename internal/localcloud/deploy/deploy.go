// Package deploy creates a SAM template's resources as one stack through
// the AWS service APIs of an endpoint (the embedded cloud, LocalEmu,
// LocalStack or moto), the way CloudFormation would, and deletes them again.
//
// It imports the AWS SDK clients it deploys with, packages cfn and sam for
// the template, and package schedule to check schedule expressions; never
// the emulator.
package deploy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/rotation-audit/rotation-audit/internal/localcloud/cfn"
	"github.com/rotation-audit/rotation-audit/internal/localcloud/sam"
	"github.com/rotation-audit/rotation-audit/internal/schedexpr"
)

// Deployer creates a template's resources as one stack through the service
// APIs of an endpoint, and deletes them again. Physical names come from the
// template (resolved with the stack name) or, where it names none, from the
// stack name and logical ID, so a later teardown finds them without any
// stored state.
type Deployer struct {
	Clients *Clients
	Stack   string
	Params  map[string]string
	// Code returns the deployment package (a zip) of a function for its
	// architecture ("arm64" or "x86_64").
	Code func(ctx context.Context, arch string) ([]byte, error)
	// Logs receives one line per resource and any notes.
	Logs io.Writer
	// Embedded says the endpoint is this tool's embedded cloud, so the
	// deploy can say what it stores but does not run (alarms, email).
	Embedded bool

	// made is every resource this deployer created or updated, so that
	// Teardown removes them even where the template no longer says their
	// names.
	made []StackResource
}

// StackResult is what Deploy returns.
type StackResult struct {
	Name      string
	Resources []StackResource
	Outputs   map[string]string
	// Created and Updated count resources made anew and updated in place;
	// Skipped counts those the endpoint cannot make (each has a note).
	Created, Updated, Skipped int
}

// StackResource is one resource of a stack, as the deployer saw it.
type StackResource struct {
	LogicalID string
	Type      string
	Name      string // physical name
	Group     string // schedule group, for schedules
	ARN       string // its Arn attribute, where it has one
	Updated   bool   // it existed and was updated in place
	Skipped   bool   // the endpoint cannot make it; a note says why
	ref       string
	attrs     map[string]string
	notes     []string // what the endpoint could not do
}

// note records something the endpoint could not do, shown after the resource.
func (r *StackResource) note(format string, args ...any) {
	r.notes = append(r.notes, fmt.Sprintf(format, args...))
}

// Deploy creates or updates every resource of t whose condition holds, in
// dependency order, and returns the stack's outputs. Everything that can be
// checked without the endpoint is checked before the first create. On
// failure the error names the resource and lists what was already created.
func (d *Deployer) Deploy(ctx context.Context, t *cfn.Template) (*StackResult, error) {
	p, err := d.planFor(ctx, t)
	if err != nil {
		return nil, err
	}
	res := &StackResult{Name: d.Stack, Outputs: map[string]string{}}
	for _, id := range p.Order {
		if !p.Enabled(id) {
			continue
		}
		r, err := d.deployOne(ctx, p, id)
		if err != nil {
			var made []string
			for _, done := range res.Resources {
				made = append(made, done.LogicalID)
			}
			hint := "nothing was created"
			if len(made) > 0 {
				hint = "already deployed: " + strings.Join(made, ", ") + "; run teardown to remove them"
			}
			return res, fmt.Errorf("deploy stack %s: resource %s (%s): %w (%s)", d.Stack, id, p.Template.Resources[id].Type, err, hint)
		}
		res.Resources = append(res.Resources, *r)
		switch {
		case r.Skipped:
			res.Skipped++
		case r.Updated:
			res.Updated++
		default:
			res.Created++
		}
	}
	for _, name := range cfn.SortedKeys(p.Template.Outputs) {
		o := p.Template.Outputs[name]
		if o.Condition != "" && !p.Condition(o.Condition) {
			continue
		}
		v, err := p.Resolve(o.Value)
		if err != nil {
			return res, fmt.Errorf("output %s: %w", name, err)
		}
		res.Outputs[name] = cfn.String(v)
	}
	return res, nil
}

// Validate checks, without calling the endpoint, that t can be deployed as
// this stack: parameters, conditions, references, names, schedule
// expressions, and only supported resource types, properties and
// attributes.
func (d *Deployer) Validate(t *cfn.Template) error {
	_, err := d.bind(t, "000000000000")
	return err
}

// planFor looks up the endpoint's account (names and ARNs may use
// AWS::AccountId) and binds t to this stack.
func (d *Deployer) planFor(ctx context.Context, t *cfn.Template) (*cfn.Plan, error) {
	out, err := d.Clients.STS.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return nil, fmt.Errorf("get account ID from %s (is the endpoint up?): %w", d.Clients.Endpoint, err)
	}
	return d.bind(t, aws.ToString(out.Account))
}

// bind applies the SAM transform, binds t to this stack and refuses what
// the deployer cannot create.
func (d *Deployer) bind(t *cfn.Template, account string) (*cfn.Plan, error) {
	tt, err := sam.Transform(t)
	if err != nil {
		return nil, err
	}
	p, err := cfn.NewPlan(tt, cfn.Stack{Name: d.Stack, Region: d.Clients.Region, Account: account}, d.Params)
	if err != nil {
		return nil, err
	}
	if err := d.check(p); err != nil {
		return nil, err
	}
	return p, nil
}

// check refuses, before anything is created, resource types, properties
// and attributes the deployer does not implement, names a service would
// refuse, and schedule expressions the scheduler would refuse.
func (d *Deployer) check(p *cfn.Plan) error {
	for _, id := range p.Order {
		r := p.Template.Resources[id]
		k, ok := kinds[r.Type]
		if !ok {
			return fmt.Errorf("resource %s: type %s is not supported locally", id, r.Type)
		}
		for _, prop := range cfn.SortedKeys(r.Properties) {
			if !slices.Contains(k.props, prop) {
				return fmt.Errorf("resource %s (%s): property %s is not supported locally", id, r.Type, prop)
			}
		}
	}
	var errs []error
	checkAtts := func(where string, v any) {
		cfn.Walk(v, func(fn string, arg any) {
			if fn != "Fn::GetAtt" {
				return
			}
			parts, _ := arg.([]any)
			if len(parts) != 2 {
				return
			}
			id, attr := cfn.String(parts[0]), cfn.String(parts[1])
			typ := p.Template.Resources[id].Type
			if !slices.Contains(kinds[typ].attrs, attr) {
				errs = append(errs, fmt.Errorf("%s: !GetAtt %s.%s: %s has no attribute %s here (it has %s)",
					where, id, attr, typ, attr, strings.Join(kinds[typ].attrs, ", ")))
			}
		})
	}
	for _, id := range p.Order {
		r := p.Template.Resources[id]
		checkAtts("resource "+id, r.Properties)
		if !p.Enabled(id) {
			continue
		}
		if err := d.checkName(p, id); err != nil {
			errs = append(errs, err)
		}
		if r.Type == "AWS::Scheduler::Schedule" {
			if err := checkSchedule(p, id, r.Properties); err != nil {
				errs = append(errs, err)
			}
		}
	}
	for _, name := range cfn.SortedKeys(p.Template.Outputs) {
		checkAtts("output "+name, p.Template.Outputs[name].Value)
	}
	return errors.Join(errs...)
}

// checkName checks a resource's physical name against its service's rule,
// where the name can be worked out before anything exists.
func (d *Deployer) checkName(p *cfn.Plan, id string) error {
	r := p.Template.Resources[id]
	k := kinds[r.Type]
	v, ok := r.Properties[k.name.prop]
	if !ok {
		return nil // generated, and always within the rule
	}
	name, err := p.Resolve(v)
	if err != nil {
		return nil // refers to another resource: checked by the service when it is created
	}
	if err := k.name.check(cfn.String(name)); err != nil {
		return fmt.Errorf("resource %s (%s): %w", id, r.Type, err)
	}
	return nil
}

// checkSchedule checks a schedule's expression and time zone, where they
// can be worked out before anything exists.
func checkSchedule(p *cfn.Plan, id string, props map[string]any) error {
	expr, err := p.Resolve(props["ScheduleExpression"])
	if err != nil {
		return nil
	}
	zone, err := p.Resolve(props["ScheduleExpressionTimezone"])
	if err != nil {
		return nil
	}
	if err := schedexpr.Check(cfn.String(expr), cfn.String(zone)); err != nil {
		return fmt.Errorf("resource %s (AWS::Scheduler::Schedule): %w", id, err)
	}
	return nil
}

// deployOne resolves one resource's properties and creates or updates it.
func (d *Deployer) deployOne(ctx context.Context, p *cfn.Plan, id string) (*StackResource, error) {
	res := p.Template.Resources[id]
	k := kinds[res.Type]
	resolved, err := p.Resolve(res.Properties)
	if err != nil {
		return nil, err
	}
	props := resolved.(map[string]any)
	r := &StackResource{LogicalID: id, Type: res.Type, Name: physicalName(d.Stack, id, k, props)}
	if r.Type == "AWS::Scheduler::Schedule" {
		r.Group = cfn.String(props["GroupName"])
	}
	start := time.Now()
	err = k.deploy(ctx, d, r, props)
	if err == nil || r.ref != "" {
		d.made = append(d.made, *r) // it exists, at least in part
	}
	if err != nil {
		return nil, err
	}
	p.Created(id, r.ref, r.attrs)
	r.ARN = r.attrs["Arn"]
	verb := "created"
	switch {
	case r.Skipped:
		verb = "skipped"
	case r.Updated:
		verb = "updated"
	}
	d.logf("  %-8s %-38s %-31s %s (%s)\n", verb, id, res.Type, r.Name, since(start))
	for _, n := range r.notes {
		d.logf("           note: %s\n", n)
	}
	return r, nil
}

// physicalName is the name property's value or, where the template gives
// none, "<stack>-<logical ID>" as CloudFormation would generate it. A
// generated name too long for its service is cut, and a short hash of the
// whole name is appended, so two long names never collide.
func physicalName(stack, id string, k kind, props map[string]any) string {
	if v, ok := props[k.name.prop]; ok {
		return cfn.String(v)
	}
	name := stack + "-" + id
	if len(name) <= k.name.max {
		return name
	}
	sum := sha256.Sum256([]byte(name))
	suffix := "-" + hex.EncodeToString(sum[:])[:12]
	return name[:k.name.max-len(suffix)] + suffix
}

// TeardownResult is what Teardown returns.
type TeardownResult struct {
	Deleted   []StackResource // deleted now
	Absent    []StackResource // already gone
	Leftovers []StackResource // still there after the teardown
	// Unnamed lists resources whose names could not be worked out from
	// the template (and that this deployer did not create).
	Unnamed []string
}

// Teardown deletes every resource the template can create for this stack,
// whatever its condition, and every resource this deployer created, in
// reverse dependency order, then checks that none of them remains. A failed
// delete does not stop it: it goes on with the rest, checks everything,
// and returns the failures together.
func (d *Deployer) Teardown(ctx context.Context, t *cfn.Template) (*TeardownResult, error) {
	p, err := d.planFor(ctx, t)
	if err != nil {
		return nil, err
	}
	res := &TeardownResult{}
	targets := d.targets(p, res)
	var errs []error
	for i := len(targets) - 1; i >= 0; i-- {
		r := targets[i]
		start := time.Now()
		removed, err := kinds[r.Type].remove(ctx, d.Clients, r)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("delete %s (%s) %s: %w", r.LogicalID, r.Type, r.Name, err))
		case removed:
			res.Deleted = append(res.Deleted, r)
			d.logf("  %-8s %-38s %-31s %s (%s)\n", "deleted", r.LogicalID, r.Type, r.Name, since(start))
		default:
			res.Absent = append(res.Absent, r)
		}
	}
	for _, r := range targets {
		there, err := kinds[r.Type].exists(ctx, d.Clients, r)
		if err != nil {
			errs = append(errs, fmt.Errorf("check %s (%s) %s: %w", r.LogicalID, r.Type, r.Name, err))
		} else if there {
			res.Leftovers = append(res.Leftovers, r)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return res, fmt.Errorf("teardown stack %s: %w", d.Stack, err)
	}
	return res, nil
}

// targets works out every resource's physical name from its name
// properties alone (resources may be half-deployed, so nothing else is
// resolvable), in creation order, and adds what this deployer made. A name
// that cannot be worked out is listed in res.Unnamed instead of stopping
// the teardown.
func (d *Deployer) targets(p *cfn.Plan, res *TeardownResult) []StackResource {
	var out []StackResource
	seen := map[string]bool{}
	add := func(r StackResource) {
		key := r.Type + " " + r.Group + "/" + r.Name
		if !seen[key] {
			seen[key] = true
			out = append(out, r)
		}
	}
	made := map[string]StackResource{}
	for _, r := range d.made {
		made[r.LogicalID] = r
	}
	for _, id := range p.Order {
		r := p.Template.Resources[id]
		k := kinds[r.Type]
		key := map[string]any{}
		var unresolved error
		for _, prop := range []string{k.name.prop, "GroupName"} {
			v, ok := r.Properties[prop]
			if !ok {
				continue
			}
			rv, err := p.Resolve(v)
			if err != nil {
				unresolved = err
				break
			}
			key[prop] = rv
		}
		switch {
		case unresolved == nil:
			sr := StackResource{LogicalID: id, Type: r.Type, Name: physicalName(d.Stack, id, k, key)}
			if r.Type == "AWS::Scheduler::Schedule" {
				sr.Group = cfn.String(key["GroupName"])
			}
			if k.refIsName {
				p.Created(id, sr.Name, nil) // later names may refer to it
			}
			add(sr)
		case made[id].Name == "":
			res.Unnamed = append(res.Unnamed, fmt.Sprintf("%s (%s): %v", id, r.Type, unresolved))
		}
		if m, ok := made[id]; ok {
			add(m)
		}
	}
	return out
}

// sortedKeys returns a map's keys in order, so output and errors are stable.
func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}

func (d *Deployer) logf(format string, args ...any) {
	if d.Logs != nil {
		fmt.Fprintf(d.Logs, format, args...)
	}
}

// since is the time since start, rounded for progress lines.
func since(start time.Time) time.Duration {
	return time.Since(start).Round(10 * time.Microsecond)
}
