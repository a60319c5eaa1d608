package localcloud

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/scheduler"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sts"
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

	notes   []string // every note of this deploy
	pending []string // notes of the resource being deployed
}

// Deploy creates or updates every resource of t whose condition holds, in
// dependency order, and returns the stack's outputs. On failure the error
// names the resource and lists what was already created.
func (d *Deployer) Deploy(ctx context.Context, t *Template) (*StackResult, error) {
	d.notes, d.pending = nil, nil
	account, err := d.account(ctx)
	if err != nil {
		return nil, err
	}
	p, err := d.plan(t, account)
	if err != nil {
		return nil, err
	}
	res := &StackResult{Name: d.Stack, Outputs: map[string]string{}}
	for _, id := range p.order {
		if !p.enabled(id) {
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
			return res, fmt.Errorf("deploy stack %s: resource %s (%s): %w (%s)", d.Stack, id, p.tmpl.Resources[id].Type, err, hint)
		}
		res.Resources = append(res.Resources, *r)
		if r.Updated {
			res.Updated++
		} else {
			res.Created++
		}
	}
	for _, name := range sortedKeys(p.tmpl.Outputs) {
		o := p.tmpl.Outputs[name]
		if o.Condition != "" && !p.conditions[o.Condition] {
			continue
		}
		v, err := p.resolve(o.Value)
		if err != nil {
			return res, fmt.Errorf("output %s: %w", name, err)
		}
		res.Outputs[name] = scalarString(v)
	}
	res.Notes = d.notes
	return res, nil
}

// Validate checks, without calling the endpoint, that t can be deployed as
// this stack: parameters, conditions, and only supported resource types and
// properties.
func (d *Deployer) Validate(t *Template) error {
	_, err := d.plan(t, "000000000000")
	return err
}

// plan binds t to this stack and refuses what the deployer cannot create.
func (d *Deployer) plan(t *Template, account string) (*plan, error) {
	p, err := newPlan(t, d.Stack, d.Clients.Region, account, d.Params)
	if err != nil {
		return nil, err
	}
	if err := p.check(); err != nil {
		return nil, err
	}
	return p, nil
}

// StackResult is what Deploy returns.
type StackResult struct {
	Name      string
	Resources []StackResource
	Outputs   map[string]string
	Notes     []string
	// Created and Updated count resources made anew and updated in place.
	Created, Updated int
}

// deployOne resolves one resource's properties and creates or updates it.
func (d *Deployer) deployOne(ctx context.Context, p *plan, id string) (*StackResource, error) {
	res := p.tmpl.Resources[id]
	k := kinds[res.Type]
	props, err := p.resolve(res.Properties)
	if err != nil {
		return nil, err
	}
	r := &StackResource{LogicalID: id, Type: res.Type}
	r.Name = d.physicalName(id, k, props.(map[string]any))
	start := time.Now()
	if err := k.deploy(ctx, d, r, props.(map[string]any)); err != nil {
		return nil, err
	}
	p.refs[id] = r.ref
	p.attrs[id] = r.attrs
	r.ARN = r.attrs["Arn"]
	verb := "created"
	if r.Updated {
		verb = "updated"
	}
	d.logf("  %-8s %-32s %-28s %s (%s)\n", verb, id, res.Type, r.Name, since(start))
	for _, n := range d.pending {
		d.logf("           note: %s\n", n)
	}
	d.notes, d.pending = append(d.notes, d.pending...), nil
	return r, nil
}

// physicalName is the name property's value, or a name generated from the
// stack name and logical ID.
func (d *Deployer) physicalName(id string, k kind, props map[string]any) string {
	if v, ok := props[k.nameProp]; ok {
		return scalarString(v)
	}
	name := d.Stack + "-" + id
	if len(name) > k.maxName {
		name = name[:k.maxName]
	}
	return name
}

// check refuses resource types and properties the deployer does not
// implement, before anything is created.
func (p *plan) check() error {
	for _, id := range p.order {
		r := p.tmpl.Resources[id]
		k, ok := kinds[r.Type]
		if !ok {
			return fmt.Errorf("resource %s: type %s is not supported locally", id, r.Type)
		}
		for _, prop := range sortedKeys(r.Properties) {
			if !slices.Contains(k.props, prop) {
				return fmt.Errorf("resource %s (%s): property %s is not supported locally", id, r.Type, prop)
			}
		}
	}
	return nil
}

// TeardownResult is what Teardown returns.
type TeardownResult struct {
	Deleted   []StackResource // deleted now
	Absent    []StackResource // already gone
	Leftovers []StackResource // still there after the teardown
}

// Teardown deletes every resource the template can create for this stack,
// whatever its condition, in reverse dependency order, then checks that
// none of them remains. A failed delete does not stop it: it goes on with
// the rest, checks everything, and returns the failures together.
func (d *Deployer) Teardown(ctx context.Context, t *Template) (*TeardownResult, error) {
	// Names may use AWS::AccountId, so they are resolved as the deploy did.
	account, err := d.account(ctx)
	if err != nil {
		return nil, err
	}
	p, err := d.plan(t, account)
	if err != nil {
		return nil, err
	}
	targets, err := d.names(p)
	if err != nil {
		return nil, err
	}
	res := &TeardownResult{}
	var errs []error
	for i := len(targets) - 1; i >= 0; i-- {
		r := targets[i]
		start := time.Now()
		removed, err := kinds[r.Type].remove(ctx, d.Clients, r.Name, r.Group)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("delete %s (%s) %s: %w", r.LogicalID, r.Type, r.Name, err))
		case removed:
			res.Deleted = append(res.Deleted, r)
			d.logf("  %-8s %-32s %-28s %s (%s)\n", "deleted", r.LogicalID, r.Type, r.Name, since(start))
		default:
			res.Absent = append(res.Absent, r)
		}
	}
	for _, r := range targets {
		there, err := d.exists(ctx, r)
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

// names works out every resource's physical name from its name properties
// alone (resources may be half-deployed, so nothing else is resolvable).
func (d *Deployer) names(p *plan) ([]StackResource, error) {
	var out []StackResource
	for _, id := range p.order {
		r := p.tmpl.Resources[id]
		k := kinds[r.Type]
		key := map[string]any{}
		for _, prop := range []string{k.nameProp, "GroupName"} {
			v, ok := r.Properties[prop]
			if !ok {
				continue
			}
			rv, err := p.resolve(v)
			if err != nil {
				return nil, fmt.Errorf("resource %s: cannot work out its name: %w", id, err)
			}
			key[prop] = rv
		}
		group := ""
		if r.Type == "AWS::Scheduler::Schedule" {
			group = scalarString(key["GroupName"])
		}
		out = append(out, StackResource{LogicalID: id, Type: r.Type, Name: d.physicalName(id, k, key), Group: group})
	}
	return out, nil
}

// exists reports whether a resource is still there.
func (d *Deployer) exists(ctx context.Context, r StackResource) (bool, error) {
	c := d.Clients
	var err error
	switch r.Type {
	case "AWS::DynamoDB::Table":
		_, err = c.DynamoDB.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: &r.Name})
	case "AWS::SecretsManager::Secret":
		var out *secretsmanager.DescribeSecretOutput
		out, err = c.SecretsManager.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: &r.Name})
		if err == nil && out.DeletedDate != nil {
			return false, nil // scheduled for deletion counts as gone
		}
	case "AWS::SQS::Queue":
		_, err = c.SQS.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: &r.Name})
	case "AWS::IAM::Role":
		_, err = c.IAM.GetRole(ctx, &iam.GetRoleInput{RoleName: &r.Name})
	case "AWS::Lambda::Function":
		_, err = c.Lambda.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: &r.Name})
	case "AWS::Scheduler::Schedule":
		in := &scheduler.GetScheduleInput{Name: &r.Name}
		if r.Group != "" {
			in.GroupName = &r.Group
		}
		_, err = c.Scheduler.GetSchedule(ctx, in)
	}
	if isNotFound(err) {
		return false, nil
	}
	return err == nil, err
}

// account is the endpoint's account ID, for AWS::AccountId.
func (d *Deployer) account(ctx context.Context) (string, error) {
	out, err := d.Clients.STS.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return "", fmt.Errorf("get account ID from %s (is the endpoint up?): %w", d.Clients.Endpoint, err)
	}
	return aws.ToString(out.Account), nil
}

// note records something the endpoint could not do, shown after the resource.
func (d *Deployer) note(format string, args ...any) {
	d.pending = append(d.pending, fmt.Sprintf(format, args...))
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
