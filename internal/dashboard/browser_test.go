package dashboard

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/matryer/is"
)

// screenshot is where the browser test saves the dashboard, from this
// package's directory: the module's bin/.
const screenshot = "../../bin/dashboard.png"

// chromium is the path of a Chromium on PATH, or empty.
func chromium() string {
	for _, name := range []string{"chromium", "chromium-browser"} {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	return ""
}

// browser starts a headless Chromium of the test's own that reaches no
// host but the test servers, and returns a tab in it.
func browser(t *testing.T) context.Context {
	t.Helper()
	path := chromium()
	if path == "" {
		t.Skip("chromium is not installed (.ci/run installs it: apt-get install chromium)")
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	ctx, cancelTab := chromedp.NewContext(alloc)
	ctx, cancelTimeout := context.WithTimeout(ctx, time.Minute)
	t.Cleanup(func() { cancelTimeout(); cancelTab(); cancelAlloc() }) // before TempDir's removal
	return ctx
}

// run runs one browser action and fails the test on an error.
func run[T any](t *testing.T, ctx context.Context, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// What a person sees in a real browser: the flagged secrets, the grid, the
// banner once runs stop, links that all work; and a screenshot of it.
func TestBrowser(t *testing.T) {
	is := is.New(t)
	ctx := browser(t)
	ts := httptest.NewServer(server(nil).Handler())
	defer ts.Close()

	is.NoErr(chromedp.Do(ctx, chromedp.Navigate(ts.URL+"/")))
	names := run(t, ctx, chromedp.Evaluate[[]string](
		`[...document.querySelectorAll('#needs-rotation tbody tr td:first-child')].map(td => td.innerText.trim())`))
	is.Equal(names, flagged) // the table a person reads, oldest first, then by name
	since := run(t, ctx, chromedp.Text(chromedp.CSS("#needs-rotation tbody tr td:last-child")))
	is.Equal(since, "2026-10-31")                                                                // the first run more than 30 days (elapsed) after the secrets were created
	is.True(!run(t, ctx, chromedp.Evaluate[bool](`document.querySelector('.banner') !== null`))) // runs are recent

	secrets := len(flagged) + len(okNow)
	days := int(now().UTC().Truncate(24*time.Hour).Sub(start)/(24*time.Hour)) + 1
	cells := run(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll('#grid rect.cell').length`))
	is.Equal(cells, secrets*days) // a cell per secret and day so far
	is.Equal(run(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll('#per-day svg g rect').length`)) > 0, true)

	is.True(linksAnswer(t, ctx) > 12) // navigation, secrets, downloads, the stylesheet

	png := run(t, ctx, chromedp.FullScreenshot(100))
	is.NoErr(os.MkdirAll(filepath.Dir(screenshot), 0o755))
	is.NoErr(os.WriteFile(screenshot, png, 0o644))

	is.NoErr(chromedp.Do(ctx, chromedp.Navigate(ts.URL+"/secret?name=dash/api/token")))
	heading := run(t, ctx, chromedp.Text(chromedp.CSS("h1")))
	is.True(strings.HasPrefix(heading, "dash/api/token"))
	linksAnswer(t, ctx)
	png = run(t, ctx, chromedp.FullScreenshot(100))
	is.NoErr(os.WriteFile(strings.TrimSuffix(screenshot, ".png")+"-secret.png", png, 0o644))

	// Runs stop: five hours later, with no run since.
	later := httptest.NewServer(server(func() time.Time { return now().Add(5 * time.Hour) }).Handler())
	defer later.Close()
	is.NoErr(chromedp.Do(ctx, chromedp.Navigate(later.URL+"/")))
	banner := run(t, ctx, chromedp.Text(chromedp.CSS(".banner")))
	is.True(strings.Contains(banner, "The audit has stopped running."))
	is.True(strings.Contains(banner, "the schedule rate(1 hour) was due 5 times since"))
}

// Many secrets in a real browser: a hundred a page, flagged first; the
// next page is a link away, and the filter form keeps the secrets whose
// name holds what a person types, across pages; and a screenshot of it.
func TestBrowserPagesAndFilters(t *testing.T) {
	is := is.New(t)
	ctx := browser(t)
	ts := httptest.NewServer(manyServer().Handler())
	defer ts.Close()

	rows := func() []string {
		return run(t, ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('#grid tbody th.name')].map(th => th.innerText.trim())`))
	}
	is.NoErr(chromedp.Do(ctx, chromedp.Navigate(ts.URL+"/")))
	first := rows()
	is.Equal(len(first), pageSize)
	is.Equal(run(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll('#needs-rotation tbody tr').length`)), pageSize)
	is.True(linksAnswer(t, ctx) > 10)
	png := run(t, ctx, chromedp.FullScreenshot(100))
	is.NoErr(os.MkdirAll(filepath.Dir(screenshot), 0o755))
	is.NoErr(os.WriteFile(strings.TrimSuffix(screenshot, ".png")+"-many.png", png, 0o644))

	is.NoErr(chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#grid a[rel=next]`))))
	is.NoErr(chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(`#grid a[rel=prev]`))))
	second := rows()
	is.Equal(len(second), pageSize)
	is.True(!slices.Contains(first, second[0])) // the next hundred

	is.NoErr(chromedp.Do(ctx, chromedp.SetValue(chromedp.CSS(`#filter`), "read-0001")))
	is.NoErr(chromedp.Do(ctx, chromedp.Submit(chromedp.CSS(`form.filter`))))
	is.NoErr(chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(`form.filter a`)))) // "Show every secret"
	filtered := rows()
	is.Equal(len(filtered), 100) // bench-read-000100 to bench-read-000199
	for _, name := range filtered {
		is.True(strings.HasPrefix(name, "bench-read-0001"))
	}
	is.Equal(run(t, ctx, chromedp.Evaluate[string](`new URL(location.href).searchParams.get('q')`)), "read-0001")
	is.Equal(run(t, ctx, chromedp.Evaluate[string](`document.querySelector('#filter').value`)), "read-0001")
	png = run(t, ctx, chromedp.CaptureScreenshot()) // what the window shows: the form, the list it filtered
	is.NoErr(os.WriteFile(strings.TrimSuffix(screenshot, ".png")+"-many-filtered.png", png, 0o644))
}

// Hostile names in a real browser: shown as text, no script of theirs
// runs, and every link answers and opens the page of its own secret; and
// screenshots of it.
func TestBrowserHostileNames(t *testing.T) {
	is := is.New(t)
	ctx := browser(t)
	ts := httptest.NewServer(fixtureServer("odd", oddNow).Handler())
	defer ts.Close()

	is.NoErr(chromedp.Do(ctx, chromedp.Navigate(ts.URL+"/")))
	names := run(t, ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('#needs-rotation td.name')].map(td => td.textContent)`))
	is.Equal(slices.Sorted(slices.Values(names)), slices.Sorted(slices.Values(hostile))) // every name, as text
	is.Equal(run(t, ctx, chromedp.Evaluate[int](`document.scripts.length`)), 0)          // markup in a name is not a script
	is.Equal(run(t, ctx, chromedp.Evaluate[string](`document.title`)), "Dashboard 2026Q4 · odd rotation audit")
	is.True(linksAnswer(t, ctx) > len(hostile))
	is.True(fits(t, ctx)) // the 512-character name wraps
	png := run(t, ctx, chromedp.FullScreenshot(100))
	is.NoErr(os.MkdirAll(filepath.Dir(screenshot), 0o755))
	is.NoErr(os.WriteFile(strings.TrimSuffix(screenshot, ".png")+"-hostile.png", png, 0o644))

	links := run(t, ctx, chromedp.Evaluate[[][]string](`[...document.querySelectorAll('#needs-rotation td.name a')].map(a => [a.textContent, a.href])`))
	is.Equal(len(links), len(hostile))
	for _, l := range links {
		name, href := l[0], l[1]
		is.NoErr(chromedp.Do(ctx, chromedp.Navigate(href)))
		at := run(t, ctx, chromedp.Evaluate[string](`new URL(location.href).searchParams.get('name')`))
		is.Equal(at, name) // the browser kept the address
		heading := run(t, ctx, chromedp.Evaluate[string](`document.querySelector('h1.secret-name').firstChild.textContent.replace(/ $/, '')`))
		is.Equal(heading, name) // the page of that secret
		is.Equal(run(t, ctx, chromedp.Evaluate[int](`document.scripts.length`)), 0)
		is.True(fits(t, ctx))
		linksAnswer(t, ctx)
		if name == hostile[0] {
			png := run(t, ctx, chromedp.FullScreenshot(100))
			is.NoErr(os.WriteFile(strings.TrimSuffix(screenshot, ".png")+"-hostile-secret.png", png, 0o644))
		}
	}
}

// fits says whether the page is no wider than the window: nothing, a
// long name included, pushes it sideways.
func fits(t *testing.T, ctx context.Context) bool {
	t.Helper()
	return run(t, ctx, chromedp.Evaluate[bool](`document.documentElement.scrollWidth <= window.innerWidth`))
}

// linksAnswer GETs every link of the page in the tab, expects 200 from
// each, and returns how many different ones there are.
func linksAnswer(t *testing.T, ctx context.Context) int {
	t.Helper()
	hrefs := run(t, ctx, chromedp.Evaluate[[]string](`[...new Set([...document.querySelectorAll('a[href], link[href]')].map(a => a.href))]`))
	for _, href := range hrefs {
		resp, err := http.Get(href)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %s", href, resp.Status)
		}
	}
	return len(hrefs)
}

// An organization in a real browser: the accounts, the one not reporting
// with why, a click into an account's page and its secrets, and a click
// into the account not reporting; and screenshots of it.
func TestBrowserOrganization(t *testing.T) {
	is := is.New(t)
	ctx := browser(t)
	ts := httptest.NewServer(hubServer().Handler())
	defer ts.Close()

	is.NoErr(chromedp.Do(ctx, chromedp.Navigate(ts.URL+"/")))
	accounts := run(t, ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('#accounts tbody tr td:first-child')].map(td => td.innerText.trim())`))
	is.Equal(accounts, []string{denied, member1, member2}) // not reporting first, then by ID
	missing := run(t, ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('#not-reporting tbody tr')].map(tr => tr.innerText)`))
	is.Equal(len(missing), 1)
	is.True(strings.HasPrefix(missing[0], denied))
	is.True(strings.Contains(missing[0], "AccessDenied"))                                                                                             // with why
	is.True(run(t, ctx, chromedp.Evaluate[bool](`getComputedStyle(document.querySelector('#not-reporting')).borderTopColor === 'rgb(198, 40, 40)'`))) // set apart in red
	is.True(fits(t, ctx))
	is.True(linksAnswer(t, ctx) > 10)
	png := run(t, ctx, chromedp.FullScreenshot(100))
	is.NoErr(os.MkdirAll(filepath.Dir(screenshot), 0o755))
	is.NoErr(os.WriteFile(strings.TrimSuffix(screenshot, ".png")+"-org.png", png, 0o644))

	is.NoErr(chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#accounts a[href*="account=`+member2+`"]`))))
	is.NoErr(chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(`p.crumbs`))))
	is.Equal(run(t, ctx, chromedp.Evaluate[string](`new URL(location.href).searchParams.get('account')`)), member2)
	flagged := run(t, ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('#needs-rotation tbody tr')].map(tr => [...tr.cells].slice(0, 3).map(td => td.innerText.trim()).join(' '))`))
	is.Equal(flagged, []string{"db " + member2 + " us-east-1"}) // its db, with where it is
	is.True(fits(t, ctx))
	linksAnswer(t, ctx)
	png = run(t, ctx, chromedp.FullScreenshot(100))
	is.NoErr(os.WriteFile(strings.TrimSuffix(screenshot, ".png")+"-org-account.png", png, 0o644))

	is.NoErr(chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#needs-rotation td.name a`))))
	is.NoErr(chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(`h1.secret-name`))))
	is.Equal(run(t, ctx, chromedp.Evaluate[string](`new URL(location.href).searchParams.get('arn')`)), arnOf(member2, "us-east-1", "db")) // the page of that secret

	is.NoErr(chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`p.crumbs a`)))) // back to the organization
	is.NoErr(chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(`#not-reporting`))))
	is.NoErr(chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#not-reporting a`))))
	is.NoErr(chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(`#account-not-reporting`))))
	notice := run(t, ctx, chromedp.Text(chromedp.CSS(`#account-not-reporting`)))
	is.True(strings.HasPrefix(notice, "This account is not reporting."))
	is.True(strings.Contains(notice, "AccessDenied"))
}
