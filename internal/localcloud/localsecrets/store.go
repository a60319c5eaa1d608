// Package localsecrets is an in-memory AWS Secrets Manager for the local
// cloud. It speaks the service's real wire protocol (awsJson1_1: POST /,
// X-Amz-Target: secretsmanager.<Operation>, JSON bodies, timestamps as epoch
// seconds), so the real SDK client talks to it unchanged, and it stamps every
// date from an injected clock: the local cloud's clock, which can jump days
// ahead so that secrets go stale without waiting.
//
// It exists because the embedded emulator's Secrets Manager lacks tagging,
// rotation, version listing and restore, ignores ListSecrets filters, never
// sets LastRotatedDate and stamps dates with the real clock. Where this store
// still differs from AWS is listed in the project README.
//
// Shapes, error types and messages follow botocore's service model, AWS's API
// reference and, where AWS documents nothing, moto (which CI compares
// against). The package imports only the standard library and
// github.com/google/uuid: requests and responses are plain structs whose JSON
// tags match AWS's shapes, which keeps the wire format visible in one place
// (wire.go) instead of hidden behind the SDK's serializers.
package localsecrets

import (
	crand "crypto/rand"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"
)

// Staging labels that Secrets Manager itself moves.
const (
	stageCurrent  = "AWSCURRENT"
	stagePrevious = "AWSPREVIOUS"
)

// Service is Secrets Manager in every account and region: each (account,
// region) is a Store of its own, made on first use. The stores share one
// lock, so that a request in one region can write the replicas of its
// secrets into the others without two stores ever waiting on each other.
type Service struct {
	mu     sync.Mutex
	now    func() time.Time
	stores map[partition]*Store
}

// partition is where a secret lives.
type partition struct{ account, region string }

// NewService returns Secrets Manager with no secrets anywhere. now is the
// cloud clock (nil means time.Now), which every store reads.
func NewService(now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{now: now, stores: make(map[partition]*Store)}
}

// Store returns the store of an account in a region, making it empty on
// first use.
func (v *Service) Store(account, region string) *Store {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.store(account, region)
}

// store is Store for a caller that holds the lock.
func (v *Service) store(account, region string) *Store {
	p := partition{account, region}
	if s, ok := v.stores[p]; ok {
		return s
	}
	var seed [32]byte
	_, _ = crand.Read(seed[:]) // never fails since Go 1.24
	s := &Store{
		svc:     v,
		mu:      &v.mu,
		now:     v.now,
		region:  region,
		account: account,
		secrets: make(map[string]*secret),
		rng:     rand.New(rand.NewChaCha8(seed)),
	}
	v.stores[p] = s
	return s
}

// Store is an in-memory Secrets Manager for one account in one region. It is
// an http.Handler; every request runs under its service's mutex, so a Store
// is safe for concurrent use. The zero value is not usable: call New or
// Service.Store.
type Store struct {
	svc     *Service
	mu      *sync.Mutex // the service's
	now     func() time.Time
	region  string
	account string
	secrets map[string]*secret // by name, including secrets pending deletion
	// nextPurge is the earliest scheduled deletion still to become final.
	nextPurge time.Time
	// sorted caches each listing order of every secret, so that a page of
	// ListSecrets costs its own size, not a sort of every secret.
	sorted map[listOrder][]*secret
	// primaries names the secrets that have replicas (false: had), so
	// that a change reaches the replicas without looking at every secret.
	primaries map[string]bool
	rng       *rand.Rand // ChaCha8 seeded from crypto/rand: ARN suffixes, passwords
}

// secret is one secret and its versions.
type secret struct {
	arn         string
	name        string
	description string
	kmsKeyID    string
	tags        []tag
	versions    map[string]*version // by VersionId

	created      time.Time
	lastChanged  time.Time
	lastAccessed time.Time // a date: midnight UTC
	lastRotated  time.Time
	nextRotation time.Time
	deleted      time.Time // when DeleteSecret scheduled the deletion
	purgeAt      time.Time // when the scheduled deletion becomes final

	rotationEnabled bool
	rotationLambda  string
	rotationRules   *rotationRules

	owningService string    // set only through SetOwningService
	primaryRegion string    // set on a replica, or through SetPrimaryRegion
	replicas      []replica // on a primary: the regions it replicates to
}

// replica is one region a primary secret replicates to, as
// ReplicationStatus reports it.
type replica struct {
	region   string
	kmsKeyID string
	status   string // InSync or Failed
	message  string
}

// version is one version of a secret's value.
type version struct {
	id           string
	value        value
	stages       []string // none: deprecated
	created      time.Time
	lastAccessed time.Time // a date: midnight UTC
}

// value is a secret value: a string or binary, as the request gave it.
type value struct {
	str *string
	bin []byte
}

func (v value) empty() bool { return v.str == nil && v.bin == nil }

func (v value) equal(w value) bool {
	sameStr := (v.str == nil) == (w.str == nil) && (v.str == nil || *v.str == *w.str)
	return sameStr && string(v.bin) == string(w.bin)
}

// New returns an empty store of its own service, for one account in one
// region. now is the cloud clock (nil means time.Now); region and account
// go into ARNs.
func New(now func() time.Time, region, account string) *Store {
	return NewService(now).Store(account, region)
}

// SetOwningService marks the named secret as managed by another AWS service
// (for example "rds"), which the public API cannot do. It is a testing hook
// for the local cloud: the secret then reports OwningService and matches the
// owning-service filter.
func (s *Store) SetOwningService(name, service string) error {
	return s.update(name, func(sec *secret) { sec.owningService = service })
}

// SetPrimaryRegion makes the named secret look replicated from region
// without a primary there. It is a testing hook for the local cloud: the
// secret then reports PrimaryRegion and matches the primary-region filter.
func (s *Store) SetPrimaryRegion(name, region string) error {
	return s.update(name, func(sec *secret) { sec.primaryRegion = region })
}

func (s *Store) update(name string, change func(*secret)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.purge(s.now())
	sec, ok := s.secrets[name]
	if !ok {
		return fmt.Errorf("localsecrets: no secret named %q", name)
	}
	change(sec)
	return nil
}

// arnPrefix is every secret ARN of this store up to the name.
func (s *Store) arnPrefix() string {
	return fmt.Sprintf("arn:aws:secretsmanager:%s:%s:secret:", s.region, s.account)
}

// newARN returns an ARN for name with the six random characters Secrets
// Manager appends, so that a secret recreated under the same name gets a
// different ARN.
func (s *Store) newARN(name string) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	suffix := make([]byte, 6)
	for i := range suffix {
		suffix[i] = alphabet[s.rng.IntN(len(alphabet))]
	}
	return s.arnPrefix() + name + "-" + string(suffix)
}

// purge forgets secrets whose recovery window has passed on the cloud
// clock. It runs before every request, so it looks at the secrets only
// when the earliest scheduled deletion is due.
func (s *Store) purge(now time.Time) {
	if s.nextPurge.IsZero() || now.Before(s.nextPurge) {
		return
	}
	s.nextPurge = time.Time{}
	for name, sec := range s.secrets {
		switch {
		case sec.purgeAt.IsZero():
		case !now.Before(sec.purgeAt):
			delete(s.secrets, name)
			s.changed()
		case s.nextPurge.IsZero() || sec.purgeAt.Before(s.nextPurge):
			s.nextPurge = sec.purgeAt
		}
	}
}

// schedulePurge notes a deletion that becomes final at t.
func (s *Store) schedulePurge(t time.Time) {
	if s.nextPurge.IsZero() || t.Before(s.nextPurge) {
		s.nextPurge = t
	}
}

// changed forgets the sorted listings, after anything that may change
// which secrets there are or how they sort.
func (s *Store) changed() { clear(s.sorted) }

// find resolves a SecretId the ways AWS does: a name, a full ARN, or a
// partial ARN (the full ARN without the random suffix). A name with the
// suffix but no ARN prefix is not a secret ID, as in AWS.
func (s *Store) find(id string) (*secret, error) {
	if id == "" {
		return nil, errRequired("secretId")
	}
	if sec, ok := s.secrets[id]; ok {
		return sec, nil
	}
	if rest, ok := strings.CutPrefix(id, s.arnPrefix()); ok {
		// A full ARN ends in "-" and six random characters; a partial one
		// is the name alone.
		if i := len(rest) - 7; i > 0 && rest[i] == '-' {
			if sec, ok := s.secrets[rest[:i]]; ok && sec.arn == id {
				return sec, nil
			}
		}
		if sec, ok := s.secrets[rest]; ok {
			return sec, nil
		}
	}
	return nil, errNotFound()
}

// findLive is find for operations that AWS refuses on a secret scheduled
// for deletion.
func (s *Store) findLive(id string) (*secret, error) {
	sec, err := s.find(id)
	if err == nil && !sec.deleted.IsZero() {
		err = errInvalidRequest("You can't perform this operation on the secret because it was marked for deletion.")
	}
	return sec, err
}

// holder returns the version that carries stage, or nil.
func (sec *secret) holder(stage string) *version {
	for _, v := range sec.versions {
		if slices.Contains(v.stages, stage) {
			return v
		}
	}
	return nil
}

// detach takes stage off every version.
func (sec *secret) detach(stage string) {
	for _, v := range sec.versions {
		v.stages = slices.DeleteFunc(v.stages, func(s string) bool { return s == stage })
	}
}

// attach puts stages on v, taking each off the version that had it. As in
// Secrets Manager, moving AWSCURRENT moves AWSPREVIOUS to the version that
// was current.
func (sec *secret) attach(v *version, stages []string) {
	wasCurrent := sec.holder(stageCurrent)
	for _, st := range stages {
		sec.detach(st)
		if !slices.Contains(v.stages, st) {
			v.stages = append(v.stages, st)
		}
	}
	if slices.Contains(stages, stageCurrent) && wasCurrent != nil && wasCurrent != v {
		sec.detach(stagePrevious)
		wasCurrent.stages = append(wasCurrent.stages, stagePrevious)
	}
}

// putValue adds a version with id token holding val and the given stages,
// and reports whether it did. A token that already names a version with the
// same value is a retried request: that version comes back unchanged, and no
// date moves. The same token with another value is an error, because
// versions are immutable.
func (sec *secret) putValue(token string, val value, stages []string, now time.Time) (*version, bool, error) {
	if v, ok := sec.versions[token]; ok {
		if v.value.equal(val) {
			return v, false, nil
		}
		return nil, false, errExists(fmt.Sprintf(
			"You can't use ClientRequestToken %s because that value is already in use for a version of secret %s.",
			token, sec.arn))
	}
	if len(sec.versions) == 0 && !slices.Contains(stages, stageCurrent) {
		stages = append(stages, stageCurrent) // the first version is always current
	}
	v := &version{id: token, value: val, created: now}
	sec.versions[token] = v
	sec.attach(v, stages)
	sec.lastChanged = now
	return v, true, nil
}

// stagesByVersion maps each version that has a staging label to its labels;
// versions without labels are deprecated and AWS leaves them out.
func (sec *secret) stagesByVersion() map[string][]string {
	m := make(map[string][]string)
	for id, v := range sec.versions {
		if len(v.stages) > 0 {
			m[id] = slices.Clone(v.stages)
		}
	}
	if len(m) == 0 {
		return nil
	}
	return m
}

// entry renders the secret as DescribeSecret and ListSecrets show it,
// leaving out what is unset, as AWS does.
func (sec *secret) entry() secretEntry {
	return secretEntry{
		ARN:               sec.arn,
		Name:              sec.name,
		Description:       sec.description,
		KmsKeyID:          sec.kmsKeyID,
		RotationEnabled:   sec.rotationEnabled,
		RotationLambdaARN: sec.rotationLambda,
		RotationRules:     sec.rotationRules,
		LastRotatedDate:   stamp(sec.lastRotated),
		LastChangedDate:   stamp(sec.lastChanged),
		LastAccessedDate:  stamp(sec.lastAccessed),
		DeletedDate:       stamp(sec.deleted),
		NextRotationDate:  stamp(sec.nextRotation),
		Tags:              slices.Clone(sec.tags),
		OwningService:     sec.owningService,
		CreatedDate:       stamp(sec.created),
		PrimaryRegion:     sec.primaryRegion,
	}
}

// midnight is the UTC date of t: AWS records LastAccessedDate as a date.
func midnight(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}
