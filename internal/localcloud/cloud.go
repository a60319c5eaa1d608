package localcloud

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/scheduler"
	"github.com/sivchari/kumo"
)

// DefaultAddr is where LocalEmu and LocalStack listen, so the usual
// `aws --endpoint-url http://localhost:4566` works unchanged.
const DefaultAddr = "127.0.0.1:4566"

// infoPath answers what kind of endpoint this is, so a deployer can tell the
// embedded cloud (which runs host builds) from LocalEmu or moto.
const infoPath = "/_localcloud/info"

// Options configure Start.
type Options struct {
	// Addr is the front's listen address; empty means a free loopback port.
	Addr string
	// Region is the region clients and functions use; empty means DefaultRegion.
	Region string
	// ClockSpeed is the scheduler clock's speed (see ClockOptions.Speed).
	ClockSpeed float64
	// Logs receives function output and clock lines; nil discards them.
	Logs io.Writer
}

// Cloud is a running embedded local cloud.
type Cloud struct {
	// URL is the front's base URL, for SDKs and `aws --endpoint-url`.
	URL string

	kumo   *kumo.Server
	srv    *http.Server
	runner *runner
	clock  *Clock
	logs   *syncWriter
	direct *Clients // clients straight to kumo, for the front's own look-ups
}

// Start starts kumo in-process, the front on opts.Addr, the function runner
// and the scheduler clock.
func Start(opts Options) (*Cloud, error) {
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	if opts.Region == "" {
		opts.Region = DefaultRegion
	}
	logs := &syncWriter{w: io.Discard}
	if opts.Logs != nil {
		logs.w = opts.Logs
	}
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s (is LocalEmu, LocalStack or another local cloud running there? choose another address): %w", opts.Addr, err)
	}
	k := kumo.NewServer()
	backend, err := url.Parse(k.URL)
	if err != nil {
		k.Close()
		ln.Close()
		return nil, fmt.Errorf("kumo URL: %w", err)
	}
	c := &Cloud{URL: "http://" + ln.Addr().String(), kumo: k, logs: logs, direct: NewClients(k.URL, opts.Region)}
	if c.runner, err = newRunner(backend.Host, c.URL, opts.Region, logs); err != nil {
		k.Close()
		ln.Close()
		return nil, err
	}
	clients := NewClients(c.URL, opts.Region)
	c.clock = NewClock(ClockOptions{Speed: opts.ClockSpeed, Lambda: clients.Lambda, SQS: clients.SQS, Logs: logs})
	proxy := httputil.NewSingleHostReverseProxy(backend)
	proxy.ModifyResponse = c.observe
	proxy.ErrorLog = nil
	c.srv = &http.Server{Handler: c.handler(proxy), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = c.srv.Serve(ln) }()
	return c, nil
}

// Clients returns SDK clients pointed at the front.
func (c *Cloud) Clients() *Clients { return NewClients(c.URL, c.direct.Region) }

// FunctionStarted is when a function's current process started, for
// measuring cold starts.
func (c *Cloud) FunctionStarted(name string) (time.Time, bool) { return c.runner.startedAt(name) }

// Close stops the clock, then the front (so no request can start another
// function), then every function process and kumo.
func (c *Cloud) Close() error {
	c.clock.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	err := c.srv.Shutdown(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		err = c.srv.Close() // a request still waiting on a function
	}
	c.runner.close()
	c.kumo.Close()
	return err
}

// handler answers the info path and proxies everything else to kumo,
// keeping the bodies of the requests the front must observe.
func (c *Cloud) handler(proxy *httputil.ReverseProxy) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == infoPath {
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(Info{Emulator: "kumo", Runner: true, GOOS: runtime.GOOS, GOARCH: runtime.GOARCH})
			return
		}
		if watched(r) != nil {
			body, err := io.ReadAll(r.Body)
			if err != nil {
				http.Error(w, "read request: "+err.Error(), http.StatusBadRequest)
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			r = r.WithContext(context.WithValue(r.Context(), requestBodyKey{}, body))
		}
		proxy.ServeHTTP(w, r)
	})
}

type requestBodyKey struct{}

// Lambda and Scheduler calls that change what must run locally.
var (
	functionsPath = regexp.MustCompile(`^/2015-03-31/functions/?$`)
	functionPath  = regexp.MustCompile(`^/2015-03-31/functions/([^/]+)(/code|/configuration)?/?$`)
	schedulePath  = regexp.MustCompile(`^/schedules/([^/]+)/?$`)
)

// watch says what a watched request does.
type watch struct {
	function, schedule string
	create, code       bool
	remove             bool
}

// watched returns what a request changes, or nil if the front can ignore it.
func watched(r *http.Request) *watch {
	p := r.URL.Path
	switch {
	case r.Method == http.MethodPost && functionsPath.MatchString(p):
		return &watch{create: true, code: true}
	case functionPath.MatchString(p) && (r.Method == http.MethodPut || r.Method == http.MethodDelete):
		m := functionPath.FindStringSubmatch(p)
		name, _ := url.PathUnescape(m[1])
		return &watch{function: functionName(name), code: m[2] == "/code", remove: r.Method == http.MethodDelete}
	case schedulePath.MatchString(p) && r.Method != http.MethodGet:
		name, _ := url.PathUnescape(schedulePath.FindStringSubmatch(p)[1])
		return &watch{schedule: name, remove: r.Method == http.MethodDelete}
	}
	return nil
}

// observe runs on every kumo response before it goes back to the client:
// it adds DynamoDB's CRC-32 header (kumo sends none, and the SDK then warns
// of a checksum mismatch) and, after a successful Lambda or Scheduler change,
// restarts the function process or re-arms the clock.
func (c *Cloud) observe(resp *http.Response) error {
	req := resp.Request
	if strings.HasPrefix(req.Header.Get("X-Amz-Target"), "DynamoDB_") && resp.Header.Get("X-Amz-Crc32") == "" {
		body, err := readBody(resp)
		if err != nil {
			return err
		}
		resp.Header.Set("X-Amz-Crc32", strconv.FormatUint(uint64(crc32.ChecksumIEEE(body)), 10))
		return nil
	}
	w := watched(req)
	if w == nil || resp.StatusCode/100 != 2 {
		return nil
	}
	reqBody, _ := req.Context().Value(requestBodyKey{}).([]byte)
	switch {
	case w.schedule != "" && w.remove:
		c.clock.Remove(req.URL.Query().Get("groupName"), w.schedule)
	case w.schedule != "":
		// Create and Update carry the group in the body, Delete in the query.
		var body struct{ GroupName string }
		_ = json.Unmarshal(reqBody, &body)
		c.armSchedule(req.Context(), w.schedule, body.GroupName)
	case w.remove:
		c.runner.remove(w.function)
	default:
		body, err := readBody(resp)
		if err != nil {
			return err
		}
		var cfg functionConfig
		if err := json.Unmarshal(body, &cfg); err != nil || cfg.FunctionName == "" {
			c.logs.printf("runner: cannot read the function configuration kumo returned: %v\n", err)
			return nil
		}
		var code []byte
		if w.code {
			code = zipFromRequest(w.create, reqBody)
		}
		c.runner.apply(cfg, code)
	}
	return nil
}

// functionName accepts what the Lambda API does in a path: a name, or a
// function ARN (arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]).
func functionName(s string) string {
	if _, rest, ok := strings.Cut(s, ":function:"); ok {
		name, _, _ := strings.Cut(rest, ":")
		return name
	}
	return s
}

// armSchedule hands the stored schedule to the clock.
func (c *Cloud) armSchedule(ctx context.Context, name, group string) {
	in := &scheduler.GetScheduleInput{Name: aws.String(name)}
	if group != "" {
		in.GroupName = aws.String(group)
	}
	s, err := c.direct.Scheduler.GetSchedule(ctx, in)
	if err != nil {
		c.logs.printf("clock: cannot read schedule %s: %v\n", name, err)
		return
	}
	if err := c.clock.Set(s); err != nil {
		c.logs.printf("clock: %s will not fire locally: %v\n", name, err)
	}
}

// zipFromRequest takes the deployment package from a CreateFunction
// ({"Code":{"ZipFile":...}}) or UpdateFunctionCode ({"ZipFile":...}) body.
func zipFromRequest(create bool, body []byte) []byte {
	var req struct {
		ZipFile []byte
		Code    struct{ ZipFile []byte }
	}
	if json.Unmarshal(body, &req) != nil {
		return nil
	}
	if create {
		return req.Code.ZipFile
	}
	return req.ZipFile
}

// readBody reads a response body and puts it back for the client.
func readBody(resp *http.Response) ([]byte, error) {
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("read kumo response: %w", err)
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	resp.Header.Set("Content-Length", strconv.Itoa(len(body)))
	return body, nil
}

// Info describes an embedded local cloud endpoint.
type Info struct {
	Emulator string `json:"emulator"`
	Runner   bool   `json:"runner"`
	GOOS     string `json:"goos"`
	GOARCH   string `json:"goarch"`
}

// Probe asks an endpoint whether it is an embedded local cloud. ok is false
// for anything else (LocalEmu, LocalStack, moto).
func Probe(ctx context.Context, endpoint string) (info Info, ok bool) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(endpoint, "/")+infoPath, nil)
	if err != nil {
		return Info{}, false
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return Info{}, false
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&info) != nil || !info.Runner {
		return Info{}, false
	}
	return info, true
}
