package localsecrets

import (
	"encoding/json"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Replication, as AWS does it: a primary secret copies its value, versions,
// tags, description and rotation settings to a replica of the same name in
// another region of the same account, whose ARN differs only in the region.
// The replica reports PrimaryRegion and refuses changes; every change to the
// primary reaches its replicas before the request that made it returns (AWS
// takes a moment; nothing here observes the difference).

// Replication statuses, as AWS names them.
const (
	statusInSync = "InSync"
	statusFailed = "Failed"
)

// regionPattern is what a region name looks like (us-east-1, eu-west-1,
// us-gov-west-1).
var regionPattern = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-\d+$`)

// replicaRegion is AWS's ReplicaRegionType shape.
type replicaRegion struct {
	Region   string `json:"Region"`
	KmsKeyID string `json:"KmsKeyId"`
}

// replicationStatus is AWS's ReplicationStatusType shape.
type replicationStatus struct {
	Region           string `json:"Region"`
	KmsKeyID         string `json:"KmsKeyId,omitempty"`
	Status           string `json:"Status"`
	StatusMessage    string `json:"StatusMessage,omitempty"`
	LastAccessedDate *epoch `json:"LastAccessedDate,omitempty"`
}

type replicateInput struct {
	SecretID                    string          `json:"SecretId"`
	AddReplicaRegions           []replicaRegion `json:"AddReplicaRegions"`
	ForceOverwriteReplicaSecret bool            `json:"ForceOverwriteReplicaSecret"`
}

type replicationOutput struct {
	ARN               string              `json:"ARN"`
	ReplicationStatus []replicationStatus `json:"ReplicationStatus"`
}

func (s *Store) replicateSecretToRegions(in *replicateInput, now time.Time) (any, error) {
	sec, err := s.findLive(in.SecretID)
	if err != nil {
		return nil, err
	}
	if len(in.AddReplicaRegions) == 0 {
		return nil, errRequired("addReplicaRegions")
	}
	if err := s.checkRegions(in.AddReplicaRegions); err != nil {
		return nil, err
	}
	s.replicate(sec, in.AddReplicaRegions, in.ForceOverwriteReplicaSecret, now)
	return replicationOutput{ARN: sec.arn, ReplicationStatus: s.replicationStatus(sec)}, nil
}

// checkRegions refuses a region that is no region, or this store's own.
func (s *Store) checkRegions(regions []replicaRegion) error {
	for _, r := range regions {
		if !regionPattern.MatchString(r.Region) || r.Region == s.region {
			return errInvalidParameter("Invalid replica region: " + r.Region + " (a replica goes to another region of the account)")
		}
	}
	return nil
}

// replicate makes a replica of sec in each region that does not have one
// yet. A secret of the same name already there makes that region's status
// Failed, unless force says to overwrite it. The caller holds the lock.
func (s *Store) replicate(sec *secret, regions []replicaRegion, force bool, now time.Time) {
	for _, r := range regions {
		if slices.ContainsFunc(sec.replicas, func(old replica) bool { return old.region == r.Region && old.status == statusInSync }) {
			continue
		}
		sec.replicas = slices.DeleteFunc(sec.replicas, func(old replica) bool { return old.region == r.Region })
		dst := s.svc.store(s.account, r.Region)
		dst.purge(now)
		if _, taken := dst.secrets[sec.name]; taken && !force {
			sec.replicas = append(sec.replicas, replica{region: r.Region, kmsKeyID: r.KmsKeyID, status: statusFailed,
				message: "Replication failed: Secret name already exists in the destination region."})
			continue
		}
		rep := &secret{
			arn:           dst.arnPrefix() + strings.TrimPrefix(sec.arn, s.arnPrefix()),
			name:          sec.name,
			kmsKeyID:      r.KmsKeyID,
			created:       now,
			primaryRegion: s.region,
		}
		copySecret(sec, rep)
		dst.secrets[sec.name] = rep
		dst.changed()
		sec.replicas = append(sec.replicas, replica{region: r.Region, kmsKeyID: r.KmsKeyID, status: statusInSync, message: "Replication succeeded"})
	}
	if s.primaries == nil {
		s.primaries = map[string]bool{}
	}
	s.primaries[sec.name] = len(sec.replicas) > 0
}

// copySecret gives a replica what its primary has: value and versions,
// tags, description and rotation settings. A replica keeps its own ARN,
// creation date, access dates and KMS key.
func copySecret(from, to *secret) {
	to.description = from.description
	to.tags = slices.Clone(from.tags)
	old := to.versions
	to.versions = make(map[string]*version, len(from.versions))
	for id, v := range from.versions {
		c := *v
		c.stages = slices.Clone(v.stages)
		c.lastAccessed = time.Time{}
		if o, ok := old[id]; ok {
			c.lastAccessed = o.lastAccessed
		}
		to.versions[id] = &c
	}
	to.lastChanged = from.lastChanged
	to.lastRotated, to.nextRotation = from.lastRotated, from.nextRotation
	to.rotationEnabled, to.rotationLambda = from.rotationEnabled, from.rotationLambda
	if from.rotationRules != nil {
		rules := *from.rotationRules
		to.rotationRules = &rules
	} else {
		to.rotationRules = nil
	}
}

// syncReplicas brings the replicas of every primary in this store up to
// date, after a request that may have changed one. Only secrets that have
// replicas are looked at, so a store without any pays nothing.
func (s *Store) syncReplicas() {
	for _, name := range slices.Sorted(maps.Keys(s.primaries)) {
		sec, ok := s.secrets[name]
		if !ok || !s.primaries[name] {
			delete(s.primaries, name)
			continue
		}
		for _, r := range sec.replicas {
			if r.status != statusInSync {
				continue
			}
			if rep, ok := s.svc.store(s.account, r.region).secrets[name]; ok && rep.primaryRegion == s.region {
				copySecret(sec, rep)
			}
		}
	}
}

// replicationStatus is a primary's ReplicationStatus: each replica with
// the date it was last read, as AWS reports it.
func (s *Store) replicationStatus(sec *secret) []replicationStatus {
	out := []replicationStatus{}
	for _, r := range sec.replicas {
		st := replicationStatus{Region: r.region, KmsKeyID: r.kmsKeyID, Status: r.status, StatusMessage: r.message}
		if r.status == statusInSync {
			if rep, ok := s.svc.store(s.account, r.region).secrets[sec.name]; ok {
				st.LastAccessedDate = stamp(rep.lastAccessed)
			}
		}
		out = append(out, st)
	}
	return out
}

type removeRegionsInput struct {
	SecretID             string   `json:"SecretId"`
	RemoveReplicaRegions []string `json:"RemoveReplicaRegions"`
}

// removeRegionsFromReplication deletes the replicas in the given regions
// at once, as AWS does.
func (s *Store) removeRegionsFromReplication(in *removeRegionsInput, _ time.Time) (any, error) {
	sec, err := s.find(in.SecretID)
	if err != nil {
		return nil, err
	}
	if len(in.RemoveReplicaRegions) == 0 {
		return nil, errRequired("removeReplicaRegions")
	}
	for _, region := range in.RemoveReplicaRegions {
		if !slices.ContainsFunc(sec.replicas, func(r replica) bool { return r.region == region }) {
			return nil, errInvalidParameter("The secret has no replica in region " + region + ".")
		}
	}
	for _, region := range in.RemoveReplicaRegions {
		sec.replicas = slices.DeleteFunc(sec.replicas, func(r replica) bool { return r.region == region })
		dst := s.svc.store(s.account, region)
		if rep, ok := dst.secrets[sec.name]; ok && rep.primaryRegion == s.region {
			delete(dst.secrets, sec.name)
			dst.changed()
		}
	}
	s.primaries[sec.name] = len(sec.replicas) > 0
	return replicationOutput{ARN: sec.arn, ReplicationStatus: s.replicationStatus(sec)}, nil
}

// stopReplicationToReplica makes a replica a standalone secret of its own
// region; its primary no longer lists it.
func (s *Store) stopReplicationToReplica(in *secretIDInput, now time.Time) (any, error) {
	sec, err := s.find(in.SecretID)
	if err != nil {
		return nil, err
	}
	if sec.primaryRegion == "" {
		return nil, errInvalidRequest("The secret is not a replica: call StopReplicationToReplica in a replica's region.")
	}
	if primary, ok := s.svc.store(s.account, sec.primaryRegion).secrets[sec.name]; ok {
		primary.replicas = slices.DeleteFunc(primary.replicas, func(r replica) bool { return r.region == s.region })
	}
	sec.primaryRegion = ""
	sec.lastChanged = now
	return secretRef{ARN: sec.arn, Name: sec.name}, nil
}

// replicaWrites are the operations a replica refuses: its primary's region
// is where a replicated secret changes.
var replicaWrites = map[string]bool{
	"PutSecretValue": true, "UpdateSecret": true, "DeleteSecret": true, "RestoreSecret": true,
	"TagResource": true, "UntagResource": true, "RotateSecret": true, "UpdateSecretVersionStage": true,
	"ReplicateSecretToRegions": true, "RemoveRegionsFromReplication": true,
}

// refuseOnReplica is the error AWS gives for a change asked of a replica,
// or nil when the request is no change or its secret no replica.
func (s *Store) refuseOnReplica(op string, body []byte) error {
	if !replicaWrites[op] {
		return nil
	}
	var in secretIDInput
	_ = json.Unmarshal(body, &in) // a body that does not decode fails in the operation itself
	sec, err := s.find(in.SecretID)
	if err != nil || sec.primaryRegion == "" || sec.primaryRegion == s.region {
		return nil
	}
	return errInvalidRequest("Operation not permitted on a replica secret. Call must be made in primary secret's region.")
}
