package report

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rotation-audit/rotation-audit/internal/tables"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/matryer/is"

	"github.com/rotation-audit/rotation-audit/internal/audit"
)

// fakeLog is a run log and an audit table in memory. It answers Queries
// of the run log (a month's partition and the sparse index of complete
// runs) and of the audit table (a secret's partition, the run index and
// the sparse change index) by their key conditions, as DynamoDB does: in
// run_id order (newest first when ScanIndexForward is false), Limit
// items at most, and page items a page when page is set. It ignores
// projections, and counts the Queries and the items it returns.
type fakeLog struct {
	runs           []loggedRun
	rows           map[string][]fakeRow // by run
	units          []fakeUnit           // organization runs' units
	page           int
	mu             sync.Mutex // a history reads a few runs at once
	queries, items int
	asked          []string // each Query's table and index, "table/index"

	runItems, rowItems, unitItems []map[string]dbtypes.AttributeValue            // as stored, marshalled at the first Query
	memo                          map[string][]map[string]dbtypes.AttributeValue // a Query's items, for its next pages
}

// marshal stores the runs and rows as DynamoDB items.
func (f *fakeLog) marshal() error {
	f.runItems = []map[string]dbtypes.AttributeValue{}
	for _, r := range f.runs {
		item, err := attributevalue.MarshalMap(r)
		if err != nil {
			return err
		}
		f.runItems = append(f.runItems, item)
	}
	for _, rows := range f.rows {
		for _, r := range rows {
			item, err := attributevalue.MarshalMap(r)
			if err != nil {
				return err
			}
			f.rowItems = append(f.rowItems, item)
		}
	}
	for _, u := range f.units {
		item, err := attributevalue.MarshalMap(u)
		if err != nil {
			return err
		}
		f.unitItems = append(f.unitItems, item)
	}
	return nil
}

// fakeUnit is a unit as the units table holds it: with its run.
type fakeUnit struct {
	Unit
	RunID string `dynamodbav:"run_id"`
}

// fakeRow is an audit row as the write side stores it: the record, and
// its change (empty for rows written before rows carried one) and, when
// the change is not unchanged, the change index's key.
type fakeRow struct {
	audit.Record
	Change      string `dynamodbav:"change,omitempty"`
	ChangeMonth string `dynamodbav:"change_month,omitempty"`
}

// keyCondition matches one comparison of a key condition as the
// expression builder writes it: "#0 = :0", "#1 BETWEEN :1 AND :2",
// "#1 < :1" and so on.
var keyCondition = regexp.MustCompile(`(#\d+) (=|<=|<|>=|>|BETWEEN) (:\d+)(?: AND (:\d+))?`)

func (f *fakeLog) Query(_ context.Context, in *dynamodb.QueryInput, _ ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.queries++
	f.asked = append(f.asked, aws.ToString(in.TableName)+"/"+aws.ToString(in.IndexName))
	str := func(av dbtypes.AttributeValue) string {
		s, _ := av.(*dbtypes.AttributeValueMemberS)
		if s == nil {
			return ""
		}
		return s.Value
	}
	query := fmt.Sprint(aws.ToString(in.TableName), aws.ToString(in.IndexName), aws.ToString(in.KeyConditionExpression), aws.ToBool(in.ScanIndexForward))
	for _, name := range slices.Sorted(maps.Keys(in.ExpressionAttributeValues)) {
		query += name + "=" + str(in.ExpressionAttributeValues[name])
	}
	found, ok := f.memo[query]
	if !ok {
		var err error
		if found, err = f.match(in); err != nil {
			return nil, err
		}
		if f.memo == nil {
			f.memo = map[string][]map[string]dbtypes.AttributeValue{}
		}
		f.memo[query] = found
	}
	start := 0
	if in.ExclusiveStartKey != nil {
		start, _ = strconv.Atoi(str(in.ExclusiveStartKey["offset"]))
	}
	found = found[start:]
	n := len(found)
	if in.Limit != nil {
		n = min(n, int(*in.Limit))
	}
	out := &dynamodb.QueryOutput{}
	if f.page > 0 && n > f.page {
		n = f.page
		out.LastEvaluatedKey = map[string]dbtypes.AttributeValue{"offset": &dbtypes.AttributeValueMemberS{Value: strconv.Itoa(start + n)}}
	}
	out.Items = found[:n]
	f.items += n
	return out, nil
}

// match is every item a Query's key condition matches, in order; the
// pages of one Query share it.
func (f *fakeLog) match(in *dynamodb.QueryInput) ([]map[string]dbtypes.AttributeValue, error) {
	if f.runItems == nil {
		if err := f.marshal(); err != nil {
			return nil, err
		}
	}
	items := f.rowItems
	switch table := aws.ToString(in.TableName); {
	case strings.HasSuffix(table, "-runs"):
		items = f.runItems
	case strings.HasSuffix(table, "-units"):
		items = f.unitItems
	}
	str := func(av dbtypes.AttributeValue) string {
		s, _ := av.(*dbtypes.AttributeValueMemberS)
		if s == nil {
			return ""
		}
		return s.Value
	}
	var found []map[string]dbtypes.AttributeValue
	for _, item := range items {
		match := true
		for _, m := range keyCondition.FindAllStringSubmatch(aws.ToString(in.KeyConditionExpression), -1) {
			attr, ok := item[in.ExpressionAttributeNames[m[1]]]
			v, lo := str(attr), str(in.ExpressionAttributeValues[m[3]])
			switch m[2] {
			case "=":
				match = match && ok && v == lo
			case "<":
				match = match && ok && v < lo
			case "<=":
				match = match && ok && v <= lo
			case ">":
				match = match && ok && v > lo
			case ">=":
				match = match && ok && v >= lo
			case "BETWEEN":
				match = match && ok && v >= lo && v <= str(in.ExpressionAttributeValues[m[4]])
			}
		}
		if match {
			found = append(found, item)
		}
	}
	slices.SortStableFunc(found, func(a, b map[string]dbtypes.AttributeValue) int {
		return cmp.Or(strings.Compare(str(a[tables.RunID]), str(b[tables.RunID])), strings.Compare(str(a[tables.SecretName]), str(b[tables.SecretName])))
	})
	if in.ScanIndexForward != nil && !*in.ScanIndexForward {
		slices.Reverse(found)
	}
	return found, nil
}

// storeOf is a Store on a fake run log of these runs, each complete run
// with one row, of a secret that is always ok, written before rows
// carried their change.
func storeOf(runs ...audit.RunEntry) (*Store, *fakeLog) {
	f := &fakeLog{rows: map[string][]fakeRow{}}
	for _, r := range runs {
		if r.Complete {
			r.CompleteKey = tables.CompleteValue // as the write side sets it
		}
		f.runs = append(f.runs, loggedRun{RunEntry: r})
		if r.Complete {
			f.rows[r.RunID] = []fakeRow{{Record: audit.Record{SecretName: "db", RunID: r.RunID, Status: audit.StatusOK}}}
		}
	}
	return &Store{DB: f, Table: "rotcheck-audit", RunsTable: "rotcheck-runs"}, f
}

// scheduled is a complete run the scheduler sent at at.
func scheduled(at time.Time) audit.RunEntry {
	e := manual(at)
	e.ScheduledTime = e.CheckedAt
	return e
}

// manual is a complete run invoked by hand at at.
func manual(at time.Time) audit.RunEntry {
	return audit.RunEntry{Month: tables.MonthOf(at), RunID: tables.NewRunID(at), CheckedAt: at.UTC().Format(time.RFC3339), Complete: true, Checked: 1}
}

// every is a scheduled run every period from first to last, both included.
func every(period time.Duration, first, last time.Time) []audit.RunEntry {
	var runs []audit.RunEntry
	for t := first; !t.After(last); t = t.Add(period) {
		runs = append(runs, scheduled(t))
	}
	return runs
}

func utc(month time.Month, day, hour, minute, second int) time.Time {
	return time.Date(2026, month, day, hour, minute, second, 0, time.UTC)
}

var (
	// created is when the test stack's schedule was created.
	created = utc(9, 29, 0, 0, 0)
	hourly  = Schedule{Expression: "rate(1 hour)", Timezone: "UTC", CreationDate: created}
	q4      = [2]time.Time{utc(10, 1, 0, 0, 0), time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)}
)

func hasLine(h History, s string) bool {
	return slices.ContainsFunc(h.Lines(), func(l string) bool { return strings.Contains(l, s) })
}

// Hourly runs from the deploy on 29 September, the schedule disabled from
// 30 September 20:00 to 4 October 20:00:55, runs again after, in the phase
// the re-enable gave them: the quarter starts with a gap, at the times its
// runs were due, and nothing says the control ran every time. (On main the
// history started at the first run in the period and saw no gap.)
func TestHistoryOutageAtTheStart(t *testing.T) {
	is := is.New(t)
	runs := append(every(time.Hour, utc(9, 29, 1, 0, 0), utc(9, 30, 20, 0, 0)),
		every(time.Hour, utc(10, 4, 21, 0, 55), utc(10, 7, 23, 0, 55))...)
	store, log := storeOf(runs...)
	now := utc(10, 8, 0, 0, 10)
	h, err := BuildHistory(context.Background(), store, "rotcheck", q4[0], q4[1], now, hourly)
	is.NoErr(err)
	is.Equal(h.Gaps, []Gap{{From: utc(10, 1, 0, 0, 0), To: utc(10, 4, 20, 0, 0), Missing: 93}}) // due on the hour, as before the outage
	is.Equal(h.Recorded, 3+3*24)                                                                // from 21:00:55 on the 4th
	is.Equal(h.Expected, 7*24)                                                                  // every hour of the week
	is.Equal(h.ControlStart, created)
	is.Equal(h.FirstComplete, utc(9, 29, 1, 0, 0))
	is.True(hasLine(h, "gap: 93 runs missing, due from 2026-10-01T00:00:00Z to 2026-10-04T20:00:00Z"))
	is.True(!hasLine(h, "ran every time"))
	is.Equal(log.queries, 1+1+4) // the first run ever, October's run log, the 4 days with a run
}

// The schedule disabled right after the deploy: no run before the outage.
// The schedule's creation date still starts the control, so the gap shows.
// Without it, the control starts at its first run, and the history says
// that an outage before it cannot be seen.
func TestHistoryOutageBeforeTheFirstRun(t *testing.T) {
	is := is.New(t)
	store, _ := storeOf(every(time.Hour, utc(10, 4, 21, 0, 55), utc(10, 7, 23, 0, 55))...)
	now := utc(10, 8, 0, 0, 10)
	h, err := BuildHistory(context.Background(), store, "rotcheck", q4[0], q4[1], now, hourly)
	is.NoErr(err)
	is.Equal(h.Gaps, []Gap{{From: utc(10, 1, 0, 0, 0), To: utc(10, 4, 20, 0, 0), Missing: 93}}) // in the phase of the creation
	is.True(hasLine(h, "the control started at 2026-09-29T00:00:00Z, when its schedule was created"))

	unknown := hourly
	unknown.CreationDate = time.Time{}
	h, err = BuildHistory(context.Background(), store, "rotcheck", q4[0], q4[1], now, unknown)
	is.NoErr(err)
	is.Equal(len(h.Gaps), 0)
	is.Equal(h.ControlStart, utc(10, 4, 21, 0, 55))
	is.True(hasLine(h, "the schedule's creation date is unknown: an outage before that run cannot be seen")) // said, not hidden
}

// An outage in the middle, after which a re-enable moved the runs to
// 20 minutes 30 seconds past the hour: the gap is reported at the times
// its runs were due, on the hour, not in the new phase.
func TestHistoryOutageInTheMiddle(t *testing.T) {
	is := is.New(t)
	runs := append(every(time.Hour, utc(9, 29, 1, 0, 0), utc(10, 2, 10, 0, 0)),
		every(time.Hour, utc(10, 3, 11, 20, 30), utc(10, 5, 23, 20, 30))...)
	store, _ := storeOf(runs...)
	h, err := BuildHistory(context.Background(), store, "rotcheck", q4[0], q4[1], utc(10, 6, 0, 0, 0), hourly)
	is.NoErr(err)
	is.Equal(h.Gaps, []Gap{{From: utc(10, 2, 11, 0, 0), To: utc(10, 3, 10, 0, 0), Missing: 24}})
	is.Equal(h.Expected, 5*24)
	is.Equal(h.Recorded, 5*24-24)
}

// The runs stop: the gap runs to the last fire old enough to judge, and
// the fire of two minutes ago is pending.
func TestHistoryOutageAtTheEnd(t *testing.T) {
	is := is.New(t)
	store, _ := storeOf(every(time.Hour, utc(9, 29, 1, 0, 0), utc(10, 6, 12, 0, 0))...)
	h, err := BuildHistory(context.Background(), store, "rotcheck", q4[0], q4[1], utc(10, 7, 0, 2, 0), hourly)
	is.NoErr(err)
	is.Equal(h.Gaps, []Gap{{From: utc(10, 6, 13, 0, 0), To: utc(10, 6, 23, 0, 0), Missing: 11}})
	is.Equal(h.Pending, 1) // the fire at midnight
	is.Equal(h.Expected, 6*24)
}

// Thirty seconds after the 12:00 fire, its run is in progress: pending,
// not missing. The grace is the function's timeout plus the schedule's
// flexible window; past it, the fire is missing.
func TestHistoryPendingFire(t *testing.T) {
	is := is.New(t)
	store, _ := storeOf(every(time.Hour, utc(10, 1, 1, 0, 0), utc(10, 1, 11, 0, 0))...)
	sched := Schedule{Expression: "rate(1 hour)", CreationDate: utc(10, 1, 0, 0, 0)}
	build := func(now time.Time, s Schedule) History {
		h, err := BuildHistory(context.Background(), store, "rotcheck", q4[0], q4[1], now, s)
		is.NoErr(err)
		return h
	}
	h := build(utc(10, 1, 12, 0, 30), sched)
	is.Equal(h.Pending, 1)
	is.Equal(len(h.Gaps), 0)
	is.Equal(h.Expected, 11)
	is.Equal(h.Recorded, 11)
	is.True(hasLine(h, "11 recorded (100.0%), 1 pending (due within the last 5m0s: it may still be running)"))
	is.True(hasLine(h, "gaps: none, the control ran every time it should have"))

	h = build(utc(10, 1, 12, 6, 0), sched) // past the 300 s timeout
	is.Equal(h.Pending, 0)
	is.Equal(h.Gaps, []Gap{{From: utc(10, 1, 12, 0, 0), To: utc(10, 1, 12, 0, 0), Missing: 1}})

	flexible := sched
	flexible.FlexibleWindow, flexible.Timeout = 15*time.Minute, time.Minute
	h = build(utc(10, 1, 12, 15, 0), flexible) // within 15 + 1 minutes
	is.Equal(h.Pending, 1)
	is.Equal(h.Grace, 16*time.Minute)
}

// No complete run ever: one line that says so, wrapping ErrNoRuns (exit
// status 2 in the command). Failed runs are not complete runs.
func TestHistoryNoRunEver(t *testing.T) {
	is := is.New(t)
	failed := scheduled(utc(10, 1, 1, 0, 0))
	failed.Complete = false
	for _, store := range []*Store{func() *Store { s, _ := storeOf(); return s }(), func() *Store { s, _ := storeOf(failed); return s }()} {
		h, err := BuildHistory(context.Background(), store, "rotcheck", q4[0], q4[1], utc(10, 2, 0, 0, 0), hourly)
		is.True(errors.Is(err, ErrNoRuns))
		is.Equal(len(h.Days), 1)                                                                  // the empty period, for a page to draw
		is.Equal(h.Lines(), []string{"the control has never completed a run for stack rotcheck"}) // and nothing else
		is.True(strings.HasPrefix(err.Error(), "the control has never completed a run for stack rotcheck"))
		is.True(!strings.Contains(err.Error(), "\n")) // one line
	}
}

// A redeploy that updates a rate() schedule restarts its count: the fires
// after it are a few seconds off the earlier ones' grid. Every hour still
// had its run, so that is no gap; a missing hour after it is one, due in
// the new phase.
func TestHistoryRedeployShiftsARateSchedule(t *testing.T) {
	is := is.New(t)
	from := utc(10, 1, 0, 0, 0)
	var runs []audit.RunEntry
	for h := range 12 {
		at := from.Add(time.Duration(h) * time.Hour)
		if h >= 6 {
			at = at.Add(2 * time.Second) // the redeploy took two seconds
		}
		if h != 9 {
			runs = append(runs, scheduled(at))
		}
	}
	store, _ := storeOf(runs...)
	sched := Schedule{Expression: "rate(1 hour)", CreationDate: from.Add(-time.Hour)}
	h, err := BuildHistory(context.Background(), store, "rotcheck", from, from.Add(12*time.Hour), from.Add(24*time.Hour), sched)
	is.NoErr(err)
	is.Equal(h.Expected, 12)
	is.Equal(h.Recorded, 11)
	is.Equal(h.Gaps, []Gap{{From: from.Add(9*time.Hour + 2*time.Second), To: from.Add(9*time.Hour + 2*time.Second), Missing: 1}})
}

// A cron() schedule at 09:00 in Berlin fires at 07:00 UTC in summer time
// and 08:00 UTC after the clocks go back on 25 October: every run is on
// time, one day is missing, at its own due time.
func TestHistoryCronAcrossDST(t *testing.T) {
	is := is.New(t)
	berlin, err := time.LoadLocation("Europe/Berlin")
	is.NoErr(err)
	var runs []audit.RunEntry
	for d := 20; d <= 31; d++ {
		if d != 27 {
			runs = append(runs, scheduled(time.Date(2026, 10, d, 9, 0, 0, 0, berlin)))
		}
	}
	store, _ := storeOf(runs...)
	sched := Schedule{Expression: "cron(0 9 * * ? *)", Timezone: "Europe/Berlin", CreationDate: utc(10, 1, 0, 0, 0)}
	h, err := BuildHistory(context.Background(), store, "rotcheck", utc(10, 20, 0, 0, 0), utc(11, 1, 0, 0, 0), utc(11, 2, 0, 0, 0), sched)
	is.NoErr(err)
	is.Equal(h.Expected, 12)
	is.Equal(h.Recorded, 11)
	is.Equal(h.Gaps, []Gap{{From: utc(10, 27, 8, 0, 0), To: utc(10, 27, 8, 0, 0), Missing: 1}}) // 09:00 in Berlin, winter time
}

// A failed run is counted, and is no recorded run; a manual run is
// counted apart and fills no expected run. Without a creation date the
// control starts at its first complete run.
func TestHistoryFailedAndManualRuns(t *testing.T) {
	is := is.New(t)
	from := utc(10, 1, 0, 0, 0)
	at := func(h int) time.Time { return from.Add(time.Duration(h)*time.Hour + 10*time.Minute) }
	failed := scheduled(at(5))
	failed.Complete, failed.Error = false, "list secrets: throttled"
	store, _ := storeOf(scheduled(at(2)), scheduled(at(3)), failed, scheduled(at(6)), manual(at(7).Add(5*time.Minute)), scheduled(at(9)))
	sched := Schedule{Expression: "rate(1 hour)"}
	h, err := BuildHistory(context.Background(), store, "rotcheck", from, from.Add(12*time.Hour), from.Add(24*time.Hour), sched)
	is.NoErr(err)
	is.Equal(h.ControlStart, at(2))
	is.Equal(h.Expected, 10) // 02:10 to 11:10
	is.Equal(h.Recorded, 4)
	is.Equal(h.Manual, 1)
	is.Equal(h.Failed, 1)
	is.Equal(h.Gaps, []Gap{
		{From: at(4), To: at(5), Missing: 2}, // 04:10 missing, 05:10 failed
		{From: at(7), To: at(8), Missing: 2}, // the manual run at 07:15 is no scheduled run
		{From: at(10), To: at(11), Missing: 2},
	})
	is.True(hasLine(h, "4 recorded (40.0%); 1 manual, 1 failed"))
}

// A period that ends before the control existed expects nothing and has
// no gap; the period in which it was created expects runs from then on.
func TestHistoryBeforeTheControlExisted(t *testing.T) {
	is := is.New(t)
	store, _ := storeOf(every(time.Hour, utc(9, 29, 1, 0, 0), utc(10, 1, 5, 0, 0))...)
	now := utc(10, 1, 5, 30, 0)
	h, err := BuildHistory(context.Background(), store, "rotcheck", utc(4, 1, 0, 0, 0), utc(7, 1, 0, 0, 0), now, hourly)
	is.NoErr(err)
	is.Equal(h.Expected, 0)
	is.Equal(len(h.Gaps), 0)
	is.True(hasLine(h, "no run is expected in the period: the control started at 2026-09-29T00:00:00Z, when its schedule was created"))
	is.True(hasLine(h, "gaps: none, the control did not exist yet"))

	h, err = BuildHistory(context.Background(), store, "rotcheck", utc(7, 1, 0, 0, 0), utc(10, 1, 0, 0, 0), now, hourly)
	is.NoErr(err)
	is.Equal(h.Expected, 23+24) // from 01:00 on the 29th: a schedule does not fire when it is created
	is.Equal(h.Recorded, h.Expected)
	is.True(hasLine(h, "runs are expected from then on"))
}

// A period that has not started holds no evidence: an error, not "the
// control ran every time".
func TestHistoryOfAPeriodNotStarted(t *testing.T) {
	is := is.New(t)
	store, _ := storeOf(every(time.Hour, utc(9, 29, 1, 0, 0), utc(10, 1, 5, 0, 0))...)
	from, to, err := Quarter("2027Q1")
	is.NoErr(err)
	_, err = BuildHistory(context.Background(), store, "rotcheck", from, to, utc(11, 30, 0, 0, 0), hourly)
	is.True(errors.Is(err, ErrNotStarted))
	is.Equal(err.Error(), "the period has not started: it starts at 2027-01-01T00:00:00Z, and it is 2026-11-30T00:00:00Z")
}

// A run dated in the future (sent with a scheduled time ahead of the
// clock) is never the latest run: the newest at or before now is, and the
// one skipped is named. Without such a run, the latest is one Query.
func TestLatestRunSkipsARunDatedInTheFuture(t *testing.T) {
	is := is.New(t)
	now := utc(10, 1, 12, 30, 0)
	runs := every(time.Hour, utc(10, 1, 1, 0, 0), utc(10, 1, 12, 0, 0))
	store, log := storeOf(runs...)
	l, err := store.LatestRun(context.Background(), now)
	is.NoErr(err)
	is.Equal(l.Run.RunID, tables.NewRunID(utc(10, 1, 12, 0, 0)))
	is.True(l.Ahead == nil)
	is.Equal(log.queries, 1)

	future := scheduled(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	store, log = storeOf(append(runs, future)...)
	l, err = store.LatestRun(context.Background(), now)
	is.NoErr(err)
	is.Equal(l.Run.RunID, tables.NewRunID(utc(10, 1, 12, 0, 0))) // not the run of 2030
	is.Equal(l.Ahead.RunID, future.RunID)                        // which is named
	is.Equal(log.queries, 2)

	store, _ = storeOf(future)
	l, err = store.LatestRun(context.Background(), now)
	is.True(errors.Is(err, ErrNoRuns)) // no run at or before now...
	is.Equal(l.Ahead.RunID, future.RunID)
}
