package accounts

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"time"
)

var (
	roleARNPattern     = regexp.MustCompile(`^arn:aws:iam::(\d{12}):role/(?:[\x21-\x7e]*/)?([\w+=,.@-]{1,64})$`)
	sessionNamePattern = regexp.MustCompile(`^[\w+=,.@-]{2,64}$`)
)

// Key alphabets: AWS's access key IDs use base32 upper case.
const (
	keyAlphabet    = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	secretAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
)

// assumeRole checks that the role exists in its account and that its trust
// policy admits the caller, then issues keys bound to that account and role.
// A role that does not exist is AccessDenied too, as on AWS, so that a
// caller cannot probe another account for role names.
func (d *Directory) assumeRole(w http.ResponseWriter, ctx context.Context, c Caller, form url.Values) {
	roleARN, sessionName := form.Get("RoleArn"), form.Get("RoleSessionName")
	m := roleARNPattern.FindStringSubmatch(roleARN)
	switch {
	case m == nil:
		writeError(w, stsNS, &queryError{http.StatusBadRequest, "ValidationError", fmt.Sprintf("%q is not a role ARN (arn:aws:iam::ACCOUNT:role/NAME).", roleARN)})
		return
	case !sessionNamePattern.MatchString(sessionName):
		writeError(w, stsNS, &queryError{http.StatusBadRequest, "ValidationError",
			fmt.Sprintf("1 validation error detected: Value '%s' at 'roleSessionName' failed to satisfy constraint: Member must have length 2 to 64 and satisfy regular expression pattern: [\\w+=,.@-]*", sessionName)})
		return
	}
	account, name := m[1], m[2]
	denied := &queryError{http.StatusForbidden, "AccessDenied",
		fmt.Sprintf("User: %s is not authorized to perform: sts:AssumeRole on resource: %s", c.ARN(), roleARN)}
	role, ok, err := d.role(ctx, account, name)
	if err != nil {
		writeError(w, stsNS, &queryError{http.StatusInternalServerError, "InternalFailure", err.Error()})
		return
	}
	if !ok || role.ARN != roleARN {
		writeError(w, stsNS, denied)
		return
	}
	p := Principal{ARN: c.PrincipalARN(), SessionARN: c.ARN(), Account: c.Account, OrgID: d.orgIDOf(c.Account), ExternalID: form.Get("ExternalId")}
	admitted, err := Admits(role.TrustPolicy, "sts:AssumeRole", p)
	if err != nil {
		denied.message += " (" + err.Error() + ")"
	}
	if !admitted {
		writeError(w, stsNS, denied)
		return
	}
	duration, qerr := sessionDuration(form.Get("DurationSeconds"), role.MaxSession)
	if qerr != nil {
		writeError(w, stsNS, qerr)
		return
	}

	d.mu.Lock()
	key := "ASIA" + d.randomID(keyAlphabet, 16)
	secret := d.randomID(secretAlphabet, 40)
	token := d.randomID(secretAlphabet, 356)
	d.sessions[key] = session{account: account, roleARN: role.ARN, roleID: role.ID, name: sessionName}
	d.mu.Unlock()

	type credentials struct {
		AccessKeyID     string `xml:"AccessKeyId"`
		SecretAccessKey string `xml:"SecretAccessKey"`
		SessionToken    string `xml:"SessionToken"`
		Expiration      string `xml:"Expiration"`
	}
	issued := Caller{Account: account, RoleARN: role.ARN, Session: sessionName}
	writeResult(w, stsNS, "AssumeRole", struct {
		Credentials     credentials `xml:"Credentials"`
		AssumedRoleUser struct {
			AssumedRoleID string `xml:"AssumedRoleId"`
			Arn           string `xml:"Arn"`
		} `xml:"AssumedRoleUser"`
		PackedPolicySize int `xml:"PackedPolicySize"`
	}{
		Credentials: credentials{key, secret, token, isoTime(d.now().Add(duration))},
		AssumedRoleUser: struct {
			AssumedRoleID string `xml:"AssumedRoleId"`
			Arn           string `xml:"Arn"`
		}{role.ID + ":" + sessionName, issued.ARN()},
	})
}

// sessionDuration reads DurationSeconds: 15 minutes up to the role's
// maximum session, an hour when not given.
func sessionDuration(v string, max time.Duration) (time.Duration, *queryError) {
	if max == 0 {
		max = time.Hour
	}
	if v == "" {
		return min(time.Hour, max), nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 900 || time.Duration(n)*time.Second > max {
		return 0, &queryError{http.StatusBadRequest, "ValidationError",
			fmt.Sprintf("The requested DurationSeconds exceeds the MaxSessionDuration set for this role, or is under 900 seconds: %s.", v)}
	}
	return time.Duration(n) * time.Second, nil
}

// role finds a role in its account: the default account's in kumo, the
// others' here.
func (d *Directory) role(ctx context.Context, account, name string) (Role, bool, error) {
	if account != DefaultAccount {
		r, ok := d.lookupRole(account, name)
		return r, ok, nil
	}
	if d.defaultRoles == nil {
		return Role{}, false, nil
	}
	r, ok, err := d.defaultRoles(ctx, name)
	if err != nil {
		return Role{}, false, fmt.Errorf("look up role %s: %w", name, err)
	}
	return r, ok, nil
}

// getCallerIdentity answers for any key: the account it stands for, and
// the session's ARN or the account root.
func (d *Directory) getCallerIdentity(w http.ResponseWriter, c Caller) {
	userID := c.Account // the root's user ID is its account ID
	d.mu.Lock()
	if s, ok := d.sessions[c.AccessKey]; ok {
		userID = s.roleID + ":" + s.name
	}
	d.mu.Unlock()
	writeResult(w, stsNS, "GetCallerIdentity", struct {
		Arn     string `xml:"Arn"`
		UserID  string `xml:"UserId"`
		Account string `xml:"Account"`
	}{c.ARN(), userID, c.Account})
}

// ExecutionSession issues keys for a session of a role, as Lambda gives a
// function its execution role's credentials: the function's calls then come
// from that role (aws:PrincipalArn is its ARN), so a member account's trust
// policy can name the hub's function role. The role must exist; its ARN
// may carry any account where the role is the default account's (kumo
// writes 123456789012 into its ARNs).
func (d *Directory) ExecutionSession(ctx context.Context, roleARN, sessionName string) (key, secret, token string, err error) {
	m := roleARNPattern.FindStringSubmatch(roleARN)
	if m == nil {
		return "", "", "", fmt.Errorf("%q is not a role ARN", roleARN)
	}
	account := m[1]
	role, ok, err := d.role(ctx, account, m[2])
	if err == nil && !ok && account != DefaultAccount {
		account = DefaultAccount
		role, ok, err = d.role(ctx, account, m[2])
	}
	switch {
	case err != nil:
		return "", "", "", err
	case !ok:
		return "", "", "", fmt.Errorf("role %s does not exist", roleARN)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	key = "ASIA" + d.randomID(keyAlphabet, 16)
	secret = d.randomID(secretAlphabet, 40)
	token = d.randomID(secretAlphabet, 356)
	d.sessions[key] = session{account: account, roleARN: role.ARN, roleID: role.ID, name: sessionName}
	return key, secret, token, nil
}
