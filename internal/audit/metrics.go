package audit

import "time"

// MetricsNamespace is the CloudWatch namespace of the run's metrics.
const MetricsNamespace = "RotationAudit"

// metrics returns the attributes that make a run's log line a CloudWatch
// Embedded Metric Format record: CloudWatch Logs turns it into the metrics
// Checked, Flagged, NewlyFlagged, Unaudited, DurationMs and RunsCompleted,
// dimension Stack, without an API call. RunsCompleted is 0 for a failed
// run, so an alarm on its sum sees both failed and missing runs.
// NewlyFlagged is the news: the secrets that need rotation now and did
// not in the previous run, those newly flagged and the new ones flagged
// from the start (on the first run, every flagged secret), so an alarm on
// it notifies once per run that has news, while Flagged is the standing
// count.
func metrics(stack string, res Result, completed bool, at time.Time) []any {
	done := 0
	if completed {
		done = 1
	}
	type metric struct {
		Name string
		Unit string
	}
	return []any{
		"_aws", map[string]any{
			"Timestamp": at.UnixMilli(),
			"CloudWatchMetrics": []map[string]any{{
				"Namespace":  MetricsNamespace,
				"Dimensions": [][]string{{"Stack"}},
				"Metrics": []metric{
					{"Checked", "Count"}, {"Flagged", "Count"}, {"NewlyFlagged", "Count"}, {"Unaudited", "Count"},
					{"DurationMs", "Milliseconds"}, {"RunsCompleted", "Count"},
				},
			}},
		},
		"Stack", stack,
		"Checked", res.Checked, "Flagged", res.Flagged, "NewlyFlagged", res.NewlyFlagged + res.NewFlagged, "Unaudited", res.Unaudited,
		"DurationMs", res.DurationMS, "RunsCompleted", done,
	}
}

// Metrics is the Embedded Metric Format attributes of a run's log line:
// package org logs them once per organization run, with the run's totals.
func Metrics(stack string, res Result, completed bool, at time.Time) []any {
	return metrics(stack, res, completed, at)
}
