package main

import (
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/matryer/is"

	"github.com/rotation-audit/rotation-audit/internal/audit"
	"github.com/rotation-audit/rotation-audit/internal/org"
)

// ACCOUNTS chooses the mode: empty is the tutorial's check, unchanged; set
// is organization mode's coordinator and worker, which judge by the same
// configuration and clock; a mistake in its variables stops the function
// with the reason.
func TestNewHandlerChoosesTheMode(t *testing.T) {
	is := is.New(t)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	h, err := newHandler(lookup(with(map[string]string{"ACCOUNTS": ""})), http.DefaultClient, logger)
	is.NoErr(err)
	_, single := h.(*audit.Checker)
	is.True(single) // no queue, no coordinator

	vars := with(map[string]string{"ACCOUNTS": "ORGANIZATION", "REGIONS": "eu-west-1,us-east-1", "RUNS_TABLE_NAME": "hub-runs",
		"ORG_TABLE_NAME": "hub-org-audit", "UNITS_TABLE_NAME": "hub-units", "UNITS_QUEUE_URL": "https://sqs/hub-units", "MAX_AGE_DAYS": "45"})
	h, err = newHandler(lookup(vars), http.DefaultClient, logger)
	is.NoErr(err)
	oh, ok := h.(*org.Handler)
	is.True(ok)
	is.Equal(oh.Worker.Config.Audit.MaxAgeDays, 45) // units judge as the single-account check would
	is.Equal(oh.Coordinator.Config.Regions, []string{"eu-west-1", "us-east-1"})

	is.True(oh.Worker.Findings == nil) // SECURITY_HUB_FINDINGS off: no Security Hub call

	vars["SECURITY_HUB_FINDINGS"] = "true"
	_, err = newHandler(lookup(vars), http.DefaultClient, logger)
	is.True(err != nil)
	is.True(strings.Contains(err.Error(), "HUB_ACCOUNT_ID")) // the hub's account is needed to import as the hub
	vars["HUB_ACCOUNT_ID"] = "000000000000"
	h, err = newHandler(lookup(vars), http.DefaultClient, logger)
	is.NoErr(err)
	oh = h.(*org.Handler)
	is.True(oh.Worker.Findings != nil) // the workers import
	is.Equal(oh.Worker.Config.HubAccountID, "000000000000")
	delete(vars, "SECURITY_HUB_FINDINGS")

	delete(vars, "UNITS_QUEUE_URL")
	_, err = newHandler(lookup(vars), http.DefaultClient, logger)
	is.True(err != nil)
	is.True(strings.Contains(err.Error(), "UNITS_QUEUE_URL is required")) // names what is missing
}
