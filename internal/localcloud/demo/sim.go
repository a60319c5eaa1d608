package demo

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/rotation-audit/rotation-audit/internal/clockapi"
)

// secretsAPI is the part of the Secrets Manager client the plans use.
type secretsAPI interface {
	CreateSecret(ctx context.Context, in *secretsmanager.CreateSecretInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.CreateSecretOutput, error)
	DeleteSecret(ctx context.Context, in *secretsmanager.DeleteSecretInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.DeleteSecretOutput, error)
	TagResource(ctx context.Context, in *secretsmanager.TagResourceInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.TagResourceOutput, error)
	RotateSecret(ctx context.Context, in *secretsmanager.RotateSecretInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.RotateSecretOutput, error)
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

var _ secretsAPI = (*secretsmanager.Client)(nil)

// owners sets a secret's owning service, which the public API cannot: the
// embedded cloud's Secrets Manager store.
type owners interface {
	SetOwningService(name, service string) error
}

// sim carries out the plans on a cloud.
type sim struct {
	sm        secretsAPI
	owners    owners
	moveClock func(ctx context.Context, m clockapi.ClockMove) (clockapi.ClockMoved, error)
	plans     []plan
	fired     int // scheduled runs so far
	failed    int // of which failed
}

// create creates every secret of the plans, tagged as planned.
func (s *sim) create(ctx context.Context) error {
	for _, p := range s.plans {
		managed := "true"
		if !p.managed {
			managed = "false"
		}
		if _, err := s.sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
			Name: aws.String(p.name), SecretString: aws.String("initial value of " + p.name),
			Tags: []smtypes.Tag{{Key: aws.String("Managed"), Value: aws.String(managed)}, {Key: aws.String("Service"), Value: aws.String(service(p.name))}},
		}); err != nil {
			return fmt.Errorf("create %s: %w", p.name, err)
		}
		if p.owner != "" {
			if err := s.owners.SetOwningService(p.name, p.owner); err != nil {
				return err
			}
		}
	}
	return nil
}

// live carries out one day of the plans, then moves the clock a day on:
// firing every hourly run of it, or, before the stack exists, skipping.
func (s *sim) live(ctx context.Context, day int, fire bool) error {
	for _, p := range s.plans {
		if err := s.act(ctx, p, day); err != nil {
			return fmt.Errorf("day %d, %s: %w", day, p.name, err)
		}
	}
	moved, err := s.moveClock(ctx, clockapi.ClockMove{Advance: "24h", SkipFires: !fire})
	if err != nil {
		return err
	}
	s.fired += moved.Fired
	s.failed += moved.Failed
	return nil
}

// act does what a plan says for one day.
func (s *sim) act(ctx context.Context, p plan, day int) error {
	do := p.on(day)
	id := aws.String(p.name)
	if do.delete {
		_, err := s.sm.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: id, ForceDeleteWithoutRecovery: aws.Bool(true)})
		return err
	}
	if do.tag {
		if _, err := s.sm.TagResource(ctx, &secretsmanager.TagResourceInput{SecretId: id,
			Tags: []smtypes.Tag{{Key: aws.String("Owner"), Value: aws.String("platform-team")}}}); err != nil {
			return err
		}
	}
	if do.rotate {
		in := &secretsmanager.RotateSecretInput{SecretId: id}
		if p.rules {
			in.RotationRules = &smtypes.RotationRulesType{AutomaticallyAfterDays: aws.Int64(int64(p.every))}
		}
		if _, err := s.sm.RotateSecret(ctx, in); err != nil {
			return err
		}
	}
	if do.read {
		if _, err := s.sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: id}); err != nil {
			return err
		}
	}
	return nil
}
