package deploy

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/rotation-audit/rotation-audit/internal/localcloud/cfn"
)

func deployRole(ctx context.Context, d *Deployer, r *StackResource, p map[string]any) error {
	c := d.Clients.IAM
	trust, err := json.Marshal(p["AssumeRolePolicyDocument"])
	if err != nil {
		return fmt.Errorf("property AssumeRolePolicyDocument: %w", err)
	}
	got, err := c.GetRole(ctx, &iam.GetRoleInput{RoleName: &r.Name})
	var role *iamtypes.Role
	switch {
	case err == nil:
		r.Updated = true
		role = got.Role
		if _, err := c.UpdateAssumeRolePolicy(ctx, &iam.UpdateAssumeRolePolicyInput{
			RoleName: &r.Name, PolicyDocument: aws.String(string(trust)),
		}); err != nil {
			return fmt.Errorf("update trust policy: %w", err)
		}
	case isNotFound(err):
		var tags []iamtypes.Tag
		if err := convert(p["Tags"], &tags); err != nil {
			return fmt.Errorf("property Tags: %w", err)
		}
		in := &iam.CreateRoleInput{
			RoleName:                 &r.Name,
			AssumeRolePolicyDocument: aws.String(string(trust)),
			Path:                     optString(p["Path"]),
			Description:              optString(p["Description"]),
			PermissionsBoundary:      optString(p["PermissionsBoundary"]),
			Tags:                     tags,
		}
		if v, ok := p["MaxSessionDuration"]; ok {
			n, err := strconv.ParseInt(cfn.String(v), 10, 32)
			if err != nil {
				return fmt.Errorf("property MaxSessionDuration: %w", err)
			}
			in.MaxSessionDuration = aws.Int32(int32(n))
		}
		out, err := c.CreateRole(ctx, in)
		if err != nil {
			return fmt.Errorf("create role: %w", err)
		}
		role = out.Role
	default:
		return fmt.Errorf("get role: %w", err)
	}
	policies, _ := p["Policies"].([]any)
	if r.Updated {
		if err := dropPolicies(ctx, c, r.Name, policies); err != nil {
			return err
		}
	}
	for _, pol := range policies {
		m, _ := pol.(map[string]any)
		doc, err := json.Marshal(withVersion(m["PolicyDocument"]))
		if err != nil {
			return fmt.Errorf("property Policies: %w", err)
		}
		if _, err := c.PutRolePolicy(ctx, &iam.PutRolePolicyInput{
			RoleName: &r.Name, PolicyName: aws.String(cfn.String(m["PolicyName"])), PolicyDocument: aws.String(string(doc)),
		}); err != nil {
			return fmt.Errorf("put policy %s: %w", cfn.String(m["PolicyName"]), err)
		}
	}
	managed, _ := p["ManagedPolicyArns"].([]any)
	for _, arn := range managed {
		_, err := c.AttachRolePolicy(ctx, &iam.AttachRolePolicyInput{RoleName: &r.Name, PolicyArn: aws.String(cfn.String(arn))})
		switch {
		case isNotFound(err) && strings.HasPrefix(cfn.String(arn), "arn:aws:iam::aws:policy/"):
			r.note("%s: the endpoint has no AWS managed policy %s; not attached", r.LogicalID, cfn.String(arn))
		case err != nil:
			return fmt.Errorf("attach %s: %w", cfn.String(arn), err)
		}
	}
	r.ref = r.Name
	r.attrs = map[string]string{"Arn": aws.ToString(role.Arn), "RoleId": aws.ToString(role.RoleId)}
	return nil
}

// dropPolicies deletes a role's inline policies that the template no longer
// names, so an update leaves exactly the template's permissions.
func dropPolicies(ctx context.Context, c *iam.Client, role string, keep []any) error {
	names := map[string]bool{}
	for _, pol := range keep {
		m, _ := pol.(map[string]any)
		names[cfn.String(m["PolicyName"])] = true
	}
	have, err := c.ListRolePolicies(ctx, &iam.ListRolePoliciesInput{RoleName: &role})
	if err != nil {
		return fmt.Errorf("list inline policies: %w", err)
	}
	for _, name := range have.PolicyNames {
		if names[name] {
			continue
		}
		if _, err := c.DeleteRolePolicy(ctx, &iam.DeleteRolePolicyInput{RoleName: &role, PolicyName: aws.String(name)}); err != nil {
			return fmt.Errorf("delete policy %s: %w", name, err)
		}
	}
	return nil
}

// withVersion gives a policy document without Version the current policy
// language version. SAM omits it in the statements it generates; IAM then
// assumes 2008-10-17, which moto refuses, and 2012-10-17 means the same for
// policies without variables.
func withVersion(doc any) any {
	m, ok := doc.(map[string]any)
	if !ok || m["Version"] != nil {
		return doc
	}
	m = maps.Clone(m)
	m["Version"] = "2012-10-17"
	return m
}

func roleExists(ctx context.Context, c *Clients, r StackResource) (bool, error) {
	_, err := c.IAM.GetRole(ctx, &iam.GetRoleInput{RoleName: &r.Name})
	return found(err)
}

func removeRole(ctx context.Context, c *Clients, r StackResource) (bool, error) {
	name := r.Name
	inline, err := c.IAM.ListRolePolicies(ctx, &iam.ListRolePoliciesInput{RoleName: &name})
	if err != nil {
		return gone(err)
	}
	for _, pol := range inline.PolicyNames {
		if _, err := c.IAM.DeleteRolePolicy(ctx, &iam.DeleteRolePolicyInput{RoleName: &name, PolicyName: aws.String(pol)}); err != nil && !isNotFound(err) {
			return false, fmt.Errorf("delete policy %s: %w", pol, err)
		}
	}
	attached, err := c.IAM.ListAttachedRolePolicies(ctx, &iam.ListAttachedRolePoliciesInput{RoleName: &name})
	if err != nil && !isNotFound(err) {
		return false, fmt.Errorf("list attached policies: %w", err)
	}
	if attached != nil {
		for _, pol := range attached.AttachedPolicies {
			if _, err := c.IAM.DetachRolePolicy(ctx, &iam.DetachRolePolicyInput{RoleName: &name, PolicyArn: pol.PolicyArn}); err != nil && !isNotFound(err) {
				return false, fmt.Errorf("detach %s: %w", aws.ToString(pol.PolicyArn), err)
			}
		}
	}
	_, err = c.IAM.DeleteRole(ctx, &iam.DeleteRoleInput{RoleName: &name})
	return gone(err)
}
