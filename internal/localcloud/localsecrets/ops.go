package localsecrets

import (
	"fmt"
	"regexp"
	"slices"
	"time"

	"github.com/google/uuid"
)

// nameSymbols are the characters besides ASCII letters and digits that
// CreateSecret allows in a name, as AWS documents them. A "!" appears only
// in the names of secrets that other AWS services create and manage (such
// as rds!cluster-...); a name given to CreateSecret cannot have one.
const nameSymbols = "/_+=.@-"

// namePattern is what AWS allows in a secret name.
var namePattern = regexp.MustCompile(`^[A-Za-z0-9` + regexp.QuoteMeta(nameSymbols) + `]+$`)

// errInvalidName is the error for a name outside namePattern. It lists
// the characters the pattern allows. (AWS's own message, shared with its
// SecretId check, also lists "!", which only service-managed names have.)
func errInvalidName() error {
	return &apiError{"ValidationException", "Invalid name. Must be a valid name containing alphanumeric characters, or any of the following: " +
		nameSymbols + " (a ! marks a secret that another AWS service manages; only that service can create one)"}
}

// valueInput holds the value fields that several requests share.
type valueInput struct {
	ClientRequestToken string  `json:"ClientRequestToken"`
	SecretString       *string `json:"SecretString"`
	SecretBinary       []byte  `json:"SecretBinary"` // base64 on the wire; encoding/json decodes it
}

// value checks the fields and returns the value and the new version's id:
// the client's token, or a fresh UUID when a raw request sent none.
func (in valueInput) value() (value, string, error) {
	if in.SecretString != nil && in.SecretBinary != nil {
		return value{}, "", errInvalidParameter("You can't specify both a binary secret value and a string secret value in the same secret.")
	}
	token := in.ClientRequestToken
	switch {
	case token == "":
		token = uuid.NewString()
	case len(token) < 32:
		return value{}, "", errValidation(token, "clientRequestToken", "have length greater than or equal to 32")
	case len(token) > 64:
		return value{}, "", errValidation(token, "clientRequestToken", "have length less than or equal to 64")
	}
	return value{str: in.SecretString, bin: in.SecretBinary}, token, nil
}

type createSecretInput struct {
	valueInput
	Name        string `json:"Name"`
	Description string `json:"Description"`
	KmsKeyID    string `json:"KmsKeyId"`
	Tags        []tag  `json:"Tags"`

	AddReplicaRegions           []replicaRegion `json:"AddReplicaRegions"`
	ForceOverwriteReplicaSecret bool            `json:"ForceOverwriteReplicaSecret"`
}

func (s *Store) createSecret(in *createSecretInput, now time.Time) (any, error) {
	switch {
	case in.Name == "":
		return nil, errRequired("name")
	case len(in.Name) > 512:
		return nil, errValidation(in.Name, "name", "have length less than or equal to 512")
	case !namePattern.MatchString(in.Name):
		return nil, errInvalidName()
	}
	if err := s.checkRegions(in.AddReplicaRegions); err != nil {
		return nil, err
	}
	val, token, err := in.value()
	if err != nil {
		return nil, err
	}
	if old, ok := s.secrets[in.Name]; ok {
		if !old.deleted.IsZero() {
			return nil, errInvalidRequest("You can't create this secret because a secret with this name is already scheduled for deletion.")
		}
		// A retried CreateSecret (same token, same value) succeeds again.
		if v, ok := old.versions[token]; ok && v.value.equal(val) {
			return secretRef{ARN: old.arn, Name: old.name, VersionID: v.id}, nil
		}
		return nil, errExists(fmt.Sprintf("The operation failed because the secret %s already exists.", in.Name))
	}
	sec := &secret{
		arn:         s.newARN(in.Name),
		name:        in.Name,
		description: in.Description,
		kmsKeyID:    in.KmsKeyID,
		tags:        mergeTags(nil, in.Tags),
		versions:    make(map[string]*version),
		created:     now,
		lastChanged: now,
	}
	s.secrets[in.Name] = sec
	out := secretRef{ARN: sec.arn, Name: sec.name}
	if !val.empty() {
		v, _, err := sec.putValue(token, val, []string{stageCurrent}, now)
		if err != nil {
			return nil, err
		}
		out.VersionID = v.id
	}
	if len(in.AddReplicaRegions) > 0 {
		s.replicate(sec, in.AddReplicaRegions, in.ForceOverwriteReplicaSecret, now)
		out.ReplicationStatus = s.replicationStatus(sec)
	}
	return out, nil
}

type secretIDInput struct {
	SecretID string `json:"SecretId"`
}

func (s *Store) describeSecret(in *secretIDInput, _ time.Time) (any, error) {
	sec, err := s.find(in.SecretID)
	if err != nil {
		return nil, err
	}
	e := sec.entry()
	e.VersionIdsToStages = sec.stagesByVersion()
	if len(sec.replicas) > 0 {
		e.ReplicationStatus = s.replicationStatus(sec)
	}
	return e, nil
}

type getSecretValueInput struct {
	SecretID     string `json:"SecretId"`
	VersionID    string `json:"VersionId"`
	VersionStage string `json:"VersionStage"`
}

type getSecretValueOutput struct {
	ARN           string   `json:"ARN"`
	Name          string   `json:"Name"`
	VersionID     string   `json:"VersionId"`
	SecretString  *string  `json:"SecretString,omitempty"`
	SecretBinary  []byte   `json:"SecretBinary,omitempty"`
	VersionStages []string `json:"VersionStages,omitempty"`
	CreatedDate   *epoch   `json:"CreatedDate,omitempty"`
}

func (s *Store) getSecretValue(in *getSecretValueInput, now time.Time) (any, error) {
	sec, err := s.findLive(in.SecretID)
	if err != nil {
		return nil, err
	}
	var v *version
	switch {
	case in.VersionID != "":
		v = sec.versions[in.VersionID]
		if v == nil {
			return nil, &apiError{"ResourceNotFoundException", "Secrets Manager can't find the specified secret value for VersionId: " + in.VersionID}
		}
		if in.VersionStage != "" && !slices.Contains(v.stages, in.VersionStage) {
			return nil, errInvalidRequest("You provided a VersionStage that is not associated to the provided VersionId.")
		}
	default:
		stage := in.VersionStage
		if stage == "" {
			stage = stageCurrent
		}
		if v = sec.holder(stage); v == nil {
			return nil, &apiError{"ResourceNotFoundException", "Secrets Manager can't find the specified secret value for staging label: " + stage}
		}
	}
	// Reading is no change: LastChangedDate stays, only the access date moves.
	sec.lastAccessed = midnight(now)
	v.lastAccessed = midnight(now)
	return getSecretValueOutput{
		ARN:           sec.arn,
		Name:          sec.name,
		VersionID:     v.id,
		SecretString:  v.value.str,
		SecretBinary:  v.value.bin,
		VersionStages: slices.Clone(v.stages),
		CreatedDate:   stamp(v.created),
	}, nil
}

type putSecretValueInput struct {
	valueInput
	SecretID      string   `json:"SecretId"`
	VersionStages []string `json:"VersionStages"`
}

func (s *Store) putSecretValue(in *putSecretValueInput, now time.Time) (any, error) {
	sec, err := s.findLive(in.SecretID)
	if err != nil {
		return nil, err
	}
	val, token, err := in.value()
	if err != nil {
		return nil, err
	}
	if val.empty() {
		return nil, errInvalidRequest("You must provide either SecretString or SecretBinary.")
	}
	stages := in.VersionStages
	if len(stages) == 0 {
		stages = []string{stageCurrent}
	}
	v, _, err := sec.putValue(token, val, stages, now)
	if err != nil {
		return nil, err
	}
	return secretRef{ARN: sec.arn, Name: sec.name, VersionID: v.id, VersionStages: slices.Clone(v.stages)}, nil
}

type updateSecretInput struct {
	valueInput
	SecretID    string  `json:"SecretId"`
	Description *string `json:"Description"`
	KmsKeyID    *string `json:"KmsKeyId"`
}

func (s *Store) updateSecret(in *updateSecretInput, now time.Time) (any, error) {
	sec, err := s.findLive(in.SecretID)
	if err != nil {
		return nil, err
	}
	val, token, err := in.value()
	if err != nil {
		return nil, err
	}
	out := secretRef{ARN: sec.arn, Name: sec.name}
	if !val.empty() {
		v, _, err := sec.putValue(token, val, []string{stageCurrent}, now)
		if err != nil {
			return nil, err
		}
		out.VersionID = v.id
	}
	// A new KMS key alone makes no version: AWS re-encrypts the labelled
	// versions in place.
	if in.Description != nil {
		sec.description = *in.Description
		sec.lastChanged = now
	}
	if in.KmsKeyID != nil {
		sec.kmsKeyID = *in.KmsKeyID
		sec.lastChanged = now
	}
	return out, nil
}

type deleteSecretInput struct {
	SecretID                   string `json:"SecretId"`
	RecoveryWindowInDays       *int64 `json:"RecoveryWindowInDays"`
	ForceDeleteWithoutRecovery bool   `json:"ForceDeleteWithoutRecovery"`
}

func (s *Store) deleteSecret(in *deleteSecretInput, now time.Time) (any, error) {
	days := int64(30)
	if w := in.RecoveryWindowInDays; w != nil {
		if *w < 7 || *w > 30 {
			return nil, errInvalidParameter("The RecoveryWindowInDays value must be between 7 and 30 days (inclusive).")
		}
		if in.ForceDeleteWithoutRecovery {
			return nil, errInvalidParameter("You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays.")
		}
		days = *w
	}
	sec, err := s.find(in.SecretID)
	if err == nil && len(sec.replicas) > 0 {
		return nil, errInvalidRequest("You can't delete secret " + sec.name + " while it has replicas: remove them first with RemoveRegionsFromReplication.")
	}
	if in.ForceDeleteWithoutRecovery {
		if err != nil {
			// AWS documents that forcing the deletion of a secret that does
			// not exist is no error.
			return secretRef{ARN: s.newARN(in.SecretID), Name: in.SecretID, DeletionDate: stamp(now)}, nil
		}
		delete(s.secrets, sec.name)
		return secretRef{ARN: sec.arn, Name: sec.name, DeletionDate: stamp(now)}, nil
	}
	if err != nil {
		return nil, err
	}
	if !sec.deleted.IsZero() {
		return nil, errInvalidRequest("You tried to perform the operation on a secret that's currently marked deleted.")
	}
	sec.deleted = now
	sec.purgeAt = now.Add(time.Duration(days) * 24 * time.Hour)
	sec.lastChanged = now
	s.schedulePurge(sec.purgeAt)
	return secretRef{ARN: sec.arn, Name: sec.name, DeletionDate: stamp(sec.purgeAt)}, nil
}

func (s *Store) restoreSecret(in *secretIDInput, now time.Time) (any, error) {
	sec, err := s.find(in.SecretID)
	if err != nil {
		return nil, err
	}
	if !sec.deleted.IsZero() {
		sec.deleted, sec.purgeAt = time.Time{}, time.Time{}
		sec.lastChanged = now
	}
	return secretRef{ARN: sec.arn, Name: sec.name}, nil
}

type tagResourceInput struct {
	SecretID string `json:"SecretId"`
	Tags     []tag  `json:"Tags"`
}

func (s *Store) tagResource(in *tagResourceInput, now time.Time) (any, error) {
	sec, err := s.find(in.SecretID)
	if err != nil {
		return nil, err
	}
	if in.Tags == nil {
		return nil, errRequired("tags")
	}
	sec.tags = mergeTags(sec.tags, in.Tags)
	sec.lastChanged = now
	return struct{}{}, nil
}

type untagResourceInput struct {
	SecretID string   `json:"SecretId"`
	TagKeys  []string `json:"TagKeys"`
}

func (s *Store) untagResource(in *untagResourceInput, now time.Time) (any, error) {
	sec, err := s.find(in.SecretID)
	if err != nil {
		return nil, err
	}
	if in.TagKeys == nil {
		return nil, errRequired("tagKeys")
	}
	sec.tags = slices.DeleteFunc(sec.tags, func(t tag) bool { return slices.Contains(in.TagKeys, t.Key) })
	sec.lastChanged = now
	return struct{}{}, nil
}

// mergeTags sets each tag in add on tags, replacing the value of a key that
// is already there and keeping the order keys were first added in.
func mergeTags(tags, add []tag) []tag {
	for _, t := range add {
		if i := slices.IndexFunc(tags, func(old tag) bool { return old.Key == t.Key }); i >= 0 {
			tags[i] = t
		} else {
			tags = append(tags, t)
		}
	}
	return tags
}
