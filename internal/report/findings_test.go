package report

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/securityhub"
	"github.com/aws/aws-sdk-go-v2/service/securityhub/types"
	"github.com/matryer/is"

	"github.com/rotation-audit/rotation-audit/internal/audit"
	"github.com/rotation-audit/rotation-audit/internal/findings"
	"github.com/rotation-audit/rotation-audit/internal/tables"
)

// ocsfRequired are the attributes the OCSF 1.6.0 schema (ocsf/ocsf-schema,
// tag 1.6.0) requires of a Compliance Finding with the cloud profile, as
// dotted paths: base_event.json (activity_id, category_uid, class_uid,
// type_uid, time, severity_id, metadata), findings/finding.json
// (finding_info), findings/compliance_finding.json (compliance),
// profiles/cloud.json (cloud); then the objects' own: metadata.json
// (product, version), finding_info.json (uid), cloud.json (provider).
var ocsfRequired = []string{
	"activity_id", "category_uid", "class_uid", "type_uid", "time", "severity_id", "metadata",
	"finding_info", "compliance", "cloud",
	"metadata.product", "metadata.version", "finding_info.uid", "cloud.provider",
}

// ocsfEnums are the values the 1.6.0 dictionary and classes allow for the
// enumerated attributes the findings set (0 Unknown and 99 Other are
// always allowed).
var ocsfEnums = map[string][]float64{
	"activity_id":          {0, 1, 2, 3, 99},
	"severity_id":          {0, 1, 2, 3, 4, 5, 6, 99},
	"status_id":            {0, 1, 2, 3, 4, 5, 6, 99},
	"compliance.status_id": {0, 1, 2, 3, 99},
}

// lookup is the value at a dotted path of a decoded JSON object.
func lookup(doc map[string]any, path string) (any, bool) {
	var v any = doc
	for _, key := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = m[key]; !ok {
			return nil, false
		}
	}
	return v, true
}

// checkOCSF reports every way one line breaks the 1.6.0 Compliance
// Finding: a required attribute missing or empty, an entity with neither
// name nor uid (_entity's at_least_one), a key_value_object without name
// or value, an enumerated value outside its enum, and the class's fixed
// values.
func checkOCSF(line []byte) []string {
	var problems []string
	var doc map[string]any
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		return []string{"not a JSON object: " + err.Error()}
	}
	for _, path := range ocsfRequired {
		if v, ok := lookup(doc, path); !ok || v == nil || v == "" {
			problems = append(problems, "required "+path+" is missing")
		}
	}
	entity := func(where string, v any) {
		m, _ := v.(map[string]any)
		if m["name"] == nil && m["uid"] == nil {
			problems = append(problems, where+" has neither name nor uid")
		}
	}
	if p, ok := lookup(doc, "metadata.product"); ok {
		entity("metadata.product", p)
	}
	if a, ok := lookup(doc, "cloud.account"); ok {
		entity("cloud.account", a)
	}
	resources, _ := doc["resources"].([]any)
	for _, r := range resources {
		entity("a resource", r)
	}
	params, _ := lookup(doc, "compliance.control_parameters")
	for _, kv := range asSlice(params) {
		m, _ := kv.(map[string]any)
		if m["name"] == nil || (m["value"] == nil && m["values"] == nil) {
			problems = append(problems, "a control parameter lacks name or value")
		}
	}
	number := func(path string) float64 {
		v, _ := lookup(doc, path)
		n, ok := v.(json.Number)
		if !ok {
			problems = append(problems, path+" is not a number")
			return -1
		}
		if strings.ContainsAny(n.String(), ".eE") {
			problems = append(problems, path+" is not an integer")
		}
		f, _ := n.Float64()
		return f
	}
	for path, allowed := range ocsfEnums {
		if _, ok := lookup(doc, path); ok && !slices.Contains(allowed, number(path)) {
			problems = append(problems, path+" is outside its enum")
		}
	}
	if number("class_uid") != 2003 || number("category_uid") != 2 {
		problems = append(problems, "not a Compliance Finding (class_uid 2003, category_uid 2)")
	}
	if number("type_uid") != number("class_uid")*100+number("activity_id") {
		problems = append(problems, "type_uid is not class_uid*100 + activity_id")
	}
	if number("time") < 1e12 {
		problems = append(problems, "time is not in milliseconds")
	}
	if v, _ := lookup(doc, "metadata.version"); v != "1.6.0" {
		problems = append(problems, "metadata.version is not 1.6.0")
	}
	if p, _ := lookup(doc, "metadata.profiles"); !slices.Contains(asSlice(p), any("cloud")) {
		problems = append(problems, "the cloud profile is not declared")
	}
	return problems
}

func asSlice(v any) []any {
	s, _ := v.([]any)
	return s
}

// The checker itself catches what it must: a line missing each required
// attribute in turn, and a wrong type_uid.
func TestCheckOCSFCatchesEachMissingAttribute(t *testing.T) {
	is := is.New(t)
	var buf bytes.Buffer
	is.NoErr(WriteReport(&buf, NewReport("rotcheck", sampleRun, sampleRows[:1], true), OCSF))
	line := bytes.TrimSpace(buf.Bytes())
	is.Equal(checkOCSF(line), nil) // the good line passes
	for _, path := range ocsfRequired {
		var doc map[string]any
		is.NoErr(json.Unmarshal(line, &doc))
		parent, key := doc, path
		if before, after, ok := strings.Cut(path, "."); ok {
			parent, key = doc[before].(map[string]any), after
		}
		delete(parent, key)
		broken, _ := json.Marshal(doc)
		is.True(len(checkOCSF(broken)) > 0) // caught
	}
	wrong := bytes.Replace(line, []byte(`"type_uid":200301`), []byte(`"type_uid":200302`), 1)
	is.True(!bytes.Equal(wrong, line))
	is.True(len(checkOCSF(wrong)) > 0)
}

// report -format ocsf: one line per secret of the run, each a valid OCSF
// 1.6.0 Compliance Finding.
func TestOCSFReportIsValidOCSF(t *testing.T) {
	is := is.New(t)
	var buf bytes.Buffer
	is.NoErr(WriteReport(&buf, NewReport("rotcheck", sampleRun, sampleRows, true), OCSF))
	golden(t, "report."+OCSF.Ext(), buf.Bytes())
	sc := bufio.NewScanner(&buf)
	var uids []string
	for sc.Scan() {
		if problems := checkOCSF(sc.Bytes()); problems != nil {
			t.Errorf("line %d: %s", len(uids)+1, strings.Join(problems, "; "))
		}
		var f struct {
			Info struct{ UID string } `json:"finding_info"`
		}
		is.NoErr(json.Unmarshal(sc.Bytes(), &f))
		uids = append(uids, f.Info.UID)
	}
	is.Equal(uids, []string{
		"secret-rotation-age/arn:aws:secretsmanager:us-east-1:1:secret:legacy-token-AbCdEf",
		"secret-rotation-age/arn:aws:secretsmanager:us-east-1:1:secret:payments-db-AbCdEf",
		"secret-rotation-age/arn:aws:secretsmanager:us-east-1:1:secret:api-key-AbCdEf",
		"secret-rotation-age/arn:aws:secretsmanager:us-east-1:1:secret:rds-master-AbCdEf",
	}) // one finding per secret, flagged first
}

// report -format asff: a JSON array the SDK's own BatchImportFindings
// validation accepts, and that the SDK sends as written. The findings are
// the package's hand-written ASFF type, which the function imports too:
// the SDK's types read them field for field.
func TestASFFReportPassesTheSDKValidation(t *testing.T) {
	is := is.New(t)
	var buf bytes.Buffer
	is.NoErr(WriteReport(&buf, NewReport("rotcheck", sampleRun, sampleRows, true), ASFF))
	golden(t, "report."+ASFF.Ext(), buf.Bytes())
	var written []any
	is.NoErr(json.Unmarshal(buf.Bytes(), &written))
	is.Equal(len(written), 4) // every secret, flagged or not

	// The SDK's types take AWS's field names as they are.
	var input []types.AwsSecurityFinding
	is.NoErr(json.Unmarshal(buf.Bytes(), &input))
	var sent []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sent, _ = io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"FailedCount":0,"SuccessCount":4,"FailedFindings":[]}`))
	}))
	defer srv.Close()
	client := securityhub.New(securityhub.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")})
	out, err := client.BatchImportFindings(context.Background(), &securityhub.BatchImportFindingsInput{Findings: input})
	is.NoErr(err) // the SDK's validation let it through
	is.Equal(aws.ToInt32(out.SuccessCount), int32(4))
	var body struct{ Findings []any }
	is.NoErr(json.Unmarshal(sent, &body))
	is.Equal(body.Findings, written) // what the SDK sends is what was written

	// Without the validation, this test would prove nothing: a finding
	// without a title is refused before anything is sent.
	sent = nil
	input[0].Title = nil
	_, err = client.BatchImportFindings(context.Background(), &securityhub.BatchImportFindingsInput{Findings: input})
	is.True(err != nil && strings.Contains(err.Error(), "Title"))
	is.Equal(sent, nil)
}

// A row whose ARN is not a secret's stops the report before a byte is
// written.
func TestFindingFormatsWriteNothingHalfDone(t *testing.T) {
	for _, f := range FindingFormats {
		is := is.New(t)
		rows := append(slices.Clone(sampleRows[:2]), audit.Record{SecretName: "odd", SecretARN: "not-an-arn", CheckedAt: sampleRun.CheckedAt})
		var buf bytes.Buffer
		err := WriteReport(&buf, NewReport("rotcheck", sampleRun, rows, true), f)
		is.True(err != nil && strings.Contains(err.Error(), "odd")) // names the row
		is.Equal(buf.Len(), 0)                                      // and wrote nothing
	}
}

func TestParseReportFormat(t *testing.T) {
	is := is.New(t)
	for _, name := range []string{"ocsf", "ASFF", "csv", "md"} {
		_, err := ParseReportFormat(name)
		is.NoErr(err)
	}
	_, err := ParseReportFormat("xml")
	is.True(strings.Contains(err.Error(), "ocsf or asff")) // the error lists them
	_, err = ParseFormat("ocsf")
	is.True(err != nil) // history and runs have no findings to write
}

// A row's change and first sighting reach its finding: a gone secret's
// tombstone archives it, and CreatedAt is when the audit first saw the
// secret, not this run.
func TestFindingOfCarriesChangeAndFirstSeen(t *testing.T) {
	is := is.New(t)
	row := audit.Record{SecretName: "db", SecretARN: "arn:aws:secretsmanager:eu-west-1:111111111111:secret:db-AbCdEf",
		CheckedAt: "2026-11-30T10:00:00Z", FirstSeen: "2026-10-01T00:00:00Z", Change: tables.ChangeGone}
	s, err := FindingOf(row)
	is.NoErr(err)
	is.Equal(s.Change, tables.ChangeGone)
	is.Equal(s.FirstSeen, time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC))
	f := findings.ASFF(s)
	is.Equal(f.RecordState, findings.RecordArchived)  // gone: archived
	is.Equal(f.CreatedAt, "2026-10-01T00:00:00.000Z") // first seen
	row.FirstSeen = "yesterday"
	_, err = FindingOf(row)
	is.True(err != nil && strings.Contains(err.Error(), `first_seen "yesterday"`)) // a bad date is named
}
