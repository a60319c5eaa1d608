package orgscenario

import (
	"context"
	"fmt"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/arn"
	"github.com/aws/aws-sdk-go-v2/service/securityhub"
	shtypes "github.com/aws/aws-sdk-go-v2/service/securityhub/types"

	"github.com/rotation-audit/rotation-audit/internal/findings"
)

// HubFindings reads every finding the hub account's Security Hub holds
// under its own default product, in the hub's region (the first of
// Regions), with the real SDK client, as that account.
func HubFindings(ctx context.Context, endpoint, hub string) ([]shtypes.AwsSecurityFinding, error) {
	client := securityhub.NewFromConfig(as(endpoint, hub, Regions[0]))
	product := findings.ProductARN("aws", Regions[0], hub)
	pages := securityhub.NewGetFindingsPaginator(client, &securityhub.GetFindingsInput{Filters: &shtypes.AwsSecurityFindingFilters{
		ProductArn: []shtypes.StringFilter{{Value: aws.String(product), Comparison: shtypes.StringFilterComparisonEquals}},
	}})
	var out []shtypes.AwsSecurityFinding
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("get the hub's findings: %w", err)
		}
		out = append(out, page.Findings...)
	}
	return out, nil
}

// CheckFindings says what is wrong with the hub's Security Hub after the
// run o, the first: one finding per row (its ID the row's secret ARN's,
// so db in two accounts is two findings), each imported as the hub into
// its default product, its resource the member's secret with the member
// account named, and none for a secret of an account not reporting.
// Nothing when it is right.
func CheckFindings(fs []shtypes.AwsSecurityFinding, o Outcome, hub string, denied []string) []string {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	want := map[string]bool{} // finding IDs: the first run imports every row's
	for _, r := range o.Rows {
		want[findings.ID(r.SecretARN)] = true
	}
	got := map[string]bool{}
	product := findings.ProductARN("aws", Regions[0], hub)
	for _, f := range fs {
		id := aws.ToString(f.Id)
		if got[id] {
			bad("two findings %s", id)
		}
		got[id] = true
		if a := aws.ToString(f.AwsAccountId); a != hub {
			bad("finding %s is account %s's, want the hub's (%s)", id, a, hub)
		}
		if p := aws.ToString(f.ProductArn); p != product {
			bad("finding %s is under %s, want the hub's default product %s", id, p, product)
		}
		if len(f.Resources) != 1 {
			bad("finding %s has %d resources, want the secret alone", id, len(f.Resources))
			continue
		}
		secret, err := arn.Parse(aws.ToString(f.Resources[0].Id))
		switch {
		case err != nil:
			bad("finding %s: its resource %q is not an ARN", id, aws.ToString(f.Resources[0].Id))
			continue
		case slices.Contains(denied, secret.AccountID):
			bad("finding %s is about a secret of %s, an account not reporting", id, secret.AccountID)
		case f.ProductFields["rotation-audit/account_id"] != secret.AccountID:
			bad("finding %s names account %q, want its secret's, %s", id, f.ProductFields["rotation-audit/account_id"], secret.AccountID)
		}
		if r := aws.ToString(f.Resources[0].Region); r != secret.Region {
			bad("finding %s: resource region %s, want its secret's, %s", id, r, secret.Region)
		}
	}
	for _, id := range sortedKeys(want) {
		if !got[id] {
			bad("no finding %s", id)
		}
	}
	for _, id := range sortedKeys(got) {
		if !want[id] {
			bad("an unexpected finding %s (no row of the run)", id)
		}
	}
	return problems
}
