package tests

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/matryer/is"

	"github.com/rotation-audit/rotation-audit/internal/localcloud/cfn"
	"github.com/rotation-audit/rotation-audit/internal/localcloud/sam"
)

// deployedJSON is every resource the template creates with these parameters,
// after the SAM transform, every intrinsic function resolved (other
// resources' Refs and attributes stand in as placeholders), as JSON.
func deployedJSON(t *testing.T, params map[string]string) string {
	t.Helper()
	tt, err := sam.Transform(env.tmpl)
	if err != nil {
		t.Fatal(err)
	}
	p, err := cfn.NewPlan(tt, cfn.Stack{Name: "rotcheck", Region: "us-east-1", Account: "123456789012"}, params)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range p.Order {
		p.Created(id, "ref-"+id, map[string]string{"Arn": "arn:placeholder:" + id, "QueueName": id})
	}
	out := map[string]any{}
	for _, id := range p.Order {
		if !p.Enabled(id) {
			continue
		}
		props, err := p.Resolve(tt.Resources[id].Properties)
		if err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		out[id] = props
	}
	data, err := json.Marshal(out)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// Security Hub is opt-in: off by default, with no Security Hub permission
// anywhere once deployed; on, the function may import findings into its
// own account's default product and nothing else, and is told to.
func TestTemplateSecurityHubIsOptIn(t *testing.T) {
	is := is.New(t)
	param := env.tmpl.Parameters["SecurityHubFindings"]
	is.Equal(*param.Default, "false")
	is.Equal(param.AllowedValues, []string{"true", "false"})

	off := deployedJSON(t, nil)
	is.True(!strings.Contains(strings.ToLower(off), "securityhub"))   // no permission, no product ARN
	is.True(strings.Contains(off, `"SECURITY_HUB_FINDINGS":"false"`)) // and the function is told

	on := deployedJSON(t, map[string]string{"SecurityHubFindings": "true"})
	is.True(strings.Contains(on, `"SECURITY_HUB_FINDINGS":"true"`))
	var resources map[string]map[string]any
	is.NoErr(json.Unmarshal([]byte(on), &resources))
	var grants []map[string]any
	for _, r := range resources {
		for _, pol := range asAny(r["Policies"]) {
			for _, st := range asAny(pol.(map[string]any)["PolicyDocument"].(map[string]any)["Statement"]) {
				s := st.(map[string]any)
				for _, a := range asList(s["Action"]) {
					if strings.HasPrefix(a, "securityhub:") {
						grants = append(grants, s)
					}
				}
			}
		}
	}
	is.Equal(grants, []map[string]any{{
		"Effect":   "Allow",
		"Action":   "securityhub:BatchImportFindings",
		"Resource": "arn:aws:securityhub:us-east-1:123456789012:product/123456789012/default",
	}}) // one grant: import, into the account's own default product only
}

// The deployer deploys the template with Security Hub on: the function's
// role holds the conditional policy, and the function is told.
func TestTemplateDeploysWithSecurityHubFindings(t *testing.T) {
	is := is.New(t)
	ctx := context.Background()
	d := deployer("shub", map[string]string{"SecurityHubFindings": "true", "SeedTestSecrets": "false"})
	t.Cleanup(func() {
		if _, err := d.Teardown(context.Background(), env.tmpl); err != nil {
			t.Error(err)
		}
	})
	res, err := d.Deploy(ctx, env.tmpl)
	is.NoErr(err)
	role := ""
	for _, r := range res.Resources {
		if r.LogicalID == "RotationCheckFunctionRole" {
			role = r.Name
		}
	}
	is.True(role != "")
	pol, err := env.clients.IAM.GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: aws.String(role), PolicyName: aws.String("RotationCheckFunctionRolePolicy1")})
	is.NoErr(err) // the policy the condition adds
	doc, err := url.QueryUnescape(aws.ToString(pol.PolicyDocument))
	is.NoErr(err)
	is.True(strings.Contains(doc, "securityhub:BatchImportFindings"))
	fn, err := env.clients.Lambda.GetFunctionConfiguration(ctx, &lambda.GetFunctionConfigurationInput{FunctionName: aws.String("shub-check")})
	is.NoErr(err)
	is.Equal(fn.Environment.Variables["SECURITY_HUB_FINDINGS"], "true")
}
