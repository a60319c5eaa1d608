package localsecrets

import (
	"fmt"
	"regexp"
	"strconv"
	"time"
)

type rotateSecretInput struct {
	SecretID           string         `json:"SecretId"`
	ClientRequestToken string         `json:"ClientRequestToken"`
	RotationLambdaARN  *string        `json:"RotationLambdaARN"`
	RotationRules      *rotationRules `json:"RotationRules"`
	RotateImmediately  *bool          `json:"RotateImmediately"`
}

// Rotation schedules. A rate() schedule gives a NextRotationDate; a cron()
// schedule is stored but not evaluated, so it gives none.
var (
	ratePattern = regexp.MustCompile(`^rate\((\d+) (hours?|days?)\)$`)
	cronPattern = regexp.MustCompile(`^cron\(.+\)$`)
)

// interval is the time between rotations that rules ask for, or 0 when it
// cannot be told (no rules, or a cron() schedule).
func (r *rotationRules) interval() time.Duration {
	switch {
	case r == nil:
		return 0
	case r.AutomaticallyAfterDays > 0:
		return time.Duration(r.AutomaticallyAfterDays) * 24 * time.Hour
	}
	m := ratePattern.FindStringSubmatch(r.ScheduleExpression)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1]) // \d+ always parses, barring absurd lengths
	if m[2][0] == 'h' {
		return time.Duration(n) * time.Hour
	}
	return time.Duration(n) * 24 * time.Hour
}

func (r *rotationRules) validate() error {
	switch {
	case r == nil:
		return nil
	case r.AutomaticallyAfterDays != 0 && r.ScheduleExpression != "":
		return errInvalidParameter("You can't specify both AutomaticallyAfterDays and ScheduleExpression in RotationRules.")
	case r.AutomaticallyAfterDays != 0 && (r.AutomaticallyAfterDays < 1 || r.AutomaticallyAfterDays > 1000):
		return errInvalidParameter("RotationRules.AutomaticallyAfterDays must be within 1-1000.")
	case r.ScheduleExpression != "" && !ratePattern.MatchString(r.ScheduleExpression) && !cronPattern.MatchString(r.ScheduleExpression):
		return errInvalidParameter("Invalid ScheduleExpression: " + r.ScheduleExpression)
	}
	return nil
}

// rotateSecret rotates without a Lambda function: the new version gets a
// random value and becomes AWSCURRENT at once, as if the function's four
// steps had all succeeded.
func (s *Store) rotateSecret(in *rotateSecretInput, now time.Time) (any, error) {
	sec, err := s.findLive(in.SecretID)
	if err != nil {
		return nil, err
	}
	if err := in.RotationRules.validate(); err != nil {
		return nil, err
	}
	_, token, err := valueInput{ClientRequestToken: in.ClientRequestToken}.value()
	if err != nil {
		return nil, err
	}
	if in.RotationLambdaARN != nil {
		sec.rotationLambda = *in.RotationLambdaARN
	}
	if in.RotationRules != nil {
		rules := *in.RotationRules
		sec.rotationRules = &rules
	}
	sec.rotationEnabled = true
	sec.lastChanged = now
	out := secretRef{ARN: sec.arn, Name: sec.name}
	if in.RotateImmediately == nil || *in.RotateImmediately {
		v, retried := sec.versions[token]
		if !retried {
			pw := s.password(32, passwordClasses(passwordOptions{}), true)
			if v, _, err = sec.putValue(token, value{str: &pw}, []string{stageCurrent}, now); err != nil {
				return nil, err
			}
			sec.lastRotated = now
		}
		out.VersionID = v.id
	}
	// The schedule counts from the last rotation, or from now when the
	// secret has never rotated.
	base := sec.lastRotated
	if base.IsZero() {
		base = now
	}
	sec.nextRotation = time.Time{}
	if d := sec.rotationRules.interval(); d > 0 {
		sec.nextRotation = base.Add(d)
	}
	return out, nil
}

type updateSecretVersionStageInput struct {
	SecretID            string `json:"SecretId"`
	VersionStage        string `json:"VersionStage"`
	RemoveFromVersionID string `json:"RemoveFromVersionId"`
	MoveToVersionID     string `json:"MoveToVersionId"`
}

func (s *Store) updateSecretVersionStage(in *updateSecretVersionStageInput, now time.Time) (any, error) {
	sec, err := s.findLive(in.SecretID)
	if err != nil {
		return nil, err
	}
	if in.VersionStage == "" {
		return nil, errRequired("versionStage")
	}
	from, to := sec.versions[in.RemoveFromVersionID], sec.versions[in.MoveToVersionID]
	holder := sec.holder(in.VersionStage)
	switch {
	case in.RemoveFromVersionID != "" && from == nil:
		return nil, errInvalidParameter("Not a valid version: " + in.RemoveFromVersionID)
	case in.MoveToVersionID != "" && to == nil:
		return nil, errInvalidParameter("Not a valid version: " + in.MoveToVersionID)
	case from != nil && holder != from:
		return nil, errInvalidParameter(fmt.Sprintf("Version stage %s not found in version %s", in.VersionStage, from.id))
	case to != nil && holder != nil && holder != to && from == nil:
		return nil, errInvalidParameter(fmt.Sprintf(
			"The parameter RemoveFromVersionId can't be empty. Staging label %s is currently attached to version %s, so you must explicitly reference that version in RemoveFromVersionId.",
			in.VersionStage, holder.id))
	case in.VersionStage == stageCurrent && to == nil:
		return nil, errInvalidParameter("You can only move staging label AWSCURRENT to a different secret version. It can't be completely removed.")
	}
	if to != nil {
		sec.attach(to, []string{in.VersionStage})
	} else if from != nil {
		sec.detach(in.VersionStage)
	}
	sec.lastChanged = now
	return secretRef{ARN: sec.arn, Name: sec.name}, nil
}
