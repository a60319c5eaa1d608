package org

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	ststypes "github.com/aws/aws-sdk-go-v2/service/sts/types"
	"github.com/aws/smithy-go"
	"github.com/matryer/is"

	"github.com/rotation-audit/rotation-audit/internal/audit"
	"github.com/rotation-audit/rotation-audit/internal/findings"
	"github.com/rotation-audit/rotation-audit/internal/hubimport"
	"github.com/rotation-audit/rotation-audit/internal/tables"
)

// hub is the hub's tables as far as workers use them: unit states, the
// run's counts and completion, the rows written.
type hub struct {
	conflicts   int               // transactions to cancel for a conflict first
	state       map[string]string // unit -> state
	errs        map[string]string // unit -> error
	expected    int
	done        int
	failed      int
	checked     int
	complete    int // completions that held
	rows        []audit.Record
	transacts   int
	completions int
}

func newHub(units ...string) *hub {
	h := &hub{state: map[string]string{}, errs: map[string]string{}, expected: len(units)}
	for _, u := range units {
		h.state[u] = tables.UnitPending
	}
	return h
}

func s(av dbtypes.AttributeValue) string { return av.(*dbtypes.AttributeValueMemberS).Value }

func n(av dbtypes.AttributeValue) int {
	var v int
	_ = attributevalue.Unmarshal(av, &v)
	return v
}

func (h *hub) tables(t *testing.T) *fakeTables {
	return &fakeTables{
		GetItemFn: func(in *dynamodb.GetItemInput) (*dynamodb.GetItemOutput, error) {
			st, ok := h.state[s(in.Key[tables.Unit])]
			if !ok {
				return &dynamodb.GetItemOutput{}, nil
			}
			return &dynamodb.GetItemOutput{Item: map[string]dbtypes.AttributeValue{tables.UnitState: &dbtypes.AttributeValueMemberS{Value: st}}}, nil
		},
		PutItemFn: func(*dynamodb.PutItemInput) (*dynamodb.PutItemOutput, error) {
			t.Error("a unit writes no run log entry of its own")
			return &dynamodb.PutItemOutput{}, nil
		},
		BatchWriteItemFn: func(in *dynamodb.BatchWriteItemInput) (*dynamodb.BatchWriteItemOutput, error) {
			for _, w := range in.RequestItems["hub-org-audit"] {
				var r audit.Record
				if err := attributevalue.UnmarshalMap(w.PutRequest.Item, &r); err != nil {
					t.Fatal(err)
				}
				h.rows = append(h.rows, r)
			}
			if len(in.RequestItems) != 1 || in.RequestItems["hub-org-audit"] == nil {
				t.Errorf("rows go to the organization table only, got %v", in.RequestItems)
			}
			return &dynamodb.BatchWriteItemOutput{}, nil
		},
		TransactWriteItemsFn: func(in *dynamodb.TransactWriteItemsInput) (*dynamodb.TransactWriteItemsOutput, error) {
			h.transacts++
			if h.conflicts > 0 {
				h.conflicts--
				return nil, &dbtypes.TransactionCanceledException{CancellationReasons: []dbtypes.CancellationReason{
					{Code: aws.String("None")}, {Code: aws.String("TransactionConflict")}}}
			}
			unit, run := in.TransactItems[0].Update, in.TransactItems[1].Update
			u := s(unit.Key[tables.Unit])
			if h.state[u] != tables.UnitPending {
				return nil, &dbtypes.TransactionCanceledException{CancellationReasons: []dbtypes.CancellationReason{
					{Code: aws.String("ConditionalCheckFailed")}, {Code: aws.String("None")}}}
			}
			h.state[u] = s(unit.ExpressionAttributeValues[":s"])
			if e, ok := unit.ExpressionAttributeValues[":e"]; ok {
				h.errs[u] = s(e)
			}
			h.done += n(run.ExpressionAttributeValues[":one"])
			h.failed += n(run.ExpressionAttributeValues[":failed"])
			h.checked += n(run.ExpressionAttributeValues[":c"])
			return &dynamodb.TransactWriteItemsOutput{}, nil
		},
		UpdateItemFn: func(in *dynamodb.UpdateItemInput) (*dynamodb.UpdateItemOutput, error) {
			h.completions++
			if h.done != h.expected || h.complete > 0 {
				return nil, &dbtypes.ConditionalCheckFailedException{}
			}
			h.complete++
			item, _ := attributevalue.MarshalMap(entry{RunID: "run-1795615200000", UnitsExpected: h.expected, UnitsDone: h.done,
				UnitsFailed: h.failed, Checked: h.checked})
			return &dynamodb.UpdateItemOutput{Attributes: item}, nil
		},
	}
}

// members are accounts with a reader role each holding the named secrets
// in every region; any other account's role cannot be assumed.
func worker(t *testing.T, h *hub, members map[string][]string, logs *strings.Builder) *Worker {
	roles := &fakeRoles{AssumeRoleFn: func(in *sts.AssumeRoleInput) (*sts.AssumeRoleOutput, error) {
		acct := strings.Split(aws.ToString(in.RoleArn), ":")[4]
		if _, ok := members[acct]; !ok || !strings.HasSuffix(aws.ToString(in.RoleArn), ":role/rotation-audit-reader") {
			return nil, &smithy.GenericAPIError{Code: "AccessDenied", Message: "not authorized to perform: sts:AssumeRole"}
		}
		return &sts.AssumeRoleOutput{Credentials: &ststypes.Credentials{AccessKeyId: aws.String("ASIA" + acct),
			SecretAccessKey: aws.String("s"), SessionToken: aws.String("t"), Expiration: aws.Time(testNow.Add(time.Hour))}}, nil
	}}
	secretsFor := func(region string, k aws.Credentials) audit.Secrets {
		acct := strings.TrimPrefix(k.AccessKeyID, "ASIA")
		return &fakeSecrets{ListSecretsFn: func(*secretsmanager.ListSecretsInput) (*secretsmanager.ListSecretsOutput, error) {
			var out secretsmanager.ListSecretsOutput
			for _, name := range members[acct] {
				out.SecretList = append(out.SecretList, smtypes.SecretListEntry{
					Name: aws.String(name), ARN: aws.String("arn:aws:secretsmanager:" + region + ":" + acct + ":secret:" + name + "-AbCdEf"),
					CreatedDate: aws.Time(testNow.Add(-time.Hour)), Tags: []smtypes.Tag{{Key: aws.String("Managed"), Value: aws.String("true")}},
				})
			}
			return &out, nil
		}}
	}
	w := NewWorker(testConfig(), roles, secretsFor, h.tables(t), discard())
	if logs != nil {
		w.Logger = slog.New(slog.NewJSONHandler(logs, nil))
	}
	w.Now = func() time.Time { return testNow.Add(time.Minute) }
	w.Sleep = func(context.Context, time.Duration) error { return nil }
	return w
}

func sqsBatch(receives string, units ...string) events.SQSEvent {
	var ev events.SQSEvent
	for _, u := range units {
		acct, region, _ := strings.Cut(u, "/")
		body, _ := json.Marshal(Message{RunID: "run-1795615200000", Account: acct, Region: region, StartedMS: testNow.UnixMilli()})
		ev.Records = append(ev.Records, events.SQSMessage{MessageId: "m-" + u, Body: string(body), EventSource: "aws:sqs",
			Attributes: map[string]string{"ApproximateReceiveCount": receives}})
	}
	return ev
}

// A batch of units: the member's are audited into the organization table
// with their account and region, the same secret name in two accounts is
// two rows, an account whose role cannot be assumed is recorded as failed
// with the error without a retry, and the unit that finishes last
// completes the run, once, logging the run's metrics.
func TestWorkerAuditsABatchAndCompletesTheRun(t *testing.T) {
	is := is.New(t)
	units := []string{"111111111111/us-east-1", "111111111111/eu-west-1", "222222222222/us-east-1", "333333333333/us-east-1"}
	h := newHub(units...)
	var logs strings.Builder
	w := worker(t, h, map[string][]string{"111111111111": {"db"}, "222222222222": {"db", "api"}}, &logs)
	resp := w.Handle(context.Background(), sqsBatch("1", units...))
	is.Equal(len(resp.BatchItemFailures), 0) // an account not reporting is no reason to retry
	is.Equal(h.state["111111111111/us-east-1"], tables.UnitDone)
	is.Equal(h.state["333333333333/us-east-1"], tables.UnitFailed)
	is.True(strings.Contains(h.errs["333333333333/us-east-1"], "arn:aws:iam::333333333333:role/rotation-audit-reader")) // which role
	is.True(strings.Contains(h.errs["333333333333/us-east-1"], "AccessDenied"))                                         // and why
	is.Equal(h.done, 4)
	is.Equal(h.failed, 1)
	is.Equal(h.checked, 4)
	is.Equal(h.complete, 1) // completed exactly once
	arns := map[string]bool{}
	for _, r := range h.rows {
		arns[r.SecretARN] = true
		is.True(r.AccountID != "" && r.Region != "") // every row names its unit
		is.True(strings.Contains(r.SecretARN, ":"+r.Region+":"+r.AccountID+":"))
		is.Equal(r.RunID, "run-1795615200000") // the coordinator's run
	}
	is.Equal(len(arns), 4) // db in 111 (two regions) and 222, api in 222: four rows, none overwritten
	is.Equal(strings.Count(logs.String(), `"msg":"organization run complete"`), 1)
	is.True(strings.Contains(logs.String(), `"RunsCompleted":1`))
}

// A unit delivered again after it finished is not audited or counted
// again; it only tries to complete the run (its first delivery may have
// stopped before that).
func TestWorkerCountsARedeliveredUnitOnce(t *testing.T) {
	is := is.New(t)
	h := newHub("111111111111/us-east-1")
	w := worker(t, h, map[string][]string{"111111111111": {"db"}}, nil)
	is.Equal(len(w.Handle(context.Background(), sqsBatch("1", "111111111111/us-east-1")).BatchItemFailures), 0)
	rows := len(h.rows)
	h.complete = 0 // as if the first delivery stopped before completing
	resp := w.Handle(context.Background(), sqsBatch("2", "111111111111/us-east-1"))
	is.Equal(len(resp.BatchItemFailures), 0)
	is.Equal(h.done, 1)         // counted once
	is.Equal(len(h.rows), rows) // not audited again
	is.Equal(h.transacts, 1)    // no second transaction
	is.Equal(h.complete, 1)     // the redelivery completed the run
}

// A unit that fails is left to the queue (a batch item failure) until its
// last receive, which records it as failed, so the run can complete, and
// still reports the failure, so the message is dead-lettered.
func TestWorkerRetriesAFailingUnitThenRecordsIt(t *testing.T) {
	is := is.New(t)
	h := newHub("111111111111/us-east-1")
	w := worker(t, h, map[string][]string{"111111111111": {"db"}}, nil)
	w.SecretsFor = func(string, aws.Credentials) audit.Secrets {
		return &fakeSecrets{ListSecretsFn: func(*secretsmanager.ListSecretsInput) (*secretsmanager.ListSecretsOutput, error) {
			return nil, errors.New("ThrottlingException: rate exceeded")
		}}
	}
	for _, receive := range []string{"1", "2"} {
		resp := w.Handle(context.Background(), sqsBatch(receive, "111111111111/us-east-1"))
		is.Equal(len(resp.BatchItemFailures), 1) // delivered again
		is.Equal(h.state["111111111111/us-east-1"], tables.UnitPending)
	}
	resp := w.Handle(context.Background(), sqsBatch("3", "111111111111/us-east-1"))
	is.Equal(len(resp.BatchItemFailures), 1) // to the dead-letter queue
	is.Equal(h.state["111111111111/us-east-1"], tables.UnitFailed)
	is.True(strings.Contains(h.errs["111111111111/us-east-1"], "ThrottlingException"))
	is.Equal(h.complete, 1) // the run completes without it
}

// Every unit of a run updates the same run entry: a transaction canceled
// by another one on it is tried again, not left to the queue (whose
// redelivery would audit the unit again after the visibility timeout).
func TestWorkerRetriesAConflictingTransaction(t *testing.T) {
	is := is.New(t)
	h := newHub("111111111111/us-east-1")
	h.conflicts = 2
	w := worker(t, h, map[string][]string{"111111111111": {"db"}}, nil)
	resp := w.Handle(context.Background(), sqsBatch("1", "111111111111/us-east-1"))
	is.Equal(len(resp.BatchItemFailures), 0) // no redelivery
	is.Equal(h.transacts, 3)                 // two conflicts, then through
	is.Equal(h.done, 1)
	is.Equal(h.complete, 1)
}

// importer is a Security Hub importer that keeps every finding sent.
type importer struct {
	mu   sync.Mutex
	sent []findings.SecurityFinding
}

func (im *importer) Import(_ context.Context, fs []findings.SecurityFinding) (hubimport.Result, error) {
	im.mu.Lock()
	defer im.mu.Unlock()
	im.sent = append(im.sent, fs...)
	return hubimport.Result{Imported: len(fs), Calls: 1}, nil
}

// With SECURITY_HUB_FINDINGS the worker imports each unit's findings into
// the hub account's Security Hub, in the hub's region, with its own
// credentials: AwsAccountId and ProductArn are the hub's, the resource is
// the member's secret, and db in two accounts is two findings. The run's
// entry adds what was imported. Each unit reads its previous run from
// the run log (the coordinator's entries), and writes no entry of its own.
func TestWorkerImportsFindingsIntoTheHub(t *testing.T) {
	is := is.New(t)
	units := []string{"111111111111/eu-west-1", "222222222222/eu-west-1", "333333333333/eu-west-1"}
	h := newHub(units...)
	w := worker(t, h, map[string][]string{"111111111111": {"db"}, "222222222222": {"db", "api"}}, nil)
	w.Config.HubAccountID = "000000000000"
	var baselines []string
	tbl := w.Tables.(*fakeTables)
	tbl.QueryFn = func(in *dynamodb.QueryInput) (*dynamodb.QueryOutput, error) {
		baselines = append(baselines, aws.ToString(in.TableName)+"/"+aws.ToString(in.IndexName))
		return &dynamodb.QueryOutput{}, nil // no previous complete run
	}
	var imported int
	transact := tbl.TransactWriteItemsFn
	tbl.TransactWriteItemsFn = func(in *dynamodb.TransactWriteItemsInput) (*dynamodb.TransactWriteItemsOutput, error) {
		if v, ok := in.TransactItems[1].Update.ExpressionAttributeValues[":fi"]; ok {
			imported += n(v)
		}
		return transact(in)
	}
	hub := &importer{}
	w.Findings = hub

	resp := w.Handle(context.Background(), sqsBatch("1", units...))
	is.Equal(len(resp.BatchItemFailures), 0)
	is.Equal(len(hub.sent), 3) // the first run: every audited secret of the two members
	ids := map[string]bool{}
	for _, f := range hub.sent {
		ids[f.Id] = true
		is.Equal(f.AwsAccountId, "000000000000")                                                          // the hub imports, as itself
		is.Equal(f.ProductArn, "arn:aws:securityhub:us-east-1:000000000000:product/000000000000/default") // into its own default product, in its region
		r := f.Resources[0]
		member := f.ProductFields["rotation-audit/account_id"]
		is.True(member == "111111111111" || member == "222222222222")                           // the member account, named
		is.True(strings.HasPrefix(r.Id, "arn:aws:secretsmanager:eu-west-1:"+member+":secret:")) // the member's secret
		is.Equal(r.Region, "eu-west-1")
	}
	is.Equal(len(ids), 3)                                                             // db in two accounts: two findings
	is.Equal(imported, 3)                                                             // the run's entry says so
	is.Equal(baselines, []string{"hub-runs/by-completion", "hub-runs/by-completion"}) // each reporting unit looked for its previous run
}

// Without SECURITY_HUB_FINDINGS nothing is imported or counted.
func TestWorkerWithoutFindingsImportsNothing(t *testing.T) {
	is := is.New(t)
	h := newHub("111111111111/eu-west-1")
	w := worker(t, h, map[string][]string{"111111111111": {"db"}}, nil)
	tbl := w.Tables.(*fakeTables)
	transact := tbl.TransactWriteItemsFn
	tbl.TransactWriteItemsFn = func(in *dynamodb.TransactWriteItemsInput) (*dynamodb.TransactWriteItemsOutput, error) {
		_, ok := in.TransactItems[1].Update.ExpressionAttributeValues[":fi"]
		is.True(!ok) // no findings count in the run's entry
		return transact(in)
	}
	is.Equal(len(w.Handle(context.Background(), sqsBatch("1", "111111111111/eu-west-1")).BatchItemFailures), 0)
	is.Equal(h.done, 1)
}

// A unit compares itself with the last complete run in which it was done:
// the previous run had a unit failed, and the units table says it was
// this one, so the worker steps back to the run before, which had none
// failed, and reads the unit's rows of both, that one first.
func TestWorkerComparesAUnitWithItsLastDoneRun(t *testing.T) {
	is := is.New(t)
	const unit, failedRun, doneRun = "111111111111/us-east-1", "run-1795611600000", "run-1795608000000"
	h := newHub(unit)
	w := worker(t, h, map[string][]string{"111111111111": {"db"}}, nil)
	tbl := h.tables(t)
	get := tbl.GetItemFn
	var asked, rowsOf []string
	tbl.GetItemFn = func(in *dynamodb.GetItemInput) (*dynamodb.GetItemOutput, error) {
		run := s(in.Key[tables.RunID])
		if run == "run-1795615200000" {
			return get(in) // this run's own unit
		}
		asked = append(asked, aws.ToString(in.TableName)+" "+run+" "+s(in.Key[tables.Unit]))
		return &dynamodb.GetItemOutput{Item: map[string]dbtypes.AttributeValue{tables.UnitState: &dbtypes.AttributeValueMemberS{Value: tables.UnitFailed}}}, nil
	}
	tbl.QueryFn = func(in *dynamodb.QueryInput) (*dynamodb.QueryOutput, error) {
		var run string
		for _, v := range in.ExpressionAttributeValues {
			if sv, ok := v.(*dbtypes.AttributeValueMemberS); ok && strings.HasPrefix(sv.Value, "run-") {
				run = sv.Value
			}
		}
		if aws.ToString(in.TableName) != "hub-runs" {
			rowsOf = append(rowsOf, aws.ToString(in.TableName)+" "+aws.ToString(in.IndexName)+" "+run)
			return &dynamodb.QueryOutput{}, nil
		}
		var e entry
		switch {
		case run > failedRun:
			e = entry{RunID: failedRun, UnitsFailed: 1}
		case run > doneRun:
			e = entry{RunID: doneRun}
		default:
			return &dynamodb.QueryOutput{}, nil
		}
		item, err := attributevalue.MarshalMap(e)
		if err != nil {
			return nil, err
		}
		item["checked_at"] = &dbtypes.AttributeValueMemberS{Value: testNow.Format(time.RFC3339)}
		return &dynamodb.QueryOutput{Items: []map[string]dbtypes.AttributeValue{item}}, nil
	}
	w.Tables = tbl
	is.Equal(len(w.Handle(context.Background(), sqsBatch("1", unit)).BatchItemFailures), 0)
	is.Equal(asked, []string{"hub-units " + failedRun + " " + unit}) // one GetItem, for the run with a unit failed
	is.Equal(rowsOf, []string{"hub-org-audit " + tables.AccountIndex + " " + doneRun, "hub-org-audit " + tables.AccountIndex + " " + failedRun})
	is.Equal(h.state[unit], tables.UnitDone)
}
