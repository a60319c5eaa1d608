// Package accounts gives the local cloud several AWS accounts, the way AWS
// separates them: who is calling (the account and region of a request),
// IAM roles per account, STS AssumeRole checked against each role's trust
// policy, and an organization made of the accounts.
//
// The front asks Caller who sent each request, then hands IAM, STS and
// Organizations requests to Serve, which answers what this package
// emulates and leaves the rest to kumo: IAM of the default account (so a
// deploy of template.yaml behaves as before), STS operations other than
// AssumeRole and GetCallerIdentity, and Organizations when no organization
// is configured.
//
// It imports only the standard library; it knows kumo's roles only through
// the DefaultRoles lookup it is given.
package accounts

import (
	"context"
	crand "crypto/rand"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Role is what AssumeRole needs to know of a role.
type Role struct {
	ARN         string
	ID          string
	TrustPolicy string // JSON
	// MaxSession is the longest session the role allows; 0 means an hour.
	MaxSession time.Duration
}

// RoleLookup finds a role of the default account by name; false when there
// is none.
type RoleLookup func(ctx context.Context, name string) (Role, bool, error)

// Options configure New.
type Options struct {
	// Accounts are the organization's accounts, the management account
	// (DefaultAccount) first; none means no organization is emulated.
	Accounts []string
	// Now is the cloud clock (nil means time.Now).
	Now func() time.Time
	// DefaultRoles finds the default account's roles, which live in kumo.
	DefaultRoles RoleLookup
}

// Directory is the local cloud's accounts: the organization, the IAM roles
// of every account but the default one, and the sessions AssumeRole
// issued. It is safe for concurrent use.
type Directory struct {
	mu           sync.Mutex
	now          func() time.Time
	defaultRoles RoleLookup
	org          *organization          // nil: none configured
	iam          map[string]*iamAccount // by account ID
	sessions     map[string]session     // by access key ID
	rng          *rand.Rand
}

// session is what a key that AssumeRole issued stands for.
type session struct {
	account, roleARN, roleID, name string
}

// New returns the accounts of a local cloud.
func New(opts Options) *Directory {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	var seed [32]byte
	_, _ = crand.Read(seed[:]) // never fails since Go 1.24
	d := &Directory{
		now:          opts.Now,
		defaultRoles: opts.DefaultRoles,
		iam:          map[string]*iamAccount{},
		sessions:     map[string]session{},
		rng:          rand.New(rand.NewChaCha8(seed)),
	}
	if len(opts.Accounts) > 0 {
		d.org = newOrganization(opts.Accounts, opts.Now())
	}
	return d
}

// Serve answers an IAM, STS or Organizations request that this package
// emulates, and reports whether it did; when it did not, r is unchanged
// (its body still unread) for the front to pass on to kumo.
func (d *Directory) Serve(w http.ResponseWriter, r *http.Request, c Caller) bool {
	switch c.Service {
	case "sts":
		form, ok := readForm(r)
		if !ok {
			return false
		}
		switch form.Get("Action") {
		case "AssumeRole":
			d.assumeRole(w, r.Context(), c, form)
		case "GetCallerIdentity":
			d.getCallerIdentity(w, c)
		default:
			return false
		}
	case "iam":
		if c.Account == DefaultAccount {
			return false
		}
		form, ok := readForm(r)
		if !ok {
			return false
		}
		d.serveIAM(w, c.Account, form)
	case "organizations":
		if d.org == nil {
			return false
		}
		d.serveOrganizations(w, r, c)
	default:
		return false
	}
	return true
}

// Organization describes the organization in one line, or "" when there
// is none: for the banner of the commands that serve.
func (d *Directory) Organization() string {
	if d.org == nil {
		return ""
	}
	ids := make([]string, len(d.org.accounts))
	for i, a := range d.org.accounts {
		ids[i] = a.id
	}
	members := ids[1:]
	switch {
	case len(members) == 0:
		return fmt.Sprintf("organization %s: management account %s, no members", d.org.id, ids[0])
	case len(members) > 5:
		members = []string{members[0], members[1], "...", members[len(members)-1], fmt.Sprintf("(%d members)", len(members))}
	}
	return fmt.Sprintf("organization %s: management account %s, members %s", d.org.id, ids[0], strings.Join(members, ", "))
}

// MaxAccounts bounds ParseAccounts' count form.
const MaxAccounts = 1000

// ParseAccounts reads the -accounts flag: a count N (the management account
// 000000000000 and N-1 members 111111111111, 222222222222, ... 999999999999,
// then 100000000010, 100000000011, ...) or a comma-separated list of
// account IDs, to which the management account is added first when the list
// does not start with it. An empty spec is no organization.
func ParseAccounts(spec string) ([]string, error) {
	if spec == "" {
		return nil, nil
	}
	if n, err := strconv.Atoi(spec); err == nil && len(spec) < 12 {
		if n < 1 || n > MaxAccounts {
			return nil, fmt.Errorf("-accounts %d: want 1 to %d accounts, or a list of 12-digit account IDs", n, MaxAccounts)
		}
		ids := []string{DefaultAccount}
		for i := 1; i < n; i++ {
			if i < 10 {
				ids = append(ids, strings.Repeat(strconv.Itoa(i), 12))
			} else {
				ids = append(ids, fmt.Sprintf("1%011d", i))
			}
		}
		return ids, nil
	}
	ids := []string{DefaultAccount}
	seen := map[string]bool{DefaultAccount: true}
	for i, id := range strings.Split(spec, ",") {
		id = strings.TrimSpace(id)
		switch {
		case !isAccountID(id):
			return nil, fmt.Errorf("-accounts: %q is not a 12-digit account ID", id)
		case id == DefaultAccount && i == 0:
			continue
		case seen[id]:
			return nil, fmt.Errorf("-accounts: %s is listed twice (the management account %s is always first)", id, DefaultAccount)
		}
		seen[id] = true
		ids = append(ids, id)
	}
	return ids, nil
}

// ParseFlags reads the -accounts and -regions flags of a cloud whose own
// region (its functions', its stack's) is region, which must be one of the
// regions when any are given.
func ParseFlags(accountSpec, regionSpec, region string) (accounts, regions []string, err error) {
	if accounts, err = ParseAccounts(accountSpec); err != nil {
		return nil, nil, err
	}
	if regions, err = ParseRegions(regionSpec); err != nil {
		return nil, nil, err
	}
	if len(regions) > 0 && !slices.Contains(regions, region) {
		return nil, nil, fmt.Errorf("-regions %s: the cloud's region %s must be one of them (see -region)", regionSpec, region)
	}
	return accounts, regions, nil
}

// ParseRegions reads the -regions flag: comma-separated region names.
func ParseRegions(spec string) ([]string, error) {
	if spec == "" {
		return nil, nil
	}
	var regions []string
	for _, r := range strings.Split(spec, ",") {
		r = strings.TrimSpace(r)
		if !regionPattern(r) {
			return nil, fmt.Errorf("-regions: %q is not a region name such as us-east-1", r)
		}
		regions = append(regions, r)
	}
	return regions, nil
}

// regionPattern reports whether s looks like a region: lowercase words and
// a number joined by hyphens (us-east-1, us-gov-west-1).
func regionPattern(s string) bool {
	parts := strings.Split(s, "-")
	if len(parts) < 3 {
		return false
	}
	for _, p := range parts[:len(parts)-1] {
		if p == "" || strings.Trim(p, "abcdefghijklmnopqrstuvwxyz") != "" {
			return false
		}
	}
	_, err := strconv.Atoi(parts[len(parts)-1])
	return err == nil
}

// randomID is n characters from alphabet.
func (d *Directory) randomID(alphabet string, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[d.rng.IntN(len(alphabet))]
	}
	return string(b)
}
