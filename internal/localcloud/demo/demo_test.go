package demo

import (
	"context"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/matryer/is"

	"github.com/rotation-audit/rotation-audit/internal/clockapi"
)

// The population the README describes: 40 secrets of five services, all
// managed but one, one owned by RDS.
func TestPlans(t *testing.T) {
	is := is.New(t)
	ps := plans()
	is.Equal(len(ps), 40)
	names, managed, services := map[string]bool{}, 0, map[string]int{}
	var owned []string
	for _, p := range ps {
		is.True(!names[p.name]) // each name once: CreateSecret would refuse a second
		names[p.name] = true
		if p.managed {
			managed++
		}
		if p.owner != "" {
			owned = append(owned, p.name+" by "+p.owner)
		}
		services[service(p.name)]++
	}
	is.Equal(managed, 39)                                      // all but sandbox-experiment
	is.Equal(owned, []string{"reports-cluster-master by rds"}) // one secret RDS manages
	for _, svc := range []string{"payments", "orders", "search", "auth", "billing"} {
		is.True(services[svc] >= 7) // seven kinds of secret for each service
	}
}

func TestPlanOn(t *testing.T) {
	byName := map[string]plan{}
	for _, p := range plans() {
		byName[p.name] = p
	}
	tests := []struct {
		plan string
		day  int
		want step
	}{
		{"orders-db-password", 3, step{rotate: true, read: true}},   // every 20 days from day 3, read daily
		{"orders-db-password", 23, step{rotate: true, read: true}},  // 20 days later
		{"orders-db-password", 4, step{read: true}},                 // between rotations
		{"orders-db-password", -17, step{rotate: true, read: true}}, // before the quarter too
		{"payments-partner-token", 30, step{read: true}},            // read monthly, never rotated
		{"payments-partner-token", 31, step{}},                      //
		{"orders-queue-credentials", 29, step{rotate: true, read: true}},
		{"orders-queue-credentials", 36, step{read: true}}, // its rotation has failed since day 30
		{"payments-hsm-pin", 40, step{tag: true}},          // edited by hand, never rotated
		{"search-old-index-key", 45, step{delete: true}},   // deleted, and only that
		{"search-old-index-key", 46, step{}},               // gone
		{"sandbox-experiment", 0, step{}},                  // nothing ever happens to it
	}
	for _, tt := range tests {
		is := is.New(t)
		p, ok := byName[tt.plan]
		is.True(ok) // a plan of the population
		is.Equal(p.on(tt.day), tt.want)
	}
}

func TestService(t *testing.T) {
	is := is.New(t)
	is.Equal(service("payments-db-password"), "payments")
	is.Equal(service("sandbox"), "sandbox") // one word: itself
}

// fakeSecrets records the calls made, by operation and secret.
type fakeSecrets struct {
	calls []string
	tags  map[string]string // the tags each secret was created with
	err   error             // every call fails with it, if set
}

func (f *fakeSecrets) record(op string, id *string) error {
	f.calls = append(f.calls, op+" "+aws.ToString(id))
	return f.err
}

func (f *fakeSecrets) CreateSecret(_ context.Context, in *secretsmanager.CreateSecretInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.CreateSecretOutput, error) {
	if f.tags == nil {
		f.tags = map[string]string{}
	}
	for _, tag := range in.Tags {
		f.tags[aws.ToString(in.Name)] += aws.ToString(tag.Key) + "=" + aws.ToString(tag.Value) + " "
	}
	return &secretsmanager.CreateSecretOutput{}, f.record("create", in.Name)
}

func (f *fakeSecrets) DeleteSecret(_ context.Context, in *secretsmanager.DeleteSecretInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.DeleteSecretOutput, error) {
	return &secretsmanager.DeleteSecretOutput{}, f.record("delete", in.SecretId)
}

func (f *fakeSecrets) TagResource(_ context.Context, in *secretsmanager.TagResourceInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.TagResourceOutput, error) {
	return &secretsmanager.TagResourceOutput{}, f.record("tag", in.SecretId)
}

func (f *fakeSecrets) RotateSecret(_ context.Context, in *secretsmanager.RotateSecretInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.RotateSecretOutput, error) {
	op := "rotate"
	if in.RotationRules != nil {
		op += " with rules"
	}
	return &secretsmanager.RotateSecretOutput{}, f.record(op, in.SecretId)
}

func (f *fakeSecrets) GetSecretValue(_ context.Context, in *secretsmanager.GetSecretValueInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	return &secretsmanager.GetSecretValueOutput{}, f.record("read", in.SecretId)
}

// fakeOwners records the owning services set.
type fakeOwners map[string]string

func (f fakeOwners) SetOwningService(name, service string) error {
	f[name] = service
	return nil
}

// A day of the plans makes their calls, then moves the clock a day,
// firing the day's runs once the stack exists.
func TestSimLive(t *testing.T) {
	is := is.New(t)
	sm := &fakeSecrets{}
	var moves []clockapi.ClockMove
	s := &sim{
		sm: sm, owners: fakeOwners{},
		plans: []plan{
			{name: "a", managed: true, every: 7, offset: 2, rules: true, readEvery: 1},
			{name: "b", managed: true, tagDay: 2, every: 2},
			{name: "c", managed: true, deleteDay: 2, readEvery: 1},
		},
		moveClock: func(_ context.Context, m clockapi.ClockMove) (clockapi.ClockMoved, error) {
			moves = append(moves, m)
			return clockapi.ClockMoved{Fired: 24, Failed: 1}, nil
		},
	}
	is.NoErr(s.live(context.Background(), 1, false))
	is.NoErr(s.live(context.Background(), 2, true))
	is.Equal(sm.calls, []string{
		"read a", "read c", // day 1
		"rotate with rules a", "read a", "tag b", "rotate b", "delete c", // day 2: in each plan's order
	})
	is.Equal(moves, []clockapi.ClockMove{{Advance: "24h", SkipFires: true}, {Advance: "24h"}}) // before the stack, the runs are skipped
	is.Equal(s.fired, 48)
	is.Equal(s.failed, 2)

	sm.err = errors.New("boom")
	err := s.live(context.Background(), 3, true)
	is.Equal(err.Error(), "day 3, a: boom") // says which day and secret
}

// Every secret is created tagged as planned, and RDS's is owned by RDS.
func TestSimCreate(t *testing.T) {
	is := is.New(t)
	sm, own := &fakeSecrets{}, fakeOwners{}
	s := &sim{sm: sm, owners: own, plans: plans()}
	is.NoErr(s.create(context.Background()))
	is.Equal(len(sm.calls), 40)
	is.Equal(sm.tags["payments-db-password"], "Managed=true Service=payments ")
	is.Equal(sm.tags["sandbox-experiment"], "Managed=false Service=sandbox ") // the one the audit must ignore
	is.Equal(own, fakeOwners{"reports-cluster-master": "rds"})
}
