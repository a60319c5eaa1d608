package accounts

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// Principal is who asks to assume a role, as a trust policy sees it.
type Principal struct {
	// ARN is aws:PrincipalArn: a session's role ARN, or an account root.
	ARN string
	// SessionARN is the caller's own ARN (a session's assumed-role ARN), which
	// a trust policy may also name.
	SessionARN string
	Account    string
	OrgID      string // aws:PrincipalOrgID; "" outside an organization
	ExternalID string // sts:ExternalId of the request; "" when none
}

// Admits reports whether the trust policy doc lets p perform action
// (sts:AssumeRole) on the role: some Allow statement matches and no Deny
// statement does, as IAM evaluates a role's trust policy. It understands
// Principal and NotPrincipal ("*", an account ID, an account root, a role,
// user or session ARN), Action and NotAction with wildcards, and Condition
// with the String and Arn operators (with IfExists) on aws:PrincipalArn,
// aws:PrincipalOrgID, aws:PrincipalAccount and sts:ExternalId. Another
// condition operator is an error: the policy admits no one then, rather
// than more than it should.
func Admits(doc string, action string, p Principal) (bool, error) {
	var pol struct {
		Statement oneOrMany[statement]
	}
	if err := json.Unmarshal([]byte(doc), &pol); err != nil {
		return false, fmt.Errorf("trust policy: %w", err)
	}
	allowed := false
	for _, st := range pol.Statement {
		ok, err := st.matches(action, p)
		if err != nil {
			return false, err
		}
		switch {
		case ok && st.Effect == "Deny":
			return false, nil
		case ok && st.Effect == "Allow":
			allowed = true
		}
	}
	return allowed, nil
}

type statement struct {
	Effect       string
	Principal    *principals
	NotPrincipal *principals
	Action       oneOrMany[string]
	NotAction    oneOrMany[string]
	Condition    map[string]map[string]oneOrMany[any]
}

func (st statement) matches(action string, p Principal) (bool, error) {
	actionOK := slices.ContainsFunc(st.Action, func(a string) bool { return like(strings.ToLower(a), strings.ToLower(action)) })
	if st.NotAction != nil {
		actionOK = !slices.ContainsFunc(st.NotAction, func(a string) bool { return like(strings.ToLower(a), strings.ToLower(action)) })
	}
	principalOK := st.Principal != nil && st.Principal.admit(p)
	if st.NotPrincipal != nil {
		principalOK = !st.NotPrincipal.admit(p)
	}
	if !actionOK || !principalOK {
		return false, nil
	}
	for op, keys := range st.Condition {
		for key, values := range keys {
			ok, err := condition(op, key, values, p)
			if err != nil || !ok {
				return false, err
			}
		}
	}
	return true, nil
}

// principals is a Principal element: "*" or {"AWS": ..., "Service": ...}.
// Only AWS principals can be callers here.
type principals struct {
	all bool
	aws oneOrMany[string]
}

func (ps *principals) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		ps.all = s == "*"
		return nil
	}
	var m map[string]oneOrMany[string]
	if err := json.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("principal: %w", err)
	}
	ps.aws = m["AWS"]
	return nil
}

// admit reports whether one of the principals is p: "*", p's account
// (as an ID or its root), p's role or p's session.
func (ps *principals) admit(p Principal) bool {
	if ps.all {
		return true
	}
	return slices.ContainsFunc(ps.aws, func(v string) bool {
		return v == "*" || v == p.Account || v == rootARN(p.Account) || v == p.ARN || (p.SessionARN != "" && v == p.SessionARN)
	})
}

// condition evaluates one operator on one key. A key the request does not
// have fails every operator but the negated ones and those with IfExists,
// as in IAM.
func condition(op, key string, values []any, p Principal) (bool, error) {
	known := map[string]string{
		"aws:principalarn":     p.ARN,
		"aws:principalorgid":   p.OrgID,
		"aws:principalaccount": p.Account,
		"sts:externalid":       p.ExternalID,
	}
	got := known[strings.ToLower(key)]
	base, ifExists := strings.CutSuffix(op, "IfExists")
	negated := strings.Contains(base, "Not")
	var match func(pattern, s string) bool
	switch strings.Replace(base, "Not", "", 1) {
	case "StringEquals":
		match = func(pattern, s string) bool { return pattern == s }
	case "StringEqualsIgnoreCase":
		match = strings.EqualFold
	case "StringLike":
		match = like
	case "ArnEquals", "ArnLike":
		match = arnLike
	default:
		return false, fmt.Errorf("condition operator %s is not supported by the local cloud", op)
	}
	if got == "" {
		return negated || ifExists, nil
	}
	hit := slices.ContainsFunc(values, func(v any) bool { return match(fmt.Sprint(v), got) })
	return hit != negated, nil
}

// arnLike matches an ARN against a pattern component by component, each
// of the six colon-separated parts with wildcards, as ArnLike does.
func arnLike(pattern, arn string) bool {
	pp, ap := strings.SplitN(pattern, ":", 6), strings.SplitN(arn, ":", 6)
	if len(pp) != 6 || len(ap) != 6 {
		return false
	}
	for i := range pp {
		if !like(pp[i], ap[i]) {
			return false
		}
	}
	return true
}

// like matches s against a pattern where * is any run of characters and ?
// any one character, case-sensitively.
func like(pattern, s string) bool {
	for len(pattern) > 0 {
		switch pattern[0] {
		case '*':
			for i := len(s); i >= 0; i-- {
				if like(pattern[1:], s[i:]) {
					return true
				}
			}
			return false
		case '?':
			if s == "" {
				return false
			}
			pattern, s = pattern[1:], s[1:]
		default:
			if s == "" || s[0] != pattern[0] {
				return false
			}
			pattern, s = pattern[1:], s[1:]
		}
	}
	return s == ""
}

// oneOrMany is a policy element that may be one value or a list of them.
type oneOrMany[T any] []T

func (o *oneOrMany[T]) UnmarshalJSON(b []byte) error {
	if t := bytes.TrimSpace(b); len(t) > 0 && t[0] == '[' {
		var many []T
		if err := json.Unmarshal(t, &many); err != nil {
			return err
		}
		*o = many
		return nil
	}
	var one T
	if err := json.Unmarshal(b, &one); err != nil {
		return err
	}
	*o = []T{one}
	return nil
}
