package audit

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/matryer/is"
)

// One unit of an organization run: rows carry the account and region, a
// replica whose primary region the run also audits gets no row (its
// primary's unit judges it), a replica of a region the run does not audit
// keeps its row, and the log line carries no metrics (the run's totals are
// logged once, by the unit that completes it).
func TestRunAsAnOrganizationUnit(t *testing.T) {
	is := is.New(t)
	primary := secret("db", 3*day, "Managed", "true")
	replica := secret("copied", 3*day, "Managed", "true")
	replica.PrimaryRegion = aws.String("us-east-1")
	foreign := secret("from-afar", 3*day, "Managed", "true")
	foreign.PrimaryRegion = aws.String("ap-south-1")
	var rec recorder
	var logs bytes.Buffer
	c := newTestChecker(paged([]smtypes.SecretListEntry{primary, replica, foreign}, nil), rec.table(), &logs)
	c.Config.Region = "eu-west-1"
	c.Config.AccountID = "111111111111"
	c.Config.AuditedRegions = []string{"us-east-1", "eu-west-1"}

	res, err := c.Run(context.Background(), Event{})
	is.NoErr(err)
	is.Equal(res.Checked, 2)  // db and from-afar
	is.Equal(res.Replicas, 1) // copied: audited in us-east-1
	rows := rec.records(t)
	is.Equal(len(rows), 2)
	for _, r := range rows {
		is.Equal(r.AccountID, "111111111111") // every row names its account
		is.Equal(r.Region, "eu-west-1")       // and the region audited
	}
	is.Equal(rows[1].Reason, ReasonReplica) // from-afar: its primary region is not audited, so it is listed here
	is.True(!strings.Contains(logs.String(), "CloudWatchMetrics"))
	is.True(strings.Contains(logs.String(), `"account_id":"111111111111"`))
}

// Single-account mode is unchanged: no account or region on the rows, a
// replica listed as today, metrics in the log line.
func TestRunSingleAccountHasNoUnitFields(t *testing.T) {
	is := is.New(t)
	replica := secret("copied", 3*day, "Managed", "true")
	replica.PrimaryRegion = aws.String("eu-west-1")
	var rec recorder
	var logs bytes.Buffer
	res, err := newTestChecker(paged([]smtypes.SecretListEntry{replica}, nil), rec.table(), &logs).Run(context.Background(), Event{})
	is.NoErr(err)
	is.Equal(res.Checked, 1)
	rows := rec.records(t)
	is.Equal(rows[0].AccountID, "")
	is.Equal(rows[0].Region, "")
	is.Equal(rows[0].Reason, ReasonReplica)
	is.True(strings.Contains(logs.String(), "CloudWatchMetrics"))
}
