package accounts

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// IAM for the accounts other than the default one (whose IAM is kumo's):
// what a member account's role template needs, roles with their trust
// policy, tags, inline policies and attached policy ARNs. Policies are
// stored, not evaluated: only trust policies decide anything here (in
// AssumeRole).

// iamAccount is one account's IAM.
type iamAccount struct {
	dir     *Directory // for the clock and random IDs
	account string
	roles   map[string]*iamRole // by name
}

type iamRole struct {
	name, path, id, arn string
	created             time.Time
	trust               string
	description         string
	maxSession          int
	tags                []iamTag
	inline              map[string]string // policy name -> document
	attached            []string          // policy ARNs
}

type iamTag struct {
	Key   string `xml:"Key"`
	Value string `xml:"Value"`
}

// roleXML is IAM's Role shape.
type roleXML struct {
	Path                     string   `xml:"Path"`
	RoleName                 string   `xml:"RoleName"`
	RoleID                   string   `xml:"RoleId"`
	Arn                      string   `xml:"Arn"`
	CreateDate               string   `xml:"CreateDate"`
	AssumeRolePolicyDocument string   `xml:"AssumeRolePolicyDocument"`
	Description              string   `xml:"Description,omitempty"`
	MaxSessionDuration       int      `xml:"MaxSessionDuration"`
	Tags                     []iamTag `xml:"Tags>member,omitempty"`
}

func (r *iamRole) xml() roleXML {
	return roleXML{
		Path: r.path, RoleName: r.name, RoleID: r.id, Arn: r.arn, CreateDate: isoTime(r.created),
		AssumeRolePolicyDocument: escapeDocument(r.trust), Description: r.description,
		MaxSessionDuration: r.maxSession, Tags: r.tags,
	}
}

var (
	roleNamePattern   = regexp.MustCompile(`^[\w+=,.@-]{1,64}$`)
	policyNamePattern = regexp.MustCompile(`^[\w+=,.@-]{1,128}$`)
	rolePathPattern   = regexp.MustCompile(`^/([\x21-\x7e]*/)?$`)
)

// iamOps are the IAM operations emulated for accounts other than the
// default one.
var iamOps = map[string]func(*iamAccount, url.Values) (any, error){
	"CreateRole":               (*iamAccount).createRole,
	"GetRole":                  (*iamAccount).getRole,
	"DeleteRole":               (*iamAccount).deleteRole,
	"ListRoles":                (*iamAccount).listRoles,
	"UpdateAssumeRolePolicy":   (*iamAccount).updateTrust,
	"TagRole":                  (*iamAccount).tagRole,
	"UntagRole":                (*iamAccount).untagRole,
	"ListRoleTags":             (*iamAccount).listRoleTags,
	"PutRolePolicy":            (*iamAccount).putRolePolicy,
	"GetRolePolicy":            (*iamAccount).getRolePolicy,
	"DeleteRolePolicy":         (*iamAccount).deleteRolePolicy,
	"ListRolePolicies":         (*iamAccount).listRolePolicies,
	"AttachRolePolicy":         (*iamAccount).attachRolePolicy,
	"DetachRolePolicy":         (*iamAccount).detachRolePolicy,
	"ListAttachedRolePolicies": (*iamAccount).listAttached,
}

// serveIAM answers one IAM request of account.
func (d *Directory) serveIAM(w http.ResponseWriter, account string, form url.Values) {
	action := form.Get("Action")
	op, ok := iamOps[action]
	if !ok {
		writeError(w, iamNS, &queryError{http.StatusBadRequest, "InvalidAction",
			fmt.Sprintf("IAM %s is not emulated for account %s (the local cloud's IAM of accounts other than %s has roles and their policies only)", action, account, DefaultAccount)})
		return
	}
	d.mu.Lock()
	a := d.iam[account]
	if a == nil {
		a = &iamAccount{dir: d, account: account, roles: map[string]*iamRole{}}
		d.iam[account] = a
	}
	out, err := op(a, form)
	d.mu.Unlock()
	if err != nil {
		writeError(w, iamNS, err.(*queryError))
		return
	}
	if out == struct{}{} {
		out = nil
	}
	writeResult(w, iamNS, action, out)
}

func noSuchRole(name string) error {
	return &queryError{http.StatusNotFound, "NoSuchEntity", fmt.Sprintf("The role with name %s cannot be found.", name)}
}

func invalid(msg string) error { return &queryError{http.StatusBadRequest, "ValidationError", msg} }

// checkDocument refuses a policy document that is no JSON object.
func checkDocument(doc string) error {
	var m map[string]any
	if doc == "" {
		return invalid("The policy document is required.")
	}
	if err := json.Unmarshal([]byte(doc), &m); err != nil {
		return &queryError{http.StatusBadRequest, "MalformedPolicyDocument", "Syntax errors in policy: " + err.Error()}
	}
	return nil
}

func (a *iamAccount) role(form url.Values) (*iamRole, error) {
	name := form.Get("RoleName")
	if name == "" {
		return nil, invalid("1 validation error detected: Value null at 'roleName' failed to satisfy constraint: Member must not be null")
	}
	r, ok := a.roles[name]
	if !ok {
		return nil, noSuchRole(name)
	}
	return r, nil
}

func tagsOf(form url.Values) []iamTag {
	var tags []iamTag
	for i := 1; ; i++ {
		p := "Tags.member." + strconv.Itoa(i)
		if _, ok := form[p+".Key"]; !ok {
			return tags
		}
		tags = append(tags, iamTag{Key: form.Get(p + ".Key"), Value: form.Get(p + ".Value")})
	}
}

func mergeTags(tags, add []iamTag) []iamTag {
	for _, t := range add {
		if i := slices.IndexFunc(tags, func(o iamTag) bool { return o.Key == t.Key }); i >= 0 {
			tags[i] = t
		} else {
			tags = append(tags, t)
		}
	}
	return tags
}

func (a *iamAccount) createRole(form url.Values) (any, error) {
	name, path := form.Get("RoleName"), form.Get("Path")
	if path == "" {
		path = "/"
	}
	switch {
	case !roleNamePattern.MatchString(name):
		return nil, invalid(fmt.Sprintf("Invalid role name %q: up to 64 letters, digits and +=,.@_-.", name))
	case !rolePathPattern.MatchString(path):
		return nil, invalid(fmt.Sprintf("Invalid path %q: it starts and ends with /.", path))
	case a.roles[name] != nil:
		return nil, &queryError{http.StatusConflict, "EntityAlreadyExists", fmt.Sprintf("Role with name %s already exists.", name)}
	}
	trust := form.Get("AssumeRolePolicyDocument")
	if err := checkDocument(trust); err != nil {
		return nil, err
	}
	maxSession := 3600
	if v := form.Get("MaxSessionDuration"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 3600 || n > 43200 {
			return nil, invalid("MaxSessionDuration must be between 3600 and 43200 seconds.")
		}
		maxSession = n
	}
	r := &iamRole{
		name: name, path: path, id: "AROA" + a.dir.randomID("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 17),
		arn: fmt.Sprintf("arn:aws:iam::%s:role%s%s", a.account, path, name), created: a.dir.now(),
		trust: trust, description: form.Get("Description"), maxSession: maxSession,
		tags: mergeTags(nil, tagsOf(form)), inline: map[string]string{},
	}
	a.roles[name] = r
	return struct {
		Role roleXML `xml:"Role"`
	}{r.xml()}, nil
}

func (a *iamAccount) getRole(form url.Values) (any, error) {
	r, err := a.role(form)
	if err != nil {
		return nil, err
	}
	return struct {
		Role roleXML `xml:"Role"`
	}{r.xml()}, nil
}

func (a *iamAccount) deleteRole(form url.Values) (any, error) {
	r, err := a.role(form)
	if err != nil {
		return nil, err
	}
	if len(r.inline) > 0 || len(r.attached) > 0 {
		return nil, &queryError{http.StatusConflict, "DeleteConflict", "Cannot delete entity, must delete policies first."}
	}
	delete(a.roles, r.name)
	return struct{}{}, nil
}

func (a *iamAccount) listRoles(form url.Values) (any, error) {
	prefix := form.Get("PathPrefix")
	var roles []roleXML
	for _, name := range slices.Sorted(maps.Keys(a.roles)) {
		if r := a.roles[name]; strings.HasPrefix(r.path, prefix) {
			roles = append(roles, r.xml())
		}
	}
	page, marker, err := pageOf(roles, form)
	if err != nil {
		return nil, err
	}
	return struct {
		Roles       []roleXML `xml:"Roles>member"`
		IsTruncated bool      `xml:"IsTruncated"`
		Marker      string    `xml:"Marker,omitempty"`
	}{page, marker != "", marker}, nil
}

// pageOf cuts a list at Marker (an index) and MaxItems (default 100).
func pageOf[T any](items []T, form url.Values) ([]T, string, error) {
	start, limit := 0, 100
	if m := form.Get("Marker"); m != "" {
		n, err := strconv.Atoi(m)
		if err != nil || n < 0 || n > len(items) {
			return nil, "", invalid("Invalid Marker.")
		}
		start = n
	}
	if v := form.Get("MaxItems"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return nil, "", invalid("MaxItems must be between 1 and 1000.")
		}
		limit = n
	}
	items = items[start:]
	if len(items) <= limit {
		return items, "", nil
	}
	return items[:limit], strconv.Itoa(start + limit), nil
}

func (a *iamAccount) updateTrust(form url.Values) (any, error) {
	r, err := a.role(form)
	if err != nil {
		return nil, err
	}
	doc := form.Get("PolicyDocument")
	if err := checkDocument(doc); err != nil {
		return nil, err
	}
	r.trust = doc
	return struct{}{}, nil
}

func (a *iamAccount) tagRole(form url.Values) (any, error) {
	r, err := a.role(form)
	if err != nil {
		return nil, err
	}
	r.tags = mergeTags(r.tags, tagsOf(form))
	return struct{}{}, nil
}

func (a *iamAccount) untagRole(form url.Values) (any, error) {
	r, err := a.role(form)
	if err != nil {
		return nil, err
	}
	keys := members(form, "TagKeys")
	r.tags = slices.DeleteFunc(r.tags, func(t iamTag) bool { return slices.Contains(keys, t.Key) })
	return struct{}{}, nil
}

func (a *iamAccount) listRoleTags(form url.Values) (any, error) {
	r, err := a.role(form)
	if err != nil {
		return nil, err
	}
	return struct {
		Tags        []iamTag `xml:"Tags>member"`
		IsTruncated bool     `xml:"IsTruncated"`
	}{Tags: r.tags}, nil
}

func (a *iamAccount) putRolePolicy(form url.Values) (any, error) {
	r, err := a.role(form)
	if err != nil {
		return nil, err
	}
	name, doc := form.Get("PolicyName"), form.Get("PolicyDocument")
	if !policyNamePattern.MatchString(name) {
		return nil, invalid(fmt.Sprintf("Invalid policy name %q.", name))
	}
	if err := checkDocument(doc); err != nil {
		return nil, err
	}
	r.inline[name] = doc
	return struct{}{}, nil
}

func (a *iamAccount) getRolePolicy(form url.Values) (any, error) {
	r, err := a.role(form)
	if err != nil {
		return nil, err
	}
	name := form.Get("PolicyName")
	doc, ok := r.inline[name]
	if !ok {
		return nil, &queryError{http.StatusNotFound, "NoSuchEntity", fmt.Sprintf("The role policy with name %s cannot be found.", name)}
	}
	return struct {
		RoleName       string `xml:"RoleName"`
		PolicyName     string `xml:"PolicyName"`
		PolicyDocument string `xml:"PolicyDocument"`
	}{r.name, name, escapeDocument(doc)}, nil
}

func (a *iamAccount) deleteRolePolicy(form url.Values) (any, error) {
	r, err := a.role(form)
	if err != nil {
		return nil, err
	}
	name := form.Get("PolicyName")
	if _, ok := r.inline[name]; !ok {
		return nil, &queryError{http.StatusNotFound, "NoSuchEntity", fmt.Sprintf("The role policy with name %s cannot be found.", name)}
	}
	delete(r.inline, name)
	return struct{}{}, nil
}

func (a *iamAccount) listRolePolicies(form url.Values) (any, error) {
	r, err := a.role(form)
	if err != nil {
		return nil, err
	}
	page, marker, err := pageOf(slices.Sorted(maps.Keys(r.inline)), form)
	if err != nil {
		return nil, err
	}
	return struct {
		PolicyNames []string `xml:"PolicyNames>member"`
		IsTruncated bool     `xml:"IsTruncated"`
		Marker      string   `xml:"Marker,omitempty"`
	}{page, marker != "", marker}, nil
}

func (a *iamAccount) attachRolePolicy(form url.Values) (any, error) {
	r, err := a.role(form)
	if err != nil {
		return nil, err
	}
	arn := form.Get("PolicyArn")
	if !strings.HasPrefix(arn, "arn:aws:iam::") || !strings.Contains(arn, ":policy/") {
		return nil, invalid(fmt.Sprintf("ARN %s is not valid.", arn))
	}
	if !slices.Contains(r.attached, arn) {
		r.attached = append(r.attached, arn)
	}
	return struct{}{}, nil
}

func (a *iamAccount) detachRolePolicy(form url.Values) (any, error) {
	r, err := a.role(form)
	if err != nil {
		return nil, err
	}
	arn := form.Get("PolicyArn")
	if !slices.Contains(r.attached, arn) {
		return nil, &queryError{http.StatusNotFound, "NoSuchEntity", fmt.Sprintf("Policy %s was not found.", arn)}
	}
	r.attached = slices.DeleteFunc(r.attached, func(s string) bool { return s == arn })
	return struct{}{}, nil
}

func (a *iamAccount) listAttached(form url.Values) (any, error) {
	r, err := a.role(form)
	if err != nil {
		return nil, err
	}
	type attached struct {
		PolicyName string `xml:"PolicyName"`
		PolicyArn  string `xml:"PolicyArn"`
	}
	var list []attached
	for _, arn := range r.attached {
		list = append(list, attached{roleName(arn), arn})
	}
	return struct {
		AttachedPolicies []attached `xml:"AttachedPolicies>member"`
		IsTruncated      bool       `xml:"IsTruncated"`
	}{AttachedPolicies: list}, nil
}

// lookupRole finds a role of an account other than the default one.
func (d *Directory) lookupRole(account, name string) (Role, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	a := d.iam[account]
	if a == nil || a.roles[name] == nil {
		return Role{}, false
	}
	r := a.roles[name]
	return Role{ARN: r.arn, ID: r.id, TrustPolicy: r.trust, MaxSession: time.Duration(r.maxSession) * time.Second}, true
}
