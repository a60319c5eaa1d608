package dashboard

import (
	"cmp"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/rotation-audit/rotation-audit/internal/audit"
	"github.com/rotation-audit/rotation-audit/internal/report"
)

// Dates and times are shown in UTC, as the audit stores them.
const (
	dateLayout = "2006-01-02"
	timeLayout = "2006-01-02 15:04 UTC"
)

// layout is what every page shares: the title, the quarter navigation and
// the footer.
type layout struct {
	Title, Stack, Quarter, Generated string
	Tables                           string // what the pages read
	Nav                              []link
}

// link is a labelled href.
type link struct {
	Label, Href string
	Current     bool
}

// layout returns the shared part of a page of quarter q at path; prev and
// next say whether to link the quarters around it (and the current one,
// for a page other than the dashboard). Error pages pass a zero now and
// get no navigation.
func (s *Server) layout(title, path, q string, now time.Time, prev, next bool) layout {
	l := layout{Title: title + " · " + s.Stack + " rotation audit", Stack: s.Stack, Quarter: q,
		Tables: s.Store.Table + " and " + s.Store.RunsTable}
	if now.IsZero() {
		return l
	}
	l.Generated = now.Format(timeLayout)
	from, to, _ := report.Quarter(q)
	if prev {
		p := report.QuarterOf(from.AddDate(0, -3, 0))
		l.Nav = append(l.Nav, link{Label: "← " + p, Href: withQuarter(path, p)})
	}
	l.Nav = append(l.Nav, link{Label: q, Href: withQuarter(path, q), Current: true})
	if next && !to.After(now) {
		l.Nav = append(l.Nav, link{Label: report.QuarterOf(to) + " →", Href: withQuarter(path, report.QuarterOf(to))})
	}
	if cur := report.QuarterOf(now); q != cur && report.QuarterOf(to) != cur && (next || path == "/") {
		l.Nav = append(l.Nav, link{Label: "Now (" + cur + ")", Href: path})
	}
	return l
}

// indexData is what the dashboard of a period is made from.
type indexData struct {
	now      time.Time
	quarter  string
	latest   *audit.RunEntry // the newest complete run at or before now; nil for none
	ahead    *audit.RunEntry // a complete run dated after now, left out; nil for none
	flagged  []audit.Record  // the latest run's rows needing rotation, in the report's order
	missed   int             // scheduled runs since the latest
	disabled bool            // the schedule is disabled now
	history  report.History
	// filter keeps the secrets whose name holds it (any case); page and
	// flaggedPage are the pages of the grid and of the flagged list.
	filter            string
	page, flaggedPage int
	// account is ?account=: one account's page of an organization run;
	// org is the run's accounts (nil for a single-account run), acct the
	// account's own.
	account string
	org     *orgRun
	acct    *report.Account
	// missingPage and accountsPage are the pages of the organization's
	// accounts not reporting and of every account.
	missingPage, accountsPage int
	// secretsRead: the history's secrets were read (the organization's
	// page does not need them).
	secretsRead bool
}

// path is the page's own address, without its quarter.
func (v indexData) path() string {
	if v.account != "" {
		return "/?account=" + v.account
	}
	return "/"
}

// href is the page of its quarter, filter and account at the pages given.
func (v indexData) href(page, flaggedPage int) string {
	return indexHref(v.quarter, v.filter, v.account, page, flaggedPage)
}

// indexPage is the dashboard of a period.
type indexPage struct {
	layout
	Period string
	NoRuns bool
	Run    runSummary
	Banner string
	Ahead  string // a run dated after now, left out
	Filter string
	// Account is the account of an organization's account page, with its
	// Regions and why it is NotReporting (empty when it reports); Org is
	// set for such a page; Home links the organization's page, Clear the
	// account's page without the filter.
	Account, Regions, NotReporting string
	Org                            bool
	Home, Clear                    string
	Flagged                        []flaggedRow
	// FlaggedPages and GridPages say which page of each list is shown
	// and link the others.
	FlaggedPages, GridPages pager
	Chart                   chart
	Grid                    grid
	Lines                   []line
	Downloads               downloads
}

// download is one download in each format.
type download struct {
	Label string
	Links []link
}

// downloads are a page's downloads: the last run's report (none before
// the first run) and the quarter's history, of one account when set; of
// is what they hold, for the heading ("every account", "account ...").
type downloads struct {
	Of   string
	List []download
}

// newDownloads lists a page's downloads.
func newDownloads(noRuns bool, q, account, of string) downloads {
	formats := func(path string, v url.Values) []link {
		var links []link
		for _, f := range downloadFormats {
			href := path + "." + f.Ext()
			if len(v) > 0 {
				href += "?" + v.Encode()
			}
			links = append(links, link{Label: strings.ToUpper(f.Ext()), Href: href})
		}
		return links
	}
	params := func(pairs ...string) url.Values {
		v := url.Values{}
		if account != "" {
			v.Set("account", account)
		}
		for i := 0; i < len(pairs); i += 2 {
			v.Set(pairs[i], pairs[i+1])
		}
		return v
	}
	d := downloads{Of: of}
	if !noRuns {
		d.List = append(d.List,
			download{"Report of the last run (secrets needing rotation)", formats("/report", params())},
			download{"Report of the last run (every secret)", formats("/report", params("all", "1"))})
	}
	d.List = append(d.List, download{"Evidence for " + q + " (history)", formats("/history", params("quarter", q))})
	return d
}

// pager is where a page is in its list: what it shows, and the pages
// before and after it (empty when there is none).
type pager struct {
	Label, Prev, Next string
}

// runSummary is the header's account of the latest complete run.
type runSummary struct {
	ID, At, Ago              string
	Checked, Flagged, MaxAge int
}

// flaggedRow is one secret needing rotation now.
type flaggedRow struct {
	Name, Href, Age, Basis, BasisDate, Rotation, Owner, Since string
	Account, Region                                           string // an organization's
}

// line is one line of the period's summary; Warn marks a gap.
type line struct {
	Text string
	Warn bool
}

// indexPage prepares the dashboard of a period: a single-account
// stack's, or one account's of an organization run.
func (s *Server) indexPage(v indexData) indexPage {
	h := v.history
	secrets := matching(h.Secrets, v.filter, func(sh report.SecretHistory) string { return sh.Name })
	shown, gridPages := paged(secrets, v.page, "secrets", func(page int) string { return v.href(page, v.flaggedPage) })
	title := "Dashboard " + v.quarter
	if v.account != "" {
		title = "Account " + v.account + " " + v.quarter
	}
	p := indexPage{
		layout: s.layout(title, v.path(), v.quarter, v.now, true, true),
		Period: h.Period(), NoRuns: v.latest == nil, Chart: newChart(h), Grid: newGrid(h, v.quarter, shown),
		Filter: v.filter, GridPages: gridPages, Account: v.account, Org: v.org != nil,
	}
	p.Downloads = newDownloads(v.latest == nil, v.quarter, v.account, "")
	if v.account != "" {
		p.Downloads.Of = "account " + v.account
	}
	if v.org != nil {
		p.Tables = s.orgTables()
		p.Home = withQuarter("/", v.quarter)
		p.Clear = accountHref(v.quarter, v.account)
	}
	for _, l := range h.Lines() {
		p.Lines = append(p.Lines, line{Text: l, Warn: strings.HasPrefix(l, "gap:")})
	}
	p.Banner, p.Ahead = s.banners(v)
	if v.latest == nil {
		return p
	}
	run := *v.latest
	p.Run = summary(run, v.now)
	p.Banner = s.stopped(v, p.Run, p.Banner)
	if v.acct != nil {
		p.Run.Checked, p.Run.Flagged = v.acct.Checked, v.acct.Flagged
		p.Regions = regionsOf(*v.acct)
		p.NotReporting = v.acct.Reason()
	}
	flagged := matching(v.flagged, v.filter, func(r audit.Record) string { return r.SecretName })
	rows, flaggedPages := paged(flagged, v.flaggedPage, "secrets needing rotation", func(page int) string { return v.href(v.page, page) })
	p.FlaggedPages = flaggedPages
	// The history says since when a secret is flagged, if it ends with this run.
	key := func(r audit.Record) string { return r.SecretName }
	if v.org != nil {
		key = func(r audit.Record) string { return r.SecretARN } // a secret is its ARN
	}
	since := map[string]time.Time{}
	if lastJudged(h.Days) == run.RunID {
		keys := map[string]bool{}
		for _, r := range rows {
			keys[key(r)] = true
		}
		for _, sh := range h.Secrets {
			if k := cmp.Or(sh.ARN, sh.Name); keys[k] {
				since[k] = sh.FlaggedSince
			}
		}
	}
	for _, r := range rows {
		f := flaggedRow{Name: r.SecretName, Href: secretHref(r.SecretName, v.quarter), Age: ageText(r),
			Basis: words(string(r.Basis)), BasisDate: dateOf(r.BasisDate), Rotation: pick(r.RotationEnabled, "on", "off"),
			Owner: cmp.Or(r.OwningService, "—"), Since: "—"}
		if v.org != nil {
			f.Href = withQuarter(arnPath(r.SecretARN), v.quarter)
			f.Account, f.Region = report.Where(r)
		}
		if t := since[key(r)]; !t.IsZero() {
			f.Since = t.Format(dateLayout)
			if t.Equal(h.From) {
				f.Since += " or earlier" // the evidence starts with the period
			}
		}
		p.Flagged = append(p.Flagged, f)
	}
	return p
}

// banners are what a page says above all: the schedule is disabled, and a
// run dated after now was left out.
func (s *Server) banners(v indexData) (banner, ahead string) {
	if v.ahead != nil {
		ahead = fmt.Sprintf("A complete run dated %s (%s) is after now, so it is left out: the latest run shown is the newest at or before now.",
			timeOf(v.ahead.CheckedAt), v.ahead.RunID)
	}
	if v.disabled {
		banner = fmt.Sprintf("The schedule %s is disabled, so no run is due until it is enabled again.", s.ScheduleName)
	}
	return banner, ahead
}

// summary is the header's account of the latest complete run.
func summary(run audit.RunEntry, now time.Time) runSummary {
	at, _ := time.Parse(time.RFC3339, run.CheckedAt)
	return runSummary{ID: run.RunID, At: at.UTC().Format(timeLayout), Ago: report.Ago(at, now),
		Checked: run.Checked, Flagged: run.Flagged, MaxAge: run.MaxAgeDays}
}

// stopped is the banner once runs have stopped: the disabled schedule's
// with the last run, or the runs missed since it.
func (s *Server) stopped(v indexData, run runSummary, banner string) string {
	switch {
	case v.disabled:
		banner += fmt.Sprintf(" The last complete run was at %s (%s).", run.At, run.Ago)
	case v.missed >= 2:
		n := strconv.Itoa(v.missed)
		if v.missed >= maxMissed {
			n += " or more"
		}
		banner = fmt.Sprintf("No run has completed since %s (%s), though the schedule %s was due %s times since. "+
			"Check the function's logs and the dead-letter queue %s-dlq.", run.At, run.Ago, s.Schedule.Expression, n, s.Stack)
	}
	return banner
}

// regionsOf are an account's regions, in order.
func regionsOf(a report.Account) string {
	regions := make([]string, len(a.Units))
	for i, u := range a.Units {
		regions[i] = u.Region
	}
	return strings.Join(regions, ", ")
}

// matching keeps the items whose name holds filter, in any case; all of
// them for an empty filter.
func matching[T any](items []T, filter string, name func(T) string) []T {
	if filter == "" {
		return items
	}
	filter = strings.ToLower(filter)
	var out []T
	for _, it := range items {
		if strings.Contains(strings.ToLower(name(it)), filter) {
			out = append(out, it)
		}
	}
	return out
}

// paged is one page of pageSize items (the last page for a page past
// it), and its pager; href links a page.
func paged[T any](items []T, page int, what string, href func(page int) string) ([]T, pager) {
	pages := max(1, (len(items)+pageSize-1)/pageSize)
	page = min(page, pages)
	from, to := (page-1)*pageSize, min(page*pageSize, len(items))
	p := pager{}
	if pages > 1 {
		p.Label = fmt.Sprintf("%s %d to %d of %d (page %d of %d)", what, from+1, to, len(items), page, pages)
	}
	if page > 1 {
		p.Prev = href(page - 1)
	}
	if page < pages {
		p.Next = href(page + 1)
	}
	return items[from:to], p
}

// indexHref is the dashboard of a quarter, filtered, of an account (none:
// the stack's), at the pages given.
func indexHref(q, filter, account string, page, flaggedPage int) string {
	v := url.Values{"quarter": {q}}
	if account != "" {
		v.Set("account", account)
	}
	if filter != "" {
		v.Set("q", filter)
	}
	if page > 1 {
		v.Set("page", strconv.Itoa(page))
	}
	if flaggedPage > 1 {
		v.Set("fpage", strconv.Itoa(flaggedPage))
	}
	return "/?" + v.Encode()
}

// lastJudged is the run that judged the last day with one.
func lastJudged(days []report.Day) string {
	for i := len(days) - 1; i >= 0; i-- {
		if days[i].RunID != "" {
			return days[i].RunID
		}
	}
	return ""
}

// secretPage is one secret over a period.
type secretPage struct {
	layout
	Name, Period string
	// Home is the dashboard; for an organization's secret, Account is its
	// account, whose page AccountHref is.
	Home, Account, AccountHref string
	Status                     string
	Flagged                    bool
	Facts                      []fact
	Strip                      grid
	Rows                       []rowView
	Note, More                 string // More links every row of the period
}

// fact is one labelled value about a secret.
type fact struct{ Label, Value string }

// rowView is one audit row, formatted.
type rowView struct {
	Run, CheckedAt, Status, StatusClass, Reason, Age, Basis, BasisDate, Rotation, Overdue, Unused string
}

// secretData is what a secret's page is made from.
type secretData struct {
	// name is the secret's; path its page, by name or, for an
	// organization's secret (org), by ARN.
	name, quarter, path string
	org                 bool
	from, to, now       time.Time
	// rows are its latest rows in the period, newest first: all of them
	// with all, else at most maxSecretRows; total and flaggedRows count
	// every row, first and last are the oldest and the newest.
	rows               []audit.Record
	all                bool
	total, flaggedRows int
	first, last        audit.Record
	daily              map[string]audit.Status // each day's (2006-01-02) last status
	judged             map[string]bool         // the days with a complete run
	seenBefore         bool                    // rows on the days around the period
	seenAfter          bool
}

// secretPage prepares one secret's page.
func (s *Server) secretPage(v secretData) secretPage {
	h := report.History{From: v.from, To: v.to, Until: v.to}
	if v.now.Before(v.to) {
		h.Until = v.now
	}
	first, last := v.first, v.last
	p := secretPage{
		layout: s.layout(v.name, v.path, v.quarter, v.now, v.seenBefore, v.seenAfter),
		Name:   v.name, Period: h.Period(), Status: statusWords(last.Status), Flagged: last.Flagged(),
		Strip: newStrip(v.name, withQuarter(v.path, v.quarter), v.from, h.Until, v.daily, v.judged),
		Home:  "/",
	}
	p.Facts = []fact{
		{"Age", ageText(last) + " (threshold " + strconv.Itoa(last.MaxAgeDays) + " days)"},
		{"Basis", words(string(last.Basis)) + " " + dateOf(last.BasisDate)},
		{"Reason", words(string(last.Reason))},
		{"Rotation", pick(last.RotationEnabled, "on", "off") + rotationDetail(last)},
		{"Owning service", cmp.Or(last.OwningService, "—")},
		{"Rows in period", fmt.Sprintf("%d, %d of them needing rotation", v.total, v.flaggedRows)},
		{"Seen", dateOf(first.CheckedAt) + " to " + dateOf(last.CheckedAt)},
	}
	if v.org {
		account, region := report.Where(last)
		p.Tables = s.orgTables()
		p.Home, p.Account, p.AccountHref = withQuarter("/", v.quarter), account, accountHref(v.quarter, account)
		p.Facts = append([]fact{{"Account", account}, {"Region", region}, {"ARN", last.SecretARN}}, p.Facts...)
	}
	if len(v.rows) < v.total {
		p.Note = fmt.Sprintf("Showing the latest %d of the %d rows in this period; the day-by-day strip above covers all of it.", len(v.rows), v.total)
		p.More = withQuarter(v.path, v.quarter) + "&rows=all"
	}
	for _, r := range v.rows {
		p.Rows = append(p.Rows, rowView{Run: r.RunID, CheckedAt: timeOf(r.CheckedAt), Status: statusWords(r.Status),
			StatusClass: statusClass(r.Status), Reason: words(string(r.Reason)), Age: ageText(r),
			Basis: words(string(r.Basis)), BasisDate: dateOf(r.BasisDate), Rotation: pick(r.RotationEnabled, "on", "off"),
			Overdue: pick(r.RotationOverdue, "yes", "no"), Unused: pick(r.Unused, "yes", "no")})
	}
	return p
}

// rotationDetail is the rotation's interval and next date, when set.
func rotationDetail(r audit.Record) string {
	var parts []string
	if r.RotationIntervalDays > 0 {
		parts = append(parts, "every "+strconv.Itoa(r.RotationIntervalDays)+" days")
	}
	if r.NextRotationDate != "" {
		parts = append(parts, "next "+dateOf(r.NextRotationDate))
	}
	if r.RotationOverdue {
		parts = append(parts, "overdue")
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

// errorPage says what went wrong and what is wanted.
type errorPage struct {
	layout
	Status           int
	Heading, Message string
}

// secretPath is a secret's page. The name is a query parameter: a name
// may hold slashes, start with one, or be . or .., which a path would
// lose to the router's or the browser's cleaning.
func secretPath(name string) string { return "/secret?name=" + url.QueryEscape(name) }

// arnPath is an organization's secret's page: a secret is its ARN, as one
// name may be several secrets in several accounts and regions.
func arnPath(arn string) string { return "/secret?arn=" + url.QueryEscape(arn) }

// secretHref is a secret's page for a quarter (none: the current one).
func secretHref(name, q string) string {
	if q == "" {
		return secretPath(name)
	}
	return withQuarter(secretPath(name), q)
}

// withQuarter is a page of a quarter.
func withQuarter(path, q string) string {
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	return path + sep + "quarter=" + url.QueryEscape(q)
}

// ageText is a row's age from its basis date to its check, in whole days
// and hours: the status follows the exact time, so a row flagged at 30
// whole days (age_days) shows 30 d 23 h. A row missing either date shows
// its whole days, and one without an age (not judged) a dash.
func ageText(r audit.Record) string {
	if r.AgeDays == nil {
		return "—"
	}
	basis, err := time.Parse(time.RFC3339, r.BasisDate)
	checked, err2 := time.Parse(time.RFC3339, r.CheckedAt)
	if d := checked.Sub(basis); err == nil && err2 == nil && d >= 0 && int(d/day) == *r.AgeDays {
		return fmt.Sprintf("%d d %d h", *r.AgeDays, int(d%day/time.Hour))
	}
	if *r.AgeDays == 1 {
		return "1 day"
	}
	return strconv.Itoa(*r.AgeDays) + " days"
}

// dateOf is the date of an RFC 3339 time, or a dash.
func dateOf(rfc3339 string) string {
	if t, err := time.Parse(time.RFC3339, rfc3339); err == nil {
		return t.UTC().Format(dateLayout)
	}
	return cmp.Or(rfc3339, "—")
}

// timeOf is an RFC 3339 time to the minute, in UTC.
func timeOf(rfc3339 string) string {
	if t, err := time.Parse(time.RFC3339, rfc3339); err == nil {
		return t.UTC().Format(timeLayout)
	}
	return cmp.Or(rfc3339, "—")
}

// statusWords is a status for people; a row without one is a tombstone:
// the secret was gone from that run.
func statusWords(s audit.Status) string {
	if s == "" {
		return "gone"
	}
	return words(string(s))
}

// words is a value such as older_than_max_age for people.
func words(s string) string { return strings.ReplaceAll(s, "_", " ") }

// pick is yes when b holds, else no.
func pick(b bool, yes, no string) string {
	if b {
		return yes
	}
	return no
}
