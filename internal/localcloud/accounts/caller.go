package accounts

import (
	"fmt"
	"net/http"
	"strings"
)

// DefaultAccount is the account of every caller whose access key names no
// other: the account kumo hard-codes, so that nothing that ran before
// several accounts existed changes.
const DefaultAccount = "000000000000"

// Caller is who sent a request, as the front reads it from the request's
// SigV4 credential scope and access key.
type Caller struct {
	AccessKey string
	Account   string
	// Region and Service come from the credential scope; both are empty
	// for an unsigned request.
	Region  string
	Service string
	// RoleARN and Session are set for keys that AssumeRole issued.
	RoleARN string
	Session string
}

// ARN is the caller's ARN as GetCallerIdentity reports it: the session's
// assumed-role ARN for keys AssumeRole issued, the account root otherwise.
func (c Caller) ARN() string {
	if c.RoleARN != "" {
		return fmt.Sprintf("arn:aws:sts::%s:assumed-role/%s/%s", c.Account, roleName(c.RoleARN), c.Session)
	}
	return rootARN(c.Account)
}

// PrincipalARN is the ARN that trust policies and aws:PrincipalArn see: for
// a session, the ARN of its role (as on AWS); otherwise the account root.
func (c Caller) PrincipalARN() string {
	if c.RoleARN != "" {
		return c.RoleARN
	}
	return rootARN(c.Account)
}

func rootARN(account string) string { return "arn:aws:iam::" + account + ":root" }

// roleName is the last part of a role ARN (arn:aws:iam::ACCT:role/path/NAME).
func roleName(arn string) string { return arn[strings.LastIndexByte(arn, '/')+1:] }

// Scope reads the access key ID, region and service from a request's SigV4
// credential scope (AKID/DATE/REGION/SERVICE/aws4_request), which is in the
// Authorization header, or in X-Amz-Credential for a presigned URL. All are
// empty when the request is not signed.
func Scope(r *http.Request) (key, region, service string) {
	cred := r.URL.Query().Get("X-Amz-Credential")
	if auth := r.Header.Get("Authorization"); auth != "" {
		_, rest, ok := strings.Cut(auth, "Credential=")
		if !ok {
			return "", "", ""
		}
		cred, _, _ = strings.Cut(rest, ",")
		cred = strings.TrimSpace(cred)
	}
	parts := strings.Split(cred, "/")
	if len(parts) != 5 {
		return "", "", ""
	}
	return parts[0], parts[2], parts[3]
}

// isAccountID reports whether s is twelve digits.
func isAccountID(s string) bool {
	if len(s) != 12 {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// Caller says who sent r: a twelve-digit access key ID is that account (the
// convention LocalStack uses), a key that AssumeRole issued is its role's
// account, and any other key is the default account.
func (d *Directory) Caller(r *http.Request) Caller {
	key, region, service := Scope(r)
	c := Caller{AccessKey: key, Account: DefaultAccount, Region: region, Service: service}
	if isAccountID(key) {
		c.Account = key
		return c
	}
	d.mu.Lock()
	s, ok := d.sessions[key]
	d.mu.Unlock()
	if ok {
		c.Account, c.RoleARN, c.Session = s.account, s.roleARN, s.name
	}
	return c
}
