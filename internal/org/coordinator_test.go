package org

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/matryer/is"

	"github.com/rotation-audit/rotation-audit/internal/audit"
	"github.com/rotation-audit/rotation-audit/internal/tables"
)

// coordination records what a coordinator wrote and sent.
type coordination struct {
	units    []map[string]dbtypes.AttributeValue
	writes   int
	entries  []entry
	sends    [][]Message
	resumed  bool // GetItem finds the run's entry
	unsentOn map[int]bool
}

func (r *coordination) coordinator(t *testing.T, cfg Config, org AccountLister) *Coordinator {
	tbl := &fakeTables{
		GetItemFn: func(in *dynamodb.GetItemInput) (*dynamodb.GetItemOutput, error) {
			if !aws.ToBool(in.ConsistentRead) {
				t.Error("the run's entry must be read consistently")
			}
			if r.resumed {
				return &dynamodb.GetItemOutput{Item: map[string]dbtypes.AttributeValue{tables.UnitsExpected: num(4)}}, nil
			}
			return &dynamodb.GetItemOutput{}, nil
		},
		BatchWriteItemFn: func(in *dynamodb.BatchWriteItemInput) (*dynamodb.BatchWriteItemOutput, error) {
			r.writes++
			for _, w := range in.RequestItems[cfg.UnitsTable] {
				r.units = append(r.units, w.PutRequest.Item)
			}
			return &dynamodb.BatchWriteItemOutput{}, nil
		},
		PutItemFn: func(in *dynamodb.PutItemInput) (*dynamodb.PutItemOutput, error) {
			if aws.ToString(in.ConditionExpression) != "attribute_not_exists(run_id)" {
				t.Error("the entry must not overwrite another coordinator's")
			}
			var e entry
			if err := attributevalue.UnmarshalMap(in.Item, &e); err != nil {
				t.Fatal(err)
			}
			r.entries = append(r.entries, e)
			return &dynamodb.PutItemOutput{}, nil
		},
		UpdateItemFn: func(*dynamodb.UpdateItemInput) (*dynamodb.UpdateItemOutput, error) {
			return &dynamodb.UpdateItemOutput{}, nil
		},
	}
	calls := 0
	q := &fakeQueue{SendMessageBatchFn: func(in *sqs.SendMessageBatchInput) (*sqs.SendMessageBatchOutput, error) {
		calls++
		var batch []Message
		out := &sqs.SendMessageBatchOutput{}
		for _, e := range in.Entries {
			if r.unsentOn[calls] {
				out.Failed = append(out.Failed, sqstypes.BatchResultErrorEntry{Id: e.Id, Code: aws.String("InternalError"), Message: aws.String("try again")})
				continue
			}
			var m Message
			if err := json.Unmarshal([]byte(aws.ToString(e.MessageBody)), &m); err != nil {
				t.Fatal(err)
			}
			batch = append(batch, m)
		}
		r.sends = append(r.sends, batch)
		return out, nil
	}}
	c := NewCoordinator(cfg, org, tbl, q, discard())
	c.Now = func() time.Time { return testNow }
	c.Sleep = func(context.Context, time.Duration) error { return nil }
	c.Calls = 1 // in order, for the assertions
	return c
}

// An organization's ACTIVE accounts, listed page by page (an empty page
// with a next token included), each audited in every region: one pending
// unit each, written before the entry that expects them, then one message
// each, ten a call.
func TestCoordinatorPlansTheOrganization(t *testing.T) {
	is := is.New(t)
	pages := []organizations.ListAccountsOutput{
		{Accounts: accountsActive(0, 7), NextToken: aws.String("1")},
		{NextToken: aws.String("2")}, // empty, yet more follow
		{Accounts: append(accountsActive(7, 13), orgtypes.Account{Id: aws.String("999999999999"), State: orgtypes.AccountStateSuspended})},
	}
	org := &fakeOrganizations{ListAccountsFn: func(in *organizations.ListAccountsInput) (*organizations.ListAccountsOutput, error) {
		i := 0
		if in.NextToken != nil {
			i, _ = strconv.Atoi(*in.NextToken)
		}
		return &pages[i], nil
	}}
	cfg := testConfig()
	cfg.Organization, cfg.Accounts = true, nil
	var r coordination
	plan, err := r.coordinator(t, cfg, org).Handle(context.Background(), []byte(`{"source":"eventbridge-scheduler","scheduled_time":"2026-11-25T14:00:00Z"}`))
	is.NoErr(err)
	is.Equal(plan.RunID, "run-1795615200000") // the scheduled time's, as a single-account run
	is.Equal(plan.Accounts, 13)               // the suspended account is not expected
	is.Equal(plan.Units, 26)                  // 13 accounts x 2 regions
	is.Equal(plan.Sent, 26)
	is.Equal(len(r.units), 26)
	is.Equal(r.writes, 2) // 25 a call
	is.Equal(r.units[1][tables.UnitState].(*dbtypes.AttributeValueMemberS).Value, tables.UnitPending)
	is.Equal(r.units[1][tables.Unit].(*dbtypes.AttributeValueMemberS).Value, "100000000000/eu-west-1")
	is.Equal(len(r.entries), 1)
	e := r.entries[0]
	is.Equal(e.Month, "2026-11")
	is.Equal(e.UnitsExpected, 26)
	is.Equal(e.UnitsDone, 0)
	is.Equal(e.Accounts, 13)
	is.Equal(e.Regions, "us-east-1,eu-west-1")
	is.Equal(e.ScheduledTime, "2026-11-25T14:00:00Z")
	is.True(!e.Complete)
	is.Equal(len(r.sends), 3) // 10, 10, 6
	is.Equal(len(r.sends[2]), 6)
	is.Equal(r.sends[0][0], Message{RunID: "run-1795615200000", Account: "100000000000", Region: "us-east-1", StartedMS: r.sends[0][0].StartedMS})
}

func accountsActive(from, to int) []orgtypes.Account {
	var out []orgtypes.Account
	for i := from; i < to; i++ {
		out = append(out, orgtypes.Account{Id: aws.String(strconv.Itoa(100000000000 + i)), State: orgtypes.AccountStateActive})
	}
	return out
}

// A retried fire finds the run's entry: it writes no unit and no entry
// (which would reset the counts), and sends every message again; entries
// SQS reports failed are sent again.
func TestCoordinatorResumesARetriedFire(t *testing.T) {
	is := is.New(t)
	r := coordination{resumed: true, unsentOn: map[int]bool{1: true}}
	plan, err := r.coordinator(t, testConfig(), nil).Handle(context.Background(), []byte(`{"scheduled_time":"2026-11-25T14:00:00Z"}`))
	is.NoErr(err)
	is.True(plan.Resumed)
	is.Equal(len(r.units), 0)
	is.Equal(len(r.entries), 0)
	is.Equal(plan.Sent, 4)       // 2 accounts x 2 regions
	is.Equal(len(r.sends), 2)    // the first call failed every entry
	is.Equal(len(r.sends[1]), 4) // and they went on the second
}

// A scheduled time in the future is refused before any call, as the
// single-account check refuses it.
func TestCoordinatorRefusesAFutureRun(t *testing.T) {
	is := is.New(t)
	var r coordination
	c := r.coordinator(t, testConfig(), nil)
	c.Tables = nil // any call would panic
	_, err := c.Handle(context.Background(), []byte(`{"scheduled_time":"2026-12-25T14:00:00Z"}`))
	is.True(err != nil)
}

// Organizations refusing the hub (not the management account or a
// delegated administrator) fails the run with a reason, before any write.
func TestCoordinatorSaysWhyItCannotListAccounts(t *testing.T) {
	is := is.New(t)
	cfg := testConfig()
	cfg.Organization = true
	org := &fakeOrganizations{ListAccountsFn: func(*organizations.ListAccountsInput) (*organizations.ListAccountsOutput, error) {
		return nil, errors.New("AccessDeniedException: not the management account")
	}}
	var r coordination
	_, err := r.coordinator(t, cfg, org).Start(context.Background(), audit.Event{})
	is.True(err != nil)
	is.True(len(r.units) == 0)
	is.True(strings.Contains(err.Error(), "delegated administrator")) // what to fix
}
