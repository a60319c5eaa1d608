package orgscenario

import (
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/rotation-audit/rotation-audit/internal/dashboard"
	"github.com/rotation-audit/rotation-audit/internal/report"
	"github.com/rotation-audit/rotation-audit/internal/tables"
)

// Dashboard is the hub's dashboard as rotation-audit dashboard serves it,
// on the hub's tables at the clock given (the cloud's), with the
// template's default schedule.
func Dashboard(db report.Querier, hub Hub, stack string, now func() time.Time) http.Handler {
	s := &dashboard.Server{Store: &report.Store{DB: db, Table: tables.AuditTable(stack), RunsTable: hub.Runs, OrgTable: hub.Rows, UnitsTable: hub.Units},
		Stack: stack, Schedule: report.Schedule{Expression: "rate(1 hour)", Timezone: "UTC"}, Now: now}
	return s.Handler()
}

// CheckDashboard reads the dashboard as a person clicks through it and
// names each way it differs from scenario E's answer: the organization's
// page must list every account, and the accounts not reporting (exactly
// denied) each with AccessDenied; each reporting account's page must list
// its managed secrets once each (a replica once, by its primary), with
// its account and region, and link each by its ARN, so that a name in two
// accounts is two secrets with two pages.
func CheckDashboard(h http.Handler, secrets []Secret, denied []string) []string {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	page := func(target string) string {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, target, nil))
		if w.Code != http.StatusOK {
			bad("GET %s: %d", target, w.Code)
		}
		return w.Body.String()
	}
	want := map[string][]Secret{} // the reporting accounts' managed secrets
	accounts := slices.Clone(denied)
	for _, s := range secrets {
		if !slices.Contains(accounts, s.Account) {
			accounts = append(accounts, s.Account)
		}
		if s.Managed && !slices.Contains(denied, s.Account) {
			want[s.Account] = append(want[s.Account], s)
		}
	}

	org := page("/")
	notReporting := section(org, "not-reporting")
	for _, acct := range denied {
		row := rowOf(notReporting, acct)
		switch {
		case row == "":
			bad("the organization's page does not list %s as not reporting", acct)
		case !strings.Contains(row, "AccessDenied"):
			bad("the organization's page lists %s as not reporting without AccessDenied: %s", acct, row)
		}
	}
	for _, acct := range accounts {
		if !strings.Contains(section(org, "accounts"), `href="/?account=`+acct+`&amp;`) {
			bad("the organization's page does not link account %s", acct)
		}
	}

	secretPages := map[string]string{} // by href: the account whose page links it
	for _, acct := range sortedKeys(want) {
		body := page("/?account=" + acct)
		got := links(section(body, "grid"))
		for _, s := range want[acct] {
			n := 0
			for _, l := range got {
				if l.name == s.Name && strings.Contains(l.where, acct+" · "+s.Region) {
					n++
					secretPages[l.href] = acct
				}
			}
			if n != 1 {
				bad("account %s's page lists %s in %s %d times, want once", acct, s.Name, s.Region, n)
			}
		}
		if len(got) != len(want[acct]) {
			bad("account %s's page lists %d secrets, want %d", acct, len(got), len(want[acct]))
		}
	}
	for href, acct := range secretPages {
		if !strings.Contains(href, "/secret?arn=") {
			bad("the secret page %s is not keyed by its ARN", href)
		} else if body := page(href); !strings.Contains(body, "<dt>Account</dt><dd>"+acct+"</dd>") {
			bad("the page %s is not of a secret of account %s", href, acct)
		}
	}
	return problems
}

// section is the HTML of a page's section with that id.
func section(body, id string) string {
	_, after, _ := strings.Cut(body, `<section id="`+id+`"`)
	s, _, _ := strings.Cut(after, "</section>")
	return s
}

// rowOf is the table row of a fragment that holds s, as text.
func rowOf(fragment, s string) string {
	for _, tr := range regexp.MustCompile(`(?s)<tr>(.*?)</tr>`).FindAllStringSubmatch(fragment, -1) {
		if strings.Contains(tr[1], s) {
			return html.UnescapeString(regexp.MustCompile(`<[^>]*>`).ReplaceAllString(tr[1], " "))
		}
	}
	return ""
}

// secretLink is a secret as the grid of an account's page links it.
type secretLink struct{ href, name, where string }

// links are the secrets of a grid.
func links(grid string) []secretLink {
	var out []secretLink
	for _, m := range regexp.MustCompile(`<th scope="row" class="name"><a href="([^"]*)">([^<]*)</a>(?: <span class="where">([^<]*)</span>)?`).FindAllStringSubmatch(grid, -1) {
		out = append(out, secretLink{href: html.UnescapeString(m[1]), name: html.UnescapeString(m[2]), where: html.UnescapeString(m[3])})
	}
	return out
}
