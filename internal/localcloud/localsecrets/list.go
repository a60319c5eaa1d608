package localsecrets

import (
	"cmp"
	"encoding/base64"
	"slices"
	"strconv"
	"strings"
	"time"
)

type listSecretsInput struct {
	Filters                []filter `json:"Filters"`
	IncludePlannedDeletion bool     `json:"IncludePlannedDeletion"`
	MaxResults             *int     `json:"MaxResults"`
	NextToken              string   `json:"NextToken"`
	SortBy                 string   `json:"SortBy"`
	SortOrder              string   `json:"SortOrder"`
}

type listSecretsOutput struct {
	SecretList []secretEntry `json:"SecretList"`
	NextToken  string        `json:"NextToken,omitempty"`
}

// sortKeys are ListSecrets' SortBy values, each with the time it sorts by.
// Sorting by name uses no time, only the name that breaks every tie.
var sortKeys = map[string]func(*secret) time.Time{
	"created-date":       func(sec *secret) time.Time { return sec.created },
	"last-changed-date":  func(sec *secret) time.Time { return sec.lastChanged },
	"last-accessed-date": func(sec *secret) time.Time { return sec.lastAccessed },
	"name":               func(*secret) time.Time { return time.Time{} },
}

func (s *Store) listSecrets(in *listSecretsInput, _ time.Time) (any, error) {
	limit, err := maxResults(in.MaxResults)
	if err != nil {
		return nil, err
	}
	if err := validateFilters(in.Filters); err != nil {
		return nil, err
	}
	sortBy := cmp.Or(in.SortBy, "created-date") // AWS: "If not specified, secrets are listed by CreatedDate."
	sortTime, ok := sortKeys[sortBy]
	if !ok {
		return nil, errValidation(in.SortBy, "sortBy", "satisfy enum value set: [created-date, last-accessed-date, last-changed-date, name]")
	}
	if in.SortOrder != "" && in.SortOrder != "asc" && in.SortOrder != "desc" {
		return nil, errValidation(in.SortOrder, "sortOrder", "satisfy enum value set: [asc, desc]")
	}
	order := listOrder{sortBy: sortBy, desc: in.SortOrder == "desc"}
	key := func(sec *secret) cursor { return cursor{at: nanos(sortTime(sec)), name: sec.name} }
	all := s.inOrder(order, key)
	start := 0
	if in.NextToken != "" {
		after, err := parseToken(in.NextToken)
		if err != nil {
			return nil, err
		}
		start, _ = slices.BinarySearchFunc(all, after, func(sec *secret, c cursor) int { return order.compare(key(sec), c) })
		if start < len(all) && order.compare(key(all[start]), after) == 0 {
			start++ // the token is the last item returned
		}
	}
	var found []*secret
	next := ""
	for _, sec := range all[start:] {
		if !sec.deleted.IsZero() && !in.IncludePlannedDeletion || !matchesAll(sec, in.Filters) {
			continue
		}
		if len(found) == limit {
			next = key(found[limit-1]).token()
			break
		}
		found = append(found, sec)
	}
	out := listSecretsOutput{SecretList: []secretEntry{}, NextToken: next}
	for _, sec := range found {
		e := sec.entry()
		e.SecretVersionsToStages = sec.stagesByVersion()
		out.SecretList = append(out.SecretList, e)
	}
	return out, nil
}

type listSecretVersionIdsInput struct {
	SecretID          string `json:"SecretId"`
	MaxResults        *int   `json:"MaxResults"`
	NextToken         string `json:"NextToken"`
	IncludeDeprecated bool   `json:"IncludeDeprecated"`
}

type versionEntry struct {
	VersionID        string   `json:"VersionId"`
	VersionStages    []string `json:"VersionStages,omitempty"`
	LastAccessedDate *epoch   `json:"LastAccessedDate,omitempty"`
	CreatedDate      *epoch   `json:"CreatedDate"`
}

type listSecretVersionIdsOutput struct {
	Versions  []versionEntry `json:"Versions"`
	NextToken string         `json:"NextToken,omitempty"`
	ARN       string         `json:"ARN"`
	Name      string         `json:"Name"`
}

// listSecretVersionIds lists versions newest first, as AWS does.
func (s *Store) listSecretVersionIds(in *listSecretVersionIdsInput, _ time.Time) (any, error) {
	sec, err := s.findLive(in.SecretID)
	if err != nil {
		return nil, err
	}
	limit, err := maxResults(in.MaxResults)
	if err != nil {
		return nil, err
	}
	var versions []*version
	for _, v := range sec.versions {
		if len(v.stages) > 0 || in.IncludeDeprecated {
			versions = append(versions, v)
		}
	}
	key := func(v *version) cursor { return cursor{at: nanos(v.created), name: v.id} }
	versions, next, err := page(versions, key, true, in.NextToken, limit)
	if err != nil {
		return nil, err
	}
	out := listSecretVersionIdsOutput{Versions: []versionEntry{}, NextToken: next, ARN: sec.arn, Name: sec.name}
	for _, v := range versions {
		out.Versions = append(out.Versions, versionEntry{
			VersionID:        v.id,
			VersionStages:    slices.Clone(v.stages),
			LastAccessedDate: stamp(v.lastAccessed),
			CreatedDate:      stamp(v.created),
		})
	}
	return out, nil
}

// listOrder is one way ListSecrets sorts.
type listOrder struct {
	sortBy string
	desc   bool
}

func (o listOrder) compare(a, b cursor) int {
	if o.desc {
		return b.compare(a)
	}
	return a.compare(b)
}

// inOrder is every secret in the order, sorted once and kept until a
// change (see changed).
func (s *Store) inOrder(o listOrder, key func(*secret) cursor) []*secret {
	if all, ok := s.sorted[o]; ok {
		return all
	}
	all := make([]*secret, 0, len(s.secrets))
	for _, sec := range s.secrets {
		all = append(all, sec)
	}
	slices.SortFunc(all, func(a, b *secret) int { return o.compare(key(a), key(b)) })
	if s.sorted == nil {
		s.sorted = map[listOrder][]*secret{}
	}
	s.sorted[o] = all
	return all
}

// maxResults checks a MaxResults parameter (1 to 100) and defaults it to 100.
func maxResults(n *int) (int, error) {
	switch {
	case n == nil:
		return 100, nil
	case *n < 1:
		return 0, errValidation(*n, "maxResults", "have value greater than or equal to 1")
	case *n > 100:
		return 0, errValidation(*n, "maxResults", "have value less than or equal to 100")
	}
	return *n, nil
}

// cursor is a position in a sorted listing: the sort time in Unix
// nanoseconds (0 when unset or unused) and the name or version ID that
// breaks ties. A NextToken is the cursor of the last item returned, so the
// next page starts after it even when items were added or removed between
// the calls.
type cursor struct {
	at   int64
	name string
}

func (c cursor) compare(d cursor) int {
	return cmp.Or(cmp.Compare(c.at, d.at), strings.Compare(c.name, d.name))
}

func (c cursor) token() string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(c.at, 10) + "|" + c.name))
}

func parseToken(token string) (cursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(token)
	at, name, ok := strings.Cut(string(b), "|")
	n, errAt := strconv.ParseInt(at, 10, 64)
	if err != nil || !ok || errAt != nil {
		return cursor{}, &apiError{"InvalidNextTokenException", "The NextToken value is invalid."}
	}
	return cursor{at: n, name: name}, nil
}

func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// page sorts items by key (descending when desc), drops those up to and
// including the token's cursor, and returns at most limit of the rest with
// the token for the page after them ("" when there is none).
func page[T any](items []T, key func(T) cursor, desc bool, token string, limit int) ([]T, string, error) {
	order := func(a, b cursor) int {
		if desc {
			return b.compare(a)
		}
		return a.compare(b)
	}
	slices.SortFunc(items, func(a, b T) int { return order(key(a), key(b)) })
	if token != "" {
		after, err := parseToken(token)
		if err != nil {
			return nil, "", err
		}
		start := slices.IndexFunc(items, func(it T) bool { return order(key(it), after) > 0 })
		if start < 0 {
			start = len(items)
		}
		items = items[start:]
	}
	if len(items) <= limit {
		return items, "", nil
	}
	return items[:limit], key(items[limit-1]).token(), nil
}
