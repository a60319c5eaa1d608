package dashboard

// An organization hub's pages: the organization's first page (its
// accounts, reporting or not) and one account's page (today's first page,
// limited to that account's secrets).

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/rotation-audit/rotation-audit/internal/audit"
	"github.com/rotation-audit/rotation-audit/internal/report"
)

// orgRun is what an organization run's pages share, read once per run:
// its accounts by ID, and the same in the order the first page lists
// them, not reporting first.
type orgRun struct {
	units []report.Unit
	org   *report.Organization
	// listed are the accounts not reporting first, then the most flagged,
	// then by ID; notReporting are those not reporting, by ID.
	listed, notReporting []report.Account
}

// organization is an organization run's accounts: one Query of the units
// table, paged, once per run for every request until the next run.
func (s *Server) organization(ctx context.Context, store *report.Store, run audit.RunEntry) (*orgRun, error) {
	v, err := s.work.value(ctx, "org", run.RunID, func(ctx context.Context) (any, error) {
		units, err := store.Units(ctx, run.RunID)
		if err != nil {
			return nil, err
		}
		org, err := report.NewOrganization(units, "")
		if err != nil {
			return nil, err
		}
		o := &orgRun{units: units, org: org, listed: slices.Clone(org.Accounts), notReporting: org.NotReporting()}
		slices.SortStableFunc(o.listed, func(a, b report.Account) int {
			if a.Reporting() != b.Reporting() {
				if a.Reporting() {
					return 1
				}
				return -1
			}
			return cmp.Compare(b.Flagged, a.Flagged) // then by ID, as NewOrganization sorted them
		})
		return o, nil
	})
	if err != nil {
		return nil, fmt.Errorf("read the units of run %s: %w", run.RunID, err)
	}
	return v.(*orgRun), nil
}

// account is one account of the run, or a 404 when the run did not expect it.
func (o *orgRun) account(id string, run audit.RunEntry) (report.Account, error) {
	i, ok := slices.BinarySearchFunc(o.org.Accounts, id, func(a report.Account, id string) int { return cmp.Compare(a.AccountID, id) })
	if !ok {
		return report.Account{}, &statusError{http.StatusNotFound, "No such account in the latest run",
			fmt.Errorf("run %s did not audit account %s: the organization page lists every account it expected", run.RunID, id)}
	}
	return o.org.Accounts[i], nil
}

// accountFlagged are one account's rows of a run that need rotation, in
// the report's order: one Query of the by-account index, shared by the
// requests for that account until another account or run is asked for.
func (s *Server) accountFlagged(ctx context.Context, store *report.Store, run audit.RunEntry, account string) ([]audit.Record, error) {
	rows, err := s.work.value(ctx, "account", run.RunID+"/"+account, func(ctx context.Context) (any, error) {
		rows, err := store.AccountRows(ctx, account, run.RunID)
		if err != nil {
			return nil, err
		}
		return report.NewReport(s.Stack, run, rows, false).Rows, nil
	})
	if err != nil {
		return nil, fmt.Errorf("read the rows of account %s in run %s: %w", account, run.RunID, err)
	}
	return rows.([]audit.Record), nil
}

// accountParam reads ?account=, empty when absent: twelve digits, or a 400.
func accountParam(r *http.Request) (string, error) {
	id := r.URL.Query().Get("account")
	if id == "" {
		return "", nil
	}
	if err := report.ValidAccount(id); err != nil {
		return "", &statusError{http.StatusBadRequest, "Not an account ID", fmt.Errorf("?account=: %w", err)}
	}
	return id, nil
}

// notOrganization is the 400 for ?account= on a single-account run.
func notOrganization(account string, run audit.RunEntry) error {
	return &statusError{http.StatusBadRequest, "Not an organization",
		fmt.Errorf("?account=%s: the latest run %s is a single-account run; ?account= is for an organization hub (a stack deployed with Accounts)", account, run.RunID)}
}

// orgPage is an organization run's first page.
type orgPage struct {
	layout
	Period string
	Run    runSummary
	Banner string
	Ahead  string
	// Expected, Reporting and NotReporting count the run's accounts;
	// Units and UnitsFailed its accounts and regions.
	Expected, Reporting, NotReporting int
	Units, UnitsFailed                int
	// Missing are the accounts not reporting, Accounts every account, a
	// page of each.
	Missing                   []accountRow
	Accounts                  []accountRow
	MissingPages, AccountPage pager
	Chart                     chart
	Lines                     []line
	Downloads                 downloads
}

// accountRow is one account of the organization's page.
type accountRow struct {
	ID, Href, Regions, Reason string
	Reporting                 bool
	Missing                   string // how many regions have no result, for one not reporting
	Checked, Flagged          int
}

// orgPage prepares an organization run's first page.
func (s *Server) orgPage(v indexData) orgPage {
	h := v.history
	p := orgPage{layout: s.layout("Organization "+v.quarter, "/", v.quarter, v.now, true, true), Period: h.Period(), Chart: newChart(h)}
	p.Tables = s.orgTables()
	p.Banner, p.Ahead = s.banners(v)
	p.Run = summary(*v.latest, v.now)
	p.Banner = s.stopped(v, p.Run, p.Banner)
	for _, l := range h.Lines() {
		if !v.secretsRead && strings.HasPrefix(l, "secrets: ") {
			continue // not read for this page: each account's page says it
		}
		p.Lines = append(p.Lines, line{Text: l, Warn: strings.HasPrefix(l, "gap:")})
	}
	p.Downloads = newDownloads(false, v.quarter, "", "every account")
	o := v.org
	p.Expected, p.NotReporting = len(o.org.Accounts), len(o.notReporting)
	p.Reporting = p.Expected - p.NotReporting
	p.Units, p.UnitsFailed = v.latest.UnitsExpected, v.latest.UnitsFailed
	row := func(a report.Account) accountRow {
		r := accountRow{ID: a.AccountID, Href: accountHref(v.quarter, a.AccountID), Regions: regionsOf(a), Reporting: a.Reporting(),
			Reason: a.Reason(), Checked: a.Checked, Flagged: a.Flagged}
		if n := len(a.Missing()); n > 0 {
			r.Missing = fmt.Sprintf("%d of %d regions without a result", n, len(a.Units))
		}
		return r
	}
	missing, missingPages := paged(o.notReporting, v.missingPage, "accounts not reporting",
		func(page int) string { return orgHref(v.quarter, page, v.accountsPage) })
	accounts, accountPages := paged(o.listed, v.accountsPage, "accounts",
		func(page int) string { return orgHref(v.quarter, v.missingPage, page) })
	p.MissingPages, p.AccountPage = missingPages, accountPages
	for _, a := range missing {
		p.Missing = append(p.Missing, row(a))
	}
	for _, a := range accounts {
		p.Accounts = append(p.Accounts, row(a))
	}
	return p
}

// orgTables are what an organization hub's pages read.
func (s *Server) orgTables() string {
	return s.Store.OrgTable + ", " + s.Store.UnitsTable + " and " + s.Store.RunsTable
}

// accountHref is one account's page for a quarter.
func accountHref(q, account string) string { return withQuarter("/?account="+account, q) }

// orgHref is the organization's page of a quarter at the pages given of
// the accounts not reporting and of every account.
func orgHref(q string, missingPage, accountsPage int) string {
	href := "/?quarter=" + q
	if missingPage > 1 {
		href += fmt.Sprintf("&npage=%d", missingPage)
	}
	if accountsPage > 1 {
		href += fmt.Sprintf("&apage=%d", accountsPage)
	}
	return href
}
