package localsecurityhub

import (
	"bytes"
	"cmp"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// maxFindings is how many findings one BatchImportFindings call takes.
const maxFindings = 100

// maxFindingSize is the largest finding Security Hub takes: 240 KB.
const maxFindingSize = 240 << 10

// schemaVersion is the only ASFF schema version.
const schemaVersion = "2018-10-08"

// failedFinding is AWS's ImportFindingsError.
type failedFinding struct {
	ID           string `json:"Id"`
	ErrorCode    string `json:"ErrorCode"`
	ErrorMessage string `json:"ErrorMessage"`
}

type importOutput struct {
	FailedCount    int             `json:"FailedCount"`
	SuccessCount   int             `json:"SuccessCount"`
	FailedFindings []failedFinding `json:"FailedFindings"`
}

// batchImportFindings imports each valid finding and reports each invalid
// one in FailedFindings; a request without 1 to 100 findings fails whole.
func (h *Hub) batchImportFindings(sc scope, body []byte) (any, error) {
	var in struct{ Findings []json.RawMessage }
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, invalidInput("cannot decode the request: %v", err)
	}
	if len(in.Findings) == 0 || len(in.Findings) > maxFindings {
		return nil, invalidInput("Findings must hold from 1 to %d findings, not %d", maxFindings, len(in.Findings))
	}
	out := importOutput{FailedFindings: []failedFinding{}}
	for _, raw := range in.Findings {
		id, err := h.importOne(sc, raw)
		if err != nil {
			out.FailedFindings = append(out.FailedFindings, failedFinding{ID: id, ErrorCode: err.code, ErrorMessage: err.message})
			continue
		}
		out.SuccessCount++
	}
	out.FailedCount = len(out.FailedFindings)
	return out, nil
}

// findingError is why one finding was not imported.
type findingError struct{ code, message string }

func badFinding(format string, args ...any) *findingError {
	return &findingError{"InvalidInput", "Finding does not adhere to Amazon Finding Format: " + fmt.Sprintf(format, args...)}
}

// importOne checks one finding and stores it, or ignores it when what is
// stored is as new. It returns the finding's Id, for FailedFindings.
func (h *Hub) importOne(sc scope, raw json.RawMessage) (string, *findingError) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber() // numbers round-trip exactly
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil || doc == nil {
		return "", badFinding("a finding is not a JSON object")
	}
	id, _ := doc["Id"].(string)
	if len(raw) > maxFindingSize {
		return id, badFinding("the finding is %d bytes, more than 240 KB", len(raw))
	}
	updated, created, ferr := validate(doc)
	if ferr != nil {
		return id, ferr
	}
	product := doc["ProductArn"].(string)
	if own := defaultProduct(sc); strings.HasSuffix(product, "/default") {
		if product != own {
			return id, &findingError{"AccessDeniedException", fmt.Sprintf("ProductArn %s is not the default product of account %s in %s (%s)", product, sc.account, sc.region, own)}
		}
		if doc["AwsAccountId"] != sc.account {
			return id, &findingError{"AccessDeniedException", fmt.Sprintf(
				"with the default product ARN, a finding's AwsAccountId (%v) must be the account that imports it (%s)", doc["AwsAccountId"], sc.account)}
		}
	} else {
		return id, &findingError{"AccessDeniedException", fmt.Sprintf("ProductArn %s is not a product this account may import to (only %s)", product, own)}
	}

	stored := h.findings[sc]
	if stored == nil {
		stored = map[key]*finding{}
		h.findings[sc] = stored
	}
	k := key{product, id}
	old := stored[k]
	if old != nil && !updated.After(old.updated) {
		return id, nil // not newer: ignored, yet a success, as AWS counts it
	}
	fromProvider(doc)
	if old == nil {
		doc["CreatedAt"] = created
		if _, ok := doc["Workflow"]; !ok {
			doc["Workflow"] = map[string]any{"Status": "NEW"}
			doc["WorkflowState"] = "NEW"
		}
	} else {
		// A provider cannot change the creation or the customer's fields.
		for _, f := range []string{"CreatedAt", "Workflow", "WorkflowState", "Note", "UserDefinedFields", "VerificationState"} {
			if v, ok := old.doc[f]; ok {
				doc[f] = v
			} else {
				delete(doc, f)
			}
		}
	}
	if _, ok := doc["RecordState"]; !ok {
		doc["RecordState"] = "ACTIVE"
	}
	if _, ok := doc["Region"]; !ok {
		doc["Region"] = sc.region
	}
	doc["CompanyName"], doc["ProductName"] = "Personal", "Default"
	doc["ProcessedAt"] = h.now().UTC().Format("2006-01-02T15:04:05.000Z")
	stored[k] = &finding{doc: doc, updated: updated}
	return id, nil
}

// fromProvider copies FindingProviderFields to the top level, as Security
// Hub does while the customer has not changed them (this hub has no
// BatchUpdateFindings, so they never have).
func fromProvider(doc map[string]any) {
	fpf, _ := doc["FindingProviderFields"].(map[string]any)
	for _, f := range []string{"Severity", "Types", "Confidence", "Criticality", "RelatedFindings"} {
		if v, ok := fpf[f]; ok {
			doc[f] = v
		}
	}
}

// defaultProduct is a scope's own default product ARN.
func defaultProduct(sc scope) string {
	partition := "aws"
	switch {
	case strings.HasPrefix(sc.region, "cn-"):
		partition = "aws-cn"
	case strings.HasPrefix(sc.region, "us-gov-"):
		partition = "aws-us-gov"
	}
	return fmt.Sprintf("arn:%s:securityhub:%s:%s:product/%s/default", partition, sc.region, sc.account, sc.account)
}

// required are ASFF's required top-level strings.
var required = []string{"SchemaVersion", "Id", "ProductArn", "GeneratorId", "AwsAccountId", "CreatedAt", "UpdatedAt", "Title", "Description"}

// enums are the values ASFF allows for the enumerated attributes checked.
var enums = map[string][]string{
	"Severity.Label":    {"INFORMATIONAL", "LOW", "MEDIUM", "HIGH", "CRITICAL"},
	"Compliance.Status": {"PASSED", "WARNING", "FAILED", "NOT_AVAILABLE"},
	"RecordState":       {"ACTIVE", "ARCHIVED"},
}

// validate checks what ASFF requires of a finding and returns its
// UpdatedAt and CreatedAt.
func validate(doc map[string]any) (updated time.Time, created string, _ *findingError) {
	for _, f := range required {
		if s, _ := doc[f].(string); s == "" {
			return updated, "", badFinding("%s is required", f)
		}
	}
	if v := doc["SchemaVersion"]; v != schemaVersion {
		return updated, "", badFinding("SchemaVersion %v is not %s", v, schemaVersion)
	}
	created = doc["CreatedAt"].(string)
	if _, err := time.Parse(time.RFC3339Nano, created); err != nil {
		return updated, "", badFinding("CreatedAt %q is not an ISO 8601 time", created)
	}
	updated, err := time.Parse(time.RFC3339Nano, doc["UpdatedAt"].(string))
	if err != nil {
		return updated, "", badFinding("UpdatedAt %q is not an ISO 8601 time", doc["UpdatedAt"])
	}
	resources, _ := doc["Resources"].([]any)
	if len(resources) == 0 || len(resources) > 32 {
		return updated, "", badFinding("Resources must hold from 1 to 32 resources")
	}
	for i, r := range resources {
		m, _ := r.(map[string]any)
		if s, _ := m["Type"].(string); s == "" {
			return updated, "", badFinding("Resources[%d].Type is required", i)
		}
		if s, _ := m["Id"].(string); s == "" {
			return updated, "", badFinding("Resources[%d].Id is required", i)
		}
	}
	fpf := asMap(doc["FindingProviderFields"])
	sev := asMap(doc["Severity"])
	if sev == nil {
		sev = asMap(fpf["Severity"])
	}
	severity := str(sev["Label"])
	if severity == "" && sev["Normalized"] == nil {
		return updated, "", badFinding("Severity (or FindingProviderFields.Severity) needs a Label or Normalized")
	}
	if len(asList(doc["Types"])) == 0 && len(asList(fpf["Types"])) == 0 {
		return updated, "", badFinding("Types (or FindingProviderFields.Types) is required")
	}
	values := map[string]string{"Severity.Label": severity, "RecordState": str(doc["RecordState"]), "Compliance.Status": str(asMap(doc["Compliance"])["Status"])}
	for _, f := range slices.Sorted(maps.Keys(values)) {
		if v := values[f]; v != "" && !slices.Contains(enums[f], v) {
			return updated, "", badFinding("%s %q is not one of %s", f, v, strings.Join(enums[f], ", "))
		}
	}
	return updated, created, nil
}

func asMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

// filterFields are the GetFindings filters this hub answers, and the
// attribute each one reads.
var filterFields = map[string]func(doc map[string]any) string{
	"ProductArn":       func(d map[string]any) string { return str(d["ProductArn"]) },
	"Id":               func(d map[string]any) string { return str(d["Id"]) },
	"AwsAccountId":     func(d map[string]any) string { return str(d["AwsAccountId"]) },
	"GeneratorId":      func(d map[string]any) string { return str(d["GeneratorId"]) },
	"ComplianceStatus": func(d map[string]any) string { return str(asMap(d["Compliance"])["Status"]) },
	"RecordState":      func(d map[string]any) string { return str(d["RecordState"]) },
	"WorkflowStatus":   func(d map[string]any) string { return str(asMap(d["Workflow"])["Status"]) },
}

// stringFilter is AWS's StringFilter.
type stringFilter struct {
	Value      string `json:"Value"`
	Comparison string `json:"Comparison"`
}

type getInput struct {
	Filters      map[string][]stringFilter `json:"Filters"`
	MaxResults   *int                      `json:"MaxResults"`
	NextToken    string                    `json:"NextToken"`
	SortCriteria []json.RawMessage         `json:"SortCriteria"`
}

type getOutput struct {
	Findings  []map[string]any `json:"Findings"`
	NextToken string           `json:"NextToken,omitempty"`
}

// getFindings lists the scope's findings that match every filter, in the
// order of their (Id, ProductArn), a page of MaxResults (100 by default)
// at a time. Within one attribute, EQUALS filters match any of their
// values and NOT_EQUALS filters exclude each of theirs, as AWS combines
// them. A filter or comparison this hub does not answer is refused, not
// ignored, so a test can never pass on a filter that did nothing.
func (h *Hub) getFindings(sc scope, body []byte) (any, error) {
	var in getInput
	if len(bytes.TrimSpace(body)) > 0 {
		if err := json.Unmarshal(body, &in); err != nil {
			return nil, invalidInput("cannot decode the request: %v", err)
		}
	}
	if len(in.SortCriteria) > 0 {
		return nil, invalidInput("SortCriteria is not supported by the local Security Hub (it lists findings by Id)")
	}
	for _, name := range slices.Sorted(maps.Keys(in.Filters)) {
		if filterFields[name] == nil {
			return nil, invalidInput("filter %s is not supported by the local Security Hub (it answers %s)", name, strings.Join(slices.Sorted(maps.Keys(filterFields)), ", "))
		}
		for _, f := range in.Filters[name] {
			if f.Comparison != "EQUALS" && f.Comparison != "NOT_EQUALS" {
				return nil, invalidInput("filter %s: comparison %q is not supported by the local Security Hub (EQUALS, NOT_EQUALS)", name, f.Comparison)
			}
		}
	}
	limit := 100
	if in.MaxResults != nil {
		if *in.MaxResults < 1 || *in.MaxResults > 100 {
			return nil, invalidInput("MaxResults must be from 1 to 100, not %d", *in.MaxResults)
		}
		limit = *in.MaxResults
	}
	var after key
	if in.NextToken != "" {
		raw, err := base64.RawURLEncoding.DecodeString(in.NextToken)
		id, product, ok := strings.Cut(string(raw), "\x00")
		if err != nil || !ok {
			return nil, invalidInput("NextToken %q is not one this hub gave", in.NextToken)
		}
		after = key{product, id}
	}
	keys := slices.SortedFunc(maps.Keys(h.findings[sc]), compareKeys)
	out := getOutput{Findings: []map[string]any{}}
	for _, k := range keys {
		if in.NextToken != "" && compareKeys(k, after) <= 0 {
			continue
		}
		doc := h.findings[sc][k].doc
		if !matches(doc, in.Filters) {
			continue
		}
		if len(out.Findings) == limit {
			last := out.Findings[limit-1]
			out.NextToken = base64.RawURLEncoding.EncodeToString([]byte(str(last["Id"]) + "\x00" + str(last["ProductArn"])))
			break
		}
		out.Findings = append(out.Findings, doc)
	}
	return out, nil
}

func compareKeys(a, b key) int {
	return cmp.Or(strings.Compare(a.id, b.id), strings.Compare(a.product, b.product))
}

// matches reports whether a finding passes every filter.
func matches(doc map[string]any, filters map[string][]stringFilter) bool {
	for name, fs := range filters {
		v := filterFields[name](doc)
		anyEquals, equalsMatched := false, false
		for _, f := range fs {
			switch f.Comparison {
			case "EQUALS":
				anyEquals = true
				equalsMatched = equalsMatched || v == f.Value
			case "NOT_EQUALS":
				if v == f.Value {
					return false
				}
			}
		}
		if anyEquals && !equalsMatched {
			return false
		}
	}
	return true
}
