package accounts

import (
	"strings"
	"testing"

	"github.com/matryer/is"
)

// Callers the trust tests evaluate.
var (
	root = Principal{ARN: "arn:aws:iam::000000000000:root", SessionARN: "arn:aws:iam::000000000000:root", Account: "000000000000", OrgID: "o-localcloud"}
	// scanner is a session of role Scanner in 111111111111, which is in the organization.
	scanner = Principal{ARN: "arn:aws:iam::111111111111:role/Scanner", SessionARN: "arn:aws:sts::111111111111:assumed-role/Scanner/run-1",
		Account: "111111111111", OrgID: "o-localcloud"}
	// outsider is the root of an account outside the organization.
	outsider = Principal{ARN: "arn:aws:iam::999999999999:root", SessionARN: "arn:aws:iam::999999999999:root", Account: "999999999999"}
)

// allow is a one-statement trust policy: principal and condition are JSON.
func allow(principal, condition string) string {
	doc := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":` + principal + `,"Action":"sts:AssumeRole"`
	if condition != "" {
		doc += `,"Condition":` + condition
	}
	return doc + `}]}`
}

func TestAdmits(t *testing.T) {
	tests := []struct {
		name   string
		doc    string
		caller Principal
		want   bool
	}{
		{"account root names the account", allow(`{"AWS":"arn:aws:iam::000000000000:root"}`, ""), root, true},
		{"a bare account ID names the account", allow(`{"AWS":"000000000000"}`, ""), root, true},
		{"an account root admits its roles' sessions", allow(`{"AWS":"arn:aws:iam::111111111111:root"}`, ""), scanner, true},
		{"another account's root does not", allow(`{"AWS":"arn:aws:iam::111111111111:root"}`, ""), root, false},
		{"a role ARN admits its sessions", allow(`{"AWS":"arn:aws:iam::111111111111:role/Scanner"}`, ""), scanner, true},
		{"a role ARN does not admit its account's root", allow(`{"AWS":"arn:aws:iam::111111111111:role/Scanner"}`, ""), Principal{ARN: "arn:aws:iam::111111111111:root", Account: "111111111111"}, false},
		{"a session ARN admits that session", allow(`{"AWS":"arn:aws:sts::111111111111:assumed-role/Scanner/run-1"}`, ""), scanner, true},
		{"one of a list", allow(`{"AWS":["arn:aws:iam::222222222222:root","arn:aws:iam::000000000000:root"]}`, ""), root, true},
		{"Principal * admits anyone", allow(`"*"`, ""), outsider, true},
		{"AWS * admits anyone", allow(`{"AWS":"*"}`, ""), outsider, true},
		{"a service principal is no caller", allow(`{"Service":"lambda.amazonaws.com"}`, ""), root, false},

		{"PrincipalOrgID admits a member", allow(`"*"`, `{"StringEquals":{"aws:PrincipalOrgID":"o-localcloud"}}`), scanner, true},
		{"PrincipalOrgID refuses an outsider", allow(`"*"`, `{"StringEquals":{"aws:PrincipalOrgID":"o-localcloud"}}`), outsider, false},
		{"condition keys ignore case", allow(`"*"`, `{"StringEquals":{"AWS:principalorgid":"o-localcloud"}}`), scanner, true},
		{"PrincipalArn StringEquals the role", allow(`"*"`, `{"StringEquals":{"aws:PrincipalArn":"arn:aws:iam::111111111111:role/Scanner"}}`), scanner, true},
		{"PrincipalArn is the role, not the session", allow(`"*"`, `{"StringEquals":{"aws:PrincipalArn":"arn:aws:sts::111111111111:assumed-role/Scanner/run-1"}}`), scanner, false},
		{"PrincipalArn StringLike", allow(`"*"`, `{"StringLike":{"aws:PrincipalArn":"arn:aws:iam::*:role/Scan*"}}`), scanner, true},
		{"PrincipalArn StringLike misses", allow(`"*"`, `{"StringLike":{"aws:PrincipalArn":"arn:aws:iam::*:role/Audit*"}}`), scanner, false},
		{"PrincipalArn ArnLike per component", allow(`"*"`, `{"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::11111111111?:role/*"}}`), scanner, true},
		{"ArnLike needs six components", allow(`"*"`, `{"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::*"}}`), scanner, false},
		{"PrincipalArn ArnEquals", allow(`"*"`, `{"ArnEquals":{"aws:PrincipalArn":"arn:aws:iam::111111111111:role/Scanner"}}`), scanner, true},
		{"a list of values is any of them", allow(`"*"`, `{"StringEquals":{"aws:PrincipalArn":["arn:aws:iam::1:role/x","arn:aws:iam::111111111111:role/Scanner"]}}`), scanner, true},
		{"every operator must hold", allow(`"*"`, `{"StringEquals":{"aws:PrincipalOrgID":"o-localcloud"},"StringLike":{"aws:PrincipalArn":"*:role/Other"}}`), scanner, false},
		{"a missing key fails a positive operator", allow(`"*"`, `{"StringEquals":{"sts:ExternalId":"x"}}`), root, false},
		{"a missing key passes a negated operator", allow(`"*"`, `{"StringNotEquals":{"aws:PrincipalOrgID":"o-other"}}`), outsider, true},
		{"a missing key passes IfExists", allow(`"*"`, `{"StringEqualsIfExists":{"aws:PrincipalOrgID":"o-localcloud"}}`), outsider, true},
		{"ExternalId", allow(`"*"`, `{"StringEquals":{"sts:ExternalId":"secret-1"}}`), Principal{ARN: root.ARN, Account: root.Account, ExternalID: "secret-1"}, true},

		{"Deny wins over Allow", `{"Statement":[
			{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole"},
			{"Effect":"Deny","Principal":{"AWS":"999999999999"},"Action":"sts:*"}]}`, outsider, false},
		{"Deny of others leaves the rest", `{"Statement":[
			{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole"},
			{"Effect":"Deny","Principal":{"AWS":"999999999999"},"Action":"sts:*"}]}`, root, true},
		{"a statement object, not a list", `{"Statement":{"Effect":"Allow","Principal":{"AWS":"000000000000"},"Action":["sts:AssumeRole","sts:TagSession"]}}`, root, true},
		{"another action is no grant", `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRoleWithWebIdentity"}]}`, root, false},
		{"action wildcard and case", `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"STS:Assume*"}]}`, root, true},
		{"NotAction", `{"Statement":[{"Effect":"Allow","Principal":"*","NotAction":"s3:*"}]}`, root, true},
		{"NotPrincipal", `{"Statement":[{"Effect":"Allow","NotPrincipal":{"AWS":"999999999999"},"Action":"sts:AssumeRole"}]}`, outsider, false},
		{"no statement admits no one", `{"Version":"2012-10-17","Statement":[]}`, root, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			got, err := Admits(tt.doc, "sts:AssumeRole", tt.caller)
			is.NoErr(err)
			is.Equal(got, tt.want) // admitted
		})
	}
}

func TestAdmitsRefusesWhatItCannotEvaluate(t *testing.T) {
	is := is.New(t)
	ok, err := Admits(allow(`"*"`, `{"DateGreaterThan":{"aws:CurrentTime":"2020-01-01T00:00:00Z"}}`), "sts:AssumeRole", root)
	is.True(err != nil) // an operator it does not know is an error...
	is.True(strings.Contains(err.Error(), "DateGreaterThan"))
	is.Equal(ok, false) // ...and admits no one
	ok, err = Admits(`{"Statement":`, "sts:AssumeRole", root)
	is.True(err != nil) // a document that does not parse
	is.Equal(ok, false)
}

func TestParseAccounts(t *testing.T) {
	is := is.New(t)
	ids, err := ParseAccounts("3")
	is.NoErr(err)
	is.Equal(ids, []string{"000000000000", "111111111111", "222222222222"}) // management first, then members
	ids, err = ParseAccounts("12")
	is.NoErr(err)
	is.Equal(ids[9], "999999999999")
	is.Equal(ids[10], "100000000010") // past nine members, IDs count on
	ids, err = ParseAccounts("111111111111, 222222222222")
	is.NoErr(err)
	is.Equal(ids, []string{"000000000000", "111111111111", "222222222222"}) // the management account comes first
	ids, err = ParseAccounts("000000000000,333333333333")
	is.NoErr(err)
	is.Equal(ids, []string{"000000000000", "333333333333"})
	ids, err = ParseAccounts("")
	is.NoErr(err)
	is.Equal(len(ids), 0) // no organization
	for _, bad := range []string{"0", "1001", "12345", "111111111111,111111111111", "111111111111,000000000000", "abc"} {
		_, err := ParseAccounts(bad)
		is.True(err != nil) // refused
	}
	regions, err := ParseRegions("us-east-1,eu-west-1,us-gov-west-1")
	is.NoErr(err)
	is.Equal(regions, []string{"us-east-1", "eu-west-1", "us-gov-west-1"})
	for _, bad := range []string{"us-east", "US-EAST-1", "us-east-1,", "eu_west_1"} {
		_, err := ParseRegions(bad)
		is.True(err != nil) // refused
	}
}
