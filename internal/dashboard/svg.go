package dashboard

import (
	"fmt"
	"strconv"
	"time"

	"github.com/rotation-audit/rotation-audit/internal/audit"
	"github.com/rotation-audit/rotation-audit/internal/report"
)

// The geometry, in SVG user units: the chart's drawing and its plot area
// (room above for the legend, left and below for the axes' labels), and
// the grid's cells, one every cellStep units.
const (
	chartW, chartH         = 960, 250
	plotL, plotR           = 44, 950
	plotT, plotB           = 36, 224
	cellStep, cellW, cellH = 10, 8, 14
	monthsH                = 14
	day                    = 24 * time.Hour
)

// chart is the checked and flagged counts per day, as bars: each day's
// bar is the secrets its last complete run checked, the flagged part red.
type chart struct {
	Width, Height, Left, Right, Top, Bottom int
	YLabelX, XTickY, XLabelY, NowLabelY     int
	Label, Desc                             string
	YTicks, XTicks                          []tick
	Bars                                    []bar
	NowX, NowAnchor                         string // the "now" line, empty once the period is over
	NoRun                                   bool   // some day had no complete run
	Judged                                  int    // days with a complete run
}

// tick is an axis position (formatted) and its label.
type tick struct{ Pos, Label string }

// bar is one day of the chart.
type bar struct {
	X, W, CheckedY, CheckedH, FlaggedY, FlaggedH, Title string
	NoRun                                               bool
}

// newChart draws the period's days across the whole period, so a quarter
// under way shows how far it has come.
func newChart(h report.History) chart {
	c := chart{Width: chartW, Height: chartH, Left: plotL, Right: plotR, Top: plotT, Bottom: plotB,
		YLabelX: plotL - 6, XTickY: plotB + 4, XLabelY: plotB + 17, NowLabelY: plotT - 4}
	days := max(1, int(h.To.Sub(h.From)/day))
	slot := float64(plotR-plotL) / float64(days)
	top := 1
	for _, d := range h.Days {
		top = max(top, d.Checked)
	}
	step := niceStep(top)
	top = (top + step - 1) / step * step
	y := func(n int) float64 { return plotB - float64(n)*float64(plotB-plotT)/float64(top) }
	for n := 0; n <= top; n += step {
		c.YTicks = append(c.YTicks, tick{Pos: num(y(n)), Label: strconv.Itoa(n)})
	}
	for i := range days {
		if d := h.From.AddDate(0, 0, i); d.Day() == 1 || d.Day() == 15 {
			c.XTicks = append(c.XTicks, tick{Pos: num(plotL + (float64(i)+0.5)*slot), Label: d.Format("Jan 2")})
		}
	}
	judged, noRun := 0, 0
	var last report.Day
	for i, d := range h.Days {
		w := max(1, slot*0.7)
		b := bar{X: num(plotL + float64(i)*slot + (slot-w)/2), W: num(w)}
		date := d.Date.Format(dateLayout)
		if d.RunID == "" {
			noRun++
			b.NoRun, b.CheckedY, b.CheckedH, b.Title = true, num(plotB-3), "3", date+": no complete run"
			c.Bars = append(c.Bars, b)
			continue
		}
		judged, last = judged+1, d
		b.CheckedY, b.CheckedH = num(y(d.Checked)), num(plotB-y(d.Checked))
		b.FlaggedY, b.FlaggedH = num(y(d.Flagged)), num(plotB-y(d.Flagged))
		b.Title = fmt.Sprintf("%s: %d checked, %d flagged", date, d.Checked, d.Flagged)
		c.Bars = append(c.Bars, b)
	}
	c.NoRun, c.Judged = noRun > 0, judged
	if h.Until.Before(h.To) {
		x := plotL + float64(h.Until.Sub(h.From))/float64(h.To.Sub(h.From))*float64(plotR-plotL)
		c.NowX, c.NowAnchor = num(x), "middle"
		if x < plotL+20 {
			c.NowAnchor = "start" // clear of the axis's labels
		}
	}
	c.Label = "Secrets checked and flagged per day, " + h.Period()
	c.Desc = fmt.Sprintf("One bar per day: the secrets that day's last complete run checked, the part that needed rotation in red. %d of %d days so far had a complete run.", judged, len(h.Days))
	if judged > 0 {
		c.Desc += fmt.Sprintf(" On the last day judged, %s, %d were checked and %d flagged.", last.Date.Format(dateLayout), last.Checked, last.Flagged)
	}
	return c
}

// niceStep is a step of 1, 2 or 5 times a power of ten that divides
// 0..top into at most four parts.
func niceStep(top int) int {
	for p := 1; ; p *= 10 {
		for _, m := range []int{1, 2, 5} {
			if top <= m*p*4 {
				return m * p
			}
		}
	}
}

// grid is one row per secret and one cell per day, coloured by status.
type grid struct {
	Width, Height, MonthsHeight int // the cells' own size is in the stylesheet
	Months                      []tick
	Rows                        []gridRow
}

// gridRow is one secret's days.
type gridRow struct {
	Name, Href, Note string
	Where            string // an organization's secret's account and region
	Cells            []cell
}

// cell is one day of one secret.
type cell struct {
	X            int
	Class, Title string
}

// newGrid lays out secrets of the history (a page of them) over its days
// so far.
func newGrid(h report.History, q string, secrets []report.SecretHistory) grid {
	dates := make([]time.Time, len(h.Days))
	judged := make([]bool, len(h.Days))
	for i, d := range h.Days {
		dates[i], judged[i] = d.Date, d.RunID != ""
	}
	g := gridOver(dates)
	for _, sh := range secrets {
		note := fmt.Sprintf("%d of %d days flagged", sh.DaysFlagged, sh.DaysSeen)
		row := gridRow{Name: sh.Name, Href: secretHref(sh.Name, q), Note: note, Cells: cells(dates, sh.Status, judged)}
		if sh.ARN != "" { // an organization's: one name may be several secrets
			row.Href, row.Where = withQuarter(arnPath(sh.ARN), q), sh.AccountID+" · "+sh.Region
		}
		g.Rows = append(g.Rows, row)
	}
	return g
}

// newStrip is one secret's grid row from each day's last status (by
// date); a day without one is "not seen" when a complete run that day did
// not list the secret (judged, by date), and "no complete run" otherwise,
// as in the dashboard's grid.
func newStrip(name, href string, from, until time.Time, daily map[string]audit.Status, judged map[string]bool) grid {
	var dates []time.Time
	index := map[string]int{}
	for d := from; d.Before(until); d = d.AddDate(0, 0, 1) {
		index[d.Format(dateLayout)] = len(dates)
		dates = append(dates, d)
	}
	status := make([]audit.Status, len(dates))
	for day, st := range daily {
		if i, ok := index[day]; ok {
			status[i] = st
		}
	}
	ran := make([]bool, len(dates))
	for i, d := range dates {
		ran[i] = judged[d.Format(dateLayout)] || status[i] != ""
	}
	g := gridOver(dates)
	g.Rows = []gridRow{{Name: name, Href: href, Cells: cells(dates, status, ran)}}
	return g
}

// gridOver sizes a grid for the dates and labels their months.
func gridOver(dates []time.Time) grid {
	g := grid{Width: max(1, len(dates)*cellStep), Height: cellH, MonthsHeight: monthsH}
	for i, d := range dates {
		if i == 0 || d.Day() == 1 {
			g.Months = append(g.Months, tick{Pos: strconv.Itoa(i * cellStep), Label: d.Format("Jan")})
		}
	}
	return g
}

// cells colours one secret's days; judged (nil: unknown) says which days
// had a complete run at all.
func cells(dates []time.Time, status []audit.Status, judged []bool) []cell {
	out := make([]cell, len(dates))
	for i, d := range dates {
		c := cell{X: i * cellStep}
		c.Class, c.Title = statusClass(status[i]), d.Format(dateLayout)+": "+statusText(status[i])
		if judged != nil && !judged[i] {
			c.Class, c.Title = "st-norun", d.Format(dateLayout)+": no complete run"
		}
		out[i] = c
	}
	return out
}

// statusClass is the CSS class of a status: its colour.
func statusClass(s audit.Status) string {
	switch s {
	case audit.StatusOK:
		return "st-ok"
	case audit.StatusNeedsRotation:
		return "st-flagged"
	}
	return "st-unseen"
}

// statusText is a status for people.
func statusText(s audit.Status) string {
	if s == "" {
		return "not seen (a run without this secret)"
	}
	return words(string(s))
}

// num formats an SVG coordinate.
func num(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }
