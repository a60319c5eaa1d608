package accounts

import (
	"bytes"
	"crypto/rand"
	"encoding/xml"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// The AWS query protocol, which IAM and STS speak: a form-encoded request
// (Action=...&Version=...), an XML answer wrapped in <ActionResponse> with
// an <ActionResult>, and errors in an <ErrorResponse>.

// XML namespaces of the two services.
const (
	iamNS = "https://iam.amazonaws.com/doc/2010-05-08/"
	stsNS = "https://sts.amazonaws.com/doc/2011-06-15/"
)

// maxForm bounds a request body: IAM's largest policy document is 10 KB.
const maxForm = 1 << 20

// readForm reads a query-protocol request's parameters, from the URL and a
// form-encoded body, and puts the body back so that the request can still
// go on to kumo. false means the request is not one.
func readForm(r *http.Request) (url.Values, bool) {
	form := r.URL.Query()
	if r.Body == nil || r.Body == http.NoBody {
		return form, form.Get("Action") != ""
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxForm))
	r.Body.Close()
	r.Body = io.NopCloser(bytes.NewReader(body))
	if err != nil {
		return nil, false
	}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		values, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, false
		}
		for k, v := range values {
			form[k] = v
		}
	}
	return form, form.Get("Action") != ""
}

// members reads a query-protocol list: prefix.member.1, prefix.member.2, ...
func members(form url.Values, prefix string) []string {
	var out []string
	for i := 1; ; i++ {
		v, ok := form[prefix+".member."+strconv.Itoa(i)]
		if !ok {
			return out
		}
		out = append(out, v[0])
	}
}

// queryError is an error as the query protocol sends it.
type queryError struct {
	status  int
	code    string
	message string
}

func (e *queryError) Error() string { return e.code + ": " + e.message }

// writeResult answers action with result inside <ActionResult>, or with no
// result element when result is nil.
func writeResult(w http.ResponseWriter, ns, action string, result any) {
	var buf bytes.Buffer
	buf.WriteString(xml.Header)
	enc := xml.NewEncoder(&buf)
	root := xml.StartElement{Name: xml.Name{Local: action + "Response"}, Attr: []xml.Attr{{Name: xml.Name{Local: "xmlns"}, Value: ns}}}
	_ = enc.EncodeToken(root)
	if result != nil {
		if err := enc.EncodeElement(result, xml.StartElement{Name: xml.Name{Local: action + "Result"}}); err != nil {
			writeError(w, ns, &queryError{http.StatusInternalServerError, "InternalFailure", "encode the response: " + err.Error()})
			return
		}
	}
	_ = enc.EncodeElement(struct {
		RequestID string `xml:"RequestId"`
	}{requestID()}, xml.StartElement{Name: xml.Name{Local: "ResponseMetadata"}})
	_ = enc.EncodeToken(root.End())
	_ = enc.Flush()
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(buf.Bytes())
}

// writeError sends e as an <ErrorResponse>.
func writeError(w http.ResponseWriter, ns string, e *queryError) {
	typ := "Sender"
	if e.status >= 500 {
		typ = "Receiver"
	}
	body, _ := xml.Marshal(struct {
		XMLName   xml.Name `xml:"ErrorResponse"`
		Xmlns     string   `xml:"xmlns,attr"`
		Type      string   `xml:"Error>Type"`
		Code      string   `xml:"Error>Code"`
		Message   string   `xml:"Error>Message"`
		RequestID string   `xml:"RequestId"`
	}{Xmlns: ns, Type: typ, Code: e.code, Message: e.message, RequestID: requestID()})
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(e.status)
	_, _ = w.Write(append([]byte(xml.Header), body...))
}

// requestID is a fresh request ID in AWS's format.
func requestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	const hex = "0123456789abcdef"
	out := make([]byte, 0, 36)
	for i, c := range b {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			out = append(out, '-')
		}
		out = append(out, hex[c>>4], hex[c&15])
	}
	return string(out)
}

// isoTime is a timestamp as the query protocol sends it.
func isoTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }

// escapeDocument URL-encodes a policy document as IAM returns it: every
// byte but letters, digits and -_.~ as %XX, which both url.QueryUnescape
// and the AWS CLI's decoding read back exactly.
func escapeDocument(doc string) string {
	var b strings.Builder
	for i := 0; i < len(doc); i++ {
		c := doc[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-_.~", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteString("%" + strings.ToUpper(strconv.FormatUint(uint64(c)>>4, 16)+strconv.FormatUint(uint64(c)&15, 16)))
	}
	return b.String()
}
