package accounts

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// AWS Organizations (awsJson1_1, X-Amz-Target: AWSOrganizationsV20161128.Op):
// one organization made of the configured accounts, with one root and no
// OUs, whose management account is the default account. As on AWS, its
// accounts and roots are listed only for the management account and for a
// registered delegated administrator; any member may describe the
// organization.

// Fixed IDs, so that trust policies, tests and scripts can name them.
const (
	OrgID  = "o-localcloud"
	RootID = "r-root"
)

const orgTargetPrefix = "AWSOrganizationsV20161128."

type organization struct {
	id       string
	accounts []*orgAccount // the management account first, then in configured order
	// delegated are the registered delegated administrators: account ID
	// to service principals, each with the date it was registered.
	delegated map[string]map[string]time.Time
	created   time.Time
}

type orgAccount struct {
	id, name, email string
	status          string // ACTIVE or SUSPENDED
	joined          time.Time
}

func newOrganization(ids []string, now time.Time) *organization {
	o := &organization{id: OrgID, delegated: map[string]map[string]time.Time{}, created: now}
	for i, id := range ids {
		name := "management"
		if i > 0 {
			name = "member-" + strconv.Itoa(i)
		}
		o.accounts = append(o.accounts, &orgAccount{id: id, name: name, email: id + "@localcloud.example", status: "ACTIVE", joined: now})
	}
	return o
}

func (o *organization) management() string { return o.accounts[0].id }

func (o *organization) account(id string) *orgAccount {
	i := slices.IndexFunc(o.accounts, func(a *orgAccount) bool { return a.id == id })
	if i < 0 {
		return nil
	}
	return o.accounts[i]
}

// orgIDOf is the organization an account belongs to, or "".
func (d *Directory) orgIDOf(account string) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.org == nil || d.org.account(account) == nil {
		return ""
	}
	return d.org.id
}

// orgError is an error as awsJson1_1 sends it.
type orgError struct {
	Type    string `json:"__type"`
	Message string `json:"Message"`
}

func (e *orgError) Error() string { return e.Type + ": " + e.Message }

func accessDenied() error {
	return &orgError{"AccessDeniedException", "You don't have permissions to access this resource."}
}

// accountJSON is Organizations' Account shape.
type accountJSON struct {
	ID              string  `json:"Id"`
	Arn             string  `json:"Arn"`
	Email           string  `json:"Email"`
	Name            string  `json:"Name"`
	Status          string  `json:"Status"`
	State           string  `json:"State"`
	JoinedMethod    string  `json:"JoinedMethod"`
	JoinedTimestamp float64 `json:"JoinedTimestamp"`
	// DelegationEnabledDate is set in ListDelegatedAdministrators only.
	DelegationEnabledDate float64 `json:"DelegationEnabledDate,omitempty"`
}

func (o *organization) accountJSON(a *orgAccount) accountJSON {
	return accountJSON{
		ID: a.id, Arn: fmt.Sprintf("arn:aws:organizations::%s:account/%s/%s", o.management(), o.id, a.id),
		Email: a.email, Name: a.name, Status: a.status, State: a.status, JoinedMethod: "CREATED",
		JoinedTimestamp: epoch(a.joined),
	}
}

func epoch(t time.Time) float64 { return float64(t.UnixMilli()) / 1000 }

type pageInput struct {
	MaxResults *int   `json:"MaxResults"`
	NextToken  string `json:"NextToken"`
}

// orgPage cuts n items at NextToken (an opaque offset) and MaxResults (1 to
// 20, default 20, as AWS allows). The accounts only ever grow at the end,
// so an offset stays a stable position.
func orgPage(n int, in pageInput) (start, end int, next string, err error) {
	limit := 20
	if in.MaxResults != nil {
		if *in.MaxResults < 1 || *in.MaxResults > 20 {
			return 0, 0, "", &orgError{"InvalidInputException", "MaxResults must be between 1 and 20."}
		}
		limit = *in.MaxResults
	}
	if in.NextToken != "" {
		b, errB := base64.RawURLEncoding.DecodeString(in.NextToken)
		s, ok := strings.CutPrefix(string(b), "offset:")
		n2, errN := strconv.Atoi(s)
		if errB != nil || !ok || errN != nil || n2 < 0 || n2 > n {
			return 0, 0, "", &orgError{"InvalidInputException", "The NextToken is not valid."}
		}
		start = n2
	}
	end = min(start+limit, n)
	if end < n {
		next = base64.RawURLEncoding.EncodeToString([]byte("offset:" + strconv.Itoa(end)))
	}
	return start, end, next, nil
}

// serveOrganizations answers one Organizations request.
func (d *Directory) serveOrganizations(w http.ResponseWriter, r *http.Request, c Caller) {
	op, _ := strings.CutPrefix(r.Header.Get("X-Amz-Target"), orgTargetPrefix)
	body, err := io.ReadAll(io.LimitReader(r.Body, maxForm))
	if err != nil {
		writeOrg(w, nil, &orgError{"SerializationException", "cannot read the request body: " + err.Error()})
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	out, err := d.orgOp(op, c.Account, body)
	writeOrg(w, out, err)
}

func (d *Directory) orgOp(op, caller string, body []byte) (any, error) {
	var in struct {
		pageInput
		AccountID        string `json:"AccountId"`
		ParentID         string `json:"ParentId"`
		ServicePrincipal string `json:"ServicePrincipal"`
	}
	if len(body) > 0 {
		if err := json.Unmarshal(body, &in); err != nil {
			return nil, &orgError{"SerializationException", "cannot decode the request body: " + err.Error()}
		}
	}
	o := d.org
	member := o.account(caller) != nil
	manager := caller == o.management()
	admin := manager || len(o.delegated[caller]) > 0
	switch op {
	case "DescribeOrganization":
		if !member {
			return nil, &orgError{"AWSOrganizationsNotInUseException", "Your account is not a member of an organization."}
		}
		m := o.management()
		return map[string]any{"Organization": map[string]any{
			"Id": o.id, "Arn": fmt.Sprintf("arn:aws:organizations::%s:organization/%s", m, o.id),
			"FeatureSet": "ALL", "MasterAccountId": m, "MasterAccountEmail": o.accounts[0].email,
			"MasterAccountArn":     fmt.Sprintf("arn:aws:organizations::%s:account/%s/%s", m, o.id, m),
			"AvailablePolicyTypes": []any{},
		}}, nil
	case "ListAccounts", "ListAccountsForParent":
		if !admin {
			return nil, accessDenied()
		}
		if op == "ListAccountsForParent" && in.ParentID != RootID {
			return nil, &orgError{"ParentNotFoundException", fmt.Sprintf("We can't find a root or OU with the ParentId %q (the local organization has the root %s and no OUs).", in.ParentID, RootID)}
		}
		start, end, next, err := orgPage(len(o.accounts), in.pageInput)
		if err != nil {
			return nil, err
		}
		list := []accountJSON{}
		for _, a := range o.accounts[start:end] {
			list = append(list, o.accountJSON(a))
		}
		return map[string]any{"Accounts": list, "NextToken": omitEmpty(next)}, nil
	case "DescribeAccount":
		if !admin {
			return nil, accessDenied()
		}
		a := o.account(in.AccountID)
		if a == nil {
			return nil, &orgError{"AccountNotFoundException", "You specified an account that doesn't exist."}
		}
		return map[string]any{"Account": o.accountJSON(a)}, nil
	case "ListRoots":
		if !admin {
			return nil, accessDenied()
		}
		return map[string]any{"Roots": []any{map[string]any{
			"Id": RootID, "Name": "Root", "PolicyTypes": []any{},
			"Arn": fmt.Sprintf("arn:aws:organizations::%s:root/%s/%s", o.management(), o.id, RootID),
		}}}, nil
	case "ListOrganizationalUnitsForParent":
		if !admin {
			return nil, accessDenied()
		}
		return map[string]any{"OrganizationalUnits": []any{}}, nil
	case "RegisterDelegatedAdministrator", "DeregisterDelegatedAdministrator":
		return o.delegate(op == "RegisterDelegatedAdministrator", manager, in.AccountID, in.ServicePrincipal, d.now())
	case "ListDelegatedAdministrators":
		if !admin {
			return nil, accessDenied()
		}
		list := []accountJSON{}
		for _, a := range o.accounts {
			since := o.delegated[a.id]
			if len(since) == 0 || in.ServicePrincipal != "" && since[in.ServicePrincipal].IsZero() {
				continue
			}
			e := o.accountJSON(a)
			e.DelegationEnabledDate = epoch(earliest(since))
			list = append(list, e)
		}
		start, end, next, err := orgPage(len(list), in.pageInput)
		if err != nil {
			return nil, err
		}
		return map[string]any{"DelegatedAdministrators": list[start:end], "NextToken": omitEmpty(next)}, nil
	case "CloseAccount":
		a := o.account(in.AccountID)
		switch {
		case !manager:
			return nil, accessDenied()
		case a == nil:
			return nil, &orgError{"AccountNotFoundException", "You specified an account that doesn't exist."}
		case a.id == o.management():
			return nil, &orgError{"ConstraintViolationException", "You can't close the management account from Organizations."}
		}
		a.status = "SUSPENDED"
		return map[string]any{}, nil
	}
	return nil, &orgError{"UnknownOperationException", "Organizations " + op + " is not emulated by the local cloud"}
}

// delegate registers or deregisters a delegated administrator, which only
// the management account may do.
func (o *organization) delegate(register, manager bool, account, principal string, now time.Time) (any, error) {
	switch {
	case !manager:
		return nil, accessDenied()
	case principal == "":
		return nil, &orgError{"InvalidInputException", "ServicePrincipal is required."}
	case o.account(account) == nil:
		return nil, &orgError{"AccountNotFoundException", "You specified an account that doesn't exist."}
	case account == o.management():
		return nil, &orgError{"ConstraintViolationException", "You can't register the management account as a delegated administrator."}
	}
	have := !o.delegated[account][principal].IsZero()
	switch {
	case register && have:
		return nil, &orgError{"AccountAlreadyRegisteredException", "The provided account is already a delegated administrator for your organization."}
	case !register && !have:
		return nil, &orgError{"AccountNotRegisteredException", "The provided account is not a registered delegated administrator for your organization."}
	case register:
		if o.delegated[account] == nil {
			o.delegated[account] = map[string]time.Time{}
		}
		o.delegated[account][principal] = now
	default:
		delete(o.delegated[account], principal)
	}
	return map[string]any{}, nil
}

func earliest(m map[string]time.Time) time.Time {
	var first time.Time
	for _, t := range m {
		if first.IsZero() || t.Before(first) {
			first = t
		}
	}
	return first
}

func omitEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func writeOrg(w http.ResponseWriter, out any, err error) {
	status := http.StatusOK
	if err != nil {
		status, out = http.StatusBadRequest, err
	}
	body, merr := json.Marshal(out)
	if merr != nil {
		status, body = http.StatusInternalServerError, []byte(`{"__type":"ServiceException","Message":"encode the response"}`)
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-Requestid", requestID())
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
