// Package localcloud is the embedded local cloud: kumo, an in-process AWS
// emulator, behind a front on a fixed address. The front adds what kumo
// lacks: DynamoDB response checksums, DynamoDB Queries answered by
// partition instead of by walking the table (package queryindex), a
// Secrets Manager on cloud time per account and region (package
// localsecrets), several accounts with their
// own IAM roles, trust-checked AssumeRole and an organization (package
// accounts), a Security Hub (package localsecurityhub), a function runner
// that starts a deployed function's real bootstrap against kumo's Lambda
// Runtime API (package funcrunner), a scheduler that fires deployed
// schedules on a cloud clock (package schedule), SQS event source mappings
// polled on that clock (package eventsource), and a small admin API
// (/_localcloud/...) to read and move that clock.
//
// It imports kumo, the SDK clients it needs to read back what kumo stored,
// and those packages; nothing imports it but the commands and tests. Every
// package of the embedded cloud lives under this folder; the product
// (rotation-check, audit, report, dashboard, cmd/rotation-audit) imports
// none of them.
package localcloud

import (
	"bytes"
	"cmp"
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
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/scheduler"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/sivchari/kumo"

	"github.com/rotation-audit/rotation-audit/internal/clockapi"
	"github.com/rotation-audit/rotation-audit/internal/localcloud/accounts"
	"github.com/rotation-audit/rotation-audit/internal/localcloud/eventsource"
	"github.com/rotation-audit/rotation-audit/internal/localcloud/funcrunner"
	"github.com/rotation-audit/rotation-audit/internal/localcloud/linewriter"
	"github.com/rotation-audit/rotation-audit/internal/localcloud/localsecrets"
	"github.com/rotation-audit/rotation-audit/internal/localcloud/localsecurityhub"
	"github.com/rotation-audit/rotation-audit/internal/localcloud/queryindex"
	"github.com/rotation-audit/rotation-audit/internal/localcloud/schedule"
)

// DefaultAddr is where LocalEmu and LocalStack listen, so the usual
// `aws --endpoint-url http://localhost:4566` works unchanged.
const DefaultAddr = "127.0.0.1:4566"

// DefaultRegion is the region local endpoints are used with.
const DefaultRegion = "us-east-1"

// Options configure Start.
type Options struct {
	// Addr is the front's listen address; empty means a free loopback port.
	Addr string
	// Region is the region clients and functions use; empty means DefaultRegion.
	Region string
	// ClockStart is the cloud time at start; zero means now.
	ClockStart time.Time
	// ClockSpeed is how many cloud seconds pass per real second; zero means 1.
	ClockSpeed float64
	// Logs receives function output and scheduler lines; nil discards them.
	Logs io.Writer
	// Accounts are the organization's accounts, the management account
	// 000000000000 first (see accounts.ParseAccounts); none means no
	// organization, and Organizations is kumo's.
	Accounts []string
	// Regions are the regions Secrets Manager answers in; none means any.
	Regions []string
}

// Cloud is a running embedded local cloud.
type Cloud struct {
	// URL is the front's base URL, for SDKs and `aws --endpoint-url`.
	URL string

	region    string
	kumo      *kumo.Server
	srv       *http.Server
	proxy     *httputil.ReverseProxy
	runner    *funcrunner.Runner
	scheduler *schedule.Scheduler
	secrets   *localsecrets.Service
	accounts  *accounts.Directory
	regions   []string
	mappings  *eventsource.Mappings
	hub       *localsecurityhub.Hub // one account for now: set hub.Account once the front derives a request's
	logs      *linewriter.Synced
	schedules *scheduler.Client // straight to kumo, to read back stored schedules
	functions *lambda.Client    // straight to kumo, to check a function exists

	invokeConfigs invokeConfigs
	scheduleDates scheduleDates
	dynamoDB      gate              // the DynamoDB requests kumo serves at once (limit.go)
	index         *queryindex.Index // answers DynamoDB Queries by partition, not by walking the table
}

// Start starts kumo in-process, the front on opts.Addr, the function runner
// and the scheduler.
func Start(opts Options) (*Cloud, error) {
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	if opts.Region == "" {
		opts.Region = DefaultRegion
	}
	if opts.ClockSpeed == 0 {
		opts.ClockSpeed = 1
	}
	if len(opts.Regions) > 0 && !slices.Contains(opts.Regions, opts.Region) {
		return nil, fmt.Errorf("the region %s is not one of the cloud's regions (%s)", opts.Region, strings.Join(opts.Regions, ", "))
	}
	clock, err := schedule.NewClock(opts.ClockStart, opts.ClockSpeed)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, listenError(opts.Addr, err)
	}
	k := kumo.NewServer()
	backend, err := url.Parse(k.URL)
	if err != nil {
		k.Close()
		ln.Close()
		return nil, fmt.Errorf("kumo URL: %w", err)
	}
	logs := linewriter.NewSynced(opts.Logs)
	c := &Cloud{
		URL:       "http://" + ln.Addr().String(),
		region:    opts.Region,
		kumo:      k,
		logs:      logs,
		secrets:   localsecrets.NewService(clock.Now),
		regions:   opts.Regions,
		hub:       localsecurityhub.New(clock.Now, opts.Region, accounts.DefaultAccount),
		schedules: scheduler.NewFromConfig(clientConfig(k.URL, opts.Region)),
		functions: lambda.NewFromConfig(clientConfig(k.URL, opts.Region)),
		dynamoDB:  make(gate, dynamoDBInFlight),
	}
	c.accounts = accounts.New(accounts.Options{
		Accounts: opts.Accounts, Now: clock.Now,
		DefaultRoles: kumoRoles(iam.NewFromConfig(clientConfig(k.URL, opts.Region))),
	})
	// Security Hub keeps each caller's findings in its own account.
	c.hub.Account = func(r *http.Request) string { return c.accounts.Caller(r).Account }
	// A function runs as a session of its execution role, as on Lambda.
	credentials := func(fn funcrunner.Function) (string, string, string, error) {
		return c.accounts.ExecutionSession(context.Background(), fn.Role, fn.FunctionName)
	}
	c.runner, err = funcrunner.New(funcrunner.Options{RuntimeAPI: backend.Host, Endpoint: c.URL, Region: opts.Region, Logs: logs, Credentials: credentials})
	if err != nil {
		k.Close()
		ln.Close()
		return nil, err
	}
	front := clientConfig(c.URL, opts.Region)
	invoker := asyncInvoker{lambda: lambda.NewFromConfig(front), sqs: sqs.NewFromConfig(front), configs: &c.invokeConfigs, clock: clock, logs: logs}
	// The mappings invoke through the front, as the scheduler does, and
	// reach the queues straight at kumo, so their own calls do not count
	// as new messages.
	c.mappings = eventsource.New(eventsource.Options{
		Now: clock.Now, Queues: sqs.NewFromConfig(clientConfig(k.URL, opts.Region)), Functions: lambda.NewFromConfig(front),
		Wake: func() { c.scheduler.Wake() }, Logs: logs,
	})
	c.scheduler = schedule.New(schedule.Options{Clock: clock, Lambda: invoker, SQS: sqs.NewFromConfig(front), Logs: logs, Poller: c.mappings})
	c.proxy = httputil.NewSingleHostReverseProxy(backend)
	// Keep a connection to kumo for every call a function may have in
	// flight: the default transport keeps two idle ones per host, so a
	// function making a few dozen concurrent calls would redial for most.
	toKumo := http.DefaultTransport.(*http.Transport).Clone()
	toKumo.MaxIdleConnsPerHost = 64
	c.index = queryindex.New(queryindex.KumoGet(&http.Client{Transport: toKumo, Timeout: 10 * time.Second}, k.URL), time.Now, logs.Printf)
	c.proxy.Transport = startupRetry{next: toKumo, runner: c.runner}
	c.proxy.ModifyResponse = c.observe
	c.srv = &http.Server{Handler: http.HandlerFunc(c.serve), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = c.srv.Serve(ln) }()
	return c, nil
}

// listenError explains a failed listen: a busy port is probably another
// local cloud, anything else is the address itself.
func listenError(addr string, err error) error {
	if errors.Is(err, syscall.EADDRINUSE) {
		return fmt.Errorf("listen on %s: the address is in use (is LocalEmu, LocalStack or another local cloud running there? choose another address): %w", addr, err)
	}
	return fmt.Errorf("listen on %s: %w", addr, err)
}

// clientConfig is an SDK configuration for a local endpoint, which accepts
// any credentials.
func clientConfig(endpoint, region string) aws.Config {
	return aws.Config{
		Region:       region,
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
		BaseEndpoint: aws.String(endpoint),
	}
}

// Scheduler is the cloud's scheduler, whose clock is the cloud time.
func (c *Cloud) Scheduler() *schedule.Scheduler { return c.scheduler }

// Secrets is the cloud's Secrets Manager in the default account and region,
// for tests that need what the API cannot do (such as a secret owned by
// another service).
func (c *Cloud) Secrets() *localsecrets.Store {
	return c.secrets.Store(accounts.DefaultAccount, c.region)
}

// Banner is what the commands that serve print under their first line:
// the organization and how to act as one of its accounts, or nothing when
// there is no organization.
func (c *Cloud) Banner() string {
	org := c.accounts.Organization()
	if org == "" {
		return ""
	}
	return org + "\nAct as an account with AWS_ACCESS_KEY_ID=<its ID>; regions: " + cmp.Or(strings.Join(c.regions, ", "), "any") + "\n"
}

// ClockBanner says what the cloud clock reads and when each armed
// schedule fires next, in real time at the clock's speed.
func (c *Cloud) ClockBanner() string {
	clock := c.scheduler.Clock()
	now := clock.Now()
	var b strings.Builder
	fmt.Fprintf(&b, "The cloud clock reads %s and runs at %gx real time.", now.UTC().Format(time.RFC3339), clock.Speed())
	for _, s := range c.scheduler.Schedules() {
		wait := time.Duration(float64(s.NextFire.Sub(now)) / clock.Speed()).Round(time.Millisecond)
		fmt.Fprintf(&b, "\nSchedule %s (%s) fires next at %s, in %s of real time.", s.Name, s.Expression, s.NextFire.UTC().Format(time.RFC3339), wait)
		if clock.Speed() == 1 && wait > time.Minute {
			b.WriteString(" Use -clock-speed 3600 to watch it every second, or move the clock.")
		}
	}
	return b.String()
}

// FunctionStarted is when a function's current process started, for
// measuring cold starts.
func (c *Cloud) FunctionStarted(name string) (time.Time, bool) { return c.runner.StartedAt(name) }

// FunctionPID is the process ID of a function's current process.
func (c *Cloud) FunctionPID(name string) (int, bool) { return c.runner.PID(name) }

// SecurityHub is the cloud's Security Hub.
func (c *Cloud) SecurityHub() *localsecurityhub.Hub { return c.hub }

// Close stops the scheduler, then the front (so no request can start
// another function), then every function process and kumo.
func (c *Cloud) Close() error {
	c.scheduler.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	err := c.srv.Shutdown(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		err = c.srv.Close() // a request still waiting on a function
	}
	err = errors.Join(err, c.runner.Close())
	c.kumo.Close()
	return err
}

// serve answers the admin paths, Secrets Manager and Security Hub itself, and proxies
// everything else to kumo, keeping the bodies of the requests the front
// must observe.
func (c *Cloud) serve(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == clockapi.InfoPath:
		// What kind of endpoint this is, so a deployer can tell the
		// embedded cloud (which runs host builds) from LocalEmu or moto.
		writeJSON(w, http.StatusOK, clockapi.Info{Emulator: "kumo", Runner: true, GOOS: runtime.GOOS, GOARCH: runtime.GOARCH})
		return
	case r.URL.Path == clockapi.ClockPath:
		c.serveClock(w, r)
		return
	case strings.HasPrefix(r.Header.Get("X-Amz-Target"), "secretsmanager."):
		c.serveSecrets(w, r)
		return
	case c.accounts.Serve(w, r, c.accounts.Caller(r)):
		return
	case eventsource.IsAPI(r.URL.Path):
		c.mappings.ServeHTTP(w, r)
		return
	case queueChange(r):
		c.serveQueueChange(w, r)
		return
	case localsecurityhub.Handles(r):
		c.hub.ServeHTTP(w, r)
		return
	case invokeConfigPath.MatchString(r.URL.Path):
		name, _ := url.PathUnescape(invokeConfigPath.FindStringSubmatch(r.URL.Path)[1])
		c.serveInvokeConfig(w, r, name)
		return
	}
	if op := queryindex.Op(r); op != "" {
		c.serveDynamoDB(w, r, op)
		return
	}
	// The whole request is read before it goes on: net/http's transport
	// reads a streamed body once more after sending it, and if kumo has
	// already answered, the server has closed that body, so the transport
	// drops the connection while the answer is still being copied
	// (golang/go#40747): a cut answer with status 200.
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "read request: "+err.Error(), http.StatusBadRequest)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	if watched(r) != nil {
		r = r.WithContext(context.WithValue(r.Context(), requestBodyKey{}, body))
	}
	c.proxy.ServeHTTP(w, r)
}

type requestBodyKey struct{}

// serveDynamoDB answers a Query the index can answer, and proxies every
// other DynamoDB request to kumo, holding the index while a write is in
// flight so that it follows kumo (observe applies the answer).
func (c *Cloud) serveDynamoDB(w http.ResponseWriter, r *http.Request, op string) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "read request: "+err.Error(), http.StatusBadRequest)
		return
	}
	if !c.dynamoDB.enter(r) {
		return // given up while queued
	}
	defer c.dynamoDB.leave(r)
	if op == "Query" {
		if out, ok := c.index.Query(body); ok {
			w.Header().Set("Content-Type", "application/x-amz-json-1.0")
			w.Header().Set("X-Amz-Crc32", strconv.FormatUint(uint64(crc32.ChecksumIEEE(out)), 10))
			_, _ = w.Write(out)
			return
		}
	}
	defer c.index.Hold(op)()
	r.Body = io.NopCloser(bytes.NewReader(body))
	// A client that gives up does not stop kumo halfway: the index must
	// hear the answer to every write kumo may have applied.
	r = r.WithContext(context.WithValue(context.WithoutCancel(r.Context()), requestBodyKey{}, body))
	c.proxy.ServeHTTP(w, r)
}

// queueChange reports whether a request may make messages visible in a
// queue (kumo's SQS speaks only the JSON protocol).
func queueChange(r *http.Request) bool {
	switch r.Header.Get("X-Amz-Target") {
	case "AmazonSQS.SendMessage", "AmazonSQS.SendMessageBatch",
		"AmazonSQS.ChangeMessageVisibility", "AmazonSQS.ChangeMessageVisibilityBatch":
		return true
	}
	return false
}

// serveQueueChange proxies a request that may make messages visible and
// then tells the event source mappings of that queue to poll.
func (c *Cloud) serveQueueChange(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "read request: "+err.Error(), http.StatusBadRequest)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	c.proxy.ServeHTTP(w, r)
	var req struct{ QueueUrl string }
	if json.Unmarshal(body, &req) == nil && req.QueueUrl != "" {
		c.mappings.Notify(req.QueueUrl)
	}
}

// startupRetry retries an Invoke that reaches kumo before the function's
// new process has polled the Runtime API for the first time. kumo answers
// that with "no runtime handler"; on AWS the function would be Pending for
// that moment and the invoke would wait.
type startupRetry struct {
	next   http.RoundTripper
	runner *funcrunner.Runner
}

// startupWait bounds how long an Invoke waits for a starting process.
const startupWait = 5 * time.Second

func (t startupRetry) RoundTrip(req *http.Request) (*http.Response, error) {
	m := invokePath.FindStringSubmatch(req.URL.Path)
	if m == nil || req.Method != http.MethodPost || req.Body == nil {
		return t.next.RoundTrip(req)
	}
	name, _ := url.PathUnescape(m[1])
	name = functionName(name)
	body, err := io.ReadAll(req.Body)
	req.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("read invoke request: %w", err)
	}
	deadline := time.Now().Add(startupWait)
	for {
		try := req.Clone(req.Context())
		try.Body = io.NopCloser(bytes.NewReader(body))
		resp, err := t.next.RoundTrip(try)
		if err != nil || resp.StatusCode != http.StatusBadGateway {
			return resp, err
		}
		data, err := readBody(resp)
		if err != nil || !bytes.Contains(data, []byte("has no runtime handler")) ||
			!t.runner.Running(name) || time.Now().After(deadline) {
			return resp, err
		}
		select {
		case <-req.Context().Done():
			return resp, nil
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// Lambda and Scheduler calls that change what must run locally.
var (
	invokePath    = regexp.MustCompile(`^/2015-03-31/functions/([^/]+)/invocations/?$`)
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
// restarts the function process or re-arms the schedule.
func (c *Cloud) observe(resp *http.Response) error {
	req := resp.Request
	if op := queryindex.Op(req); op != "" {
		body, err := readBody(resp)
		if err != nil {
			return err
		}
		resp.Header.Set("X-Amz-Crc32", strconv.FormatUint(uint64(crc32.ChecksumIEEE(body)), 10))
		reqBody, _ := req.Context().Value(requestBodyKey{}).([]byte)
		c.index.Apply(op, reqBody, resp.StatusCode, body)
		return nil
	}
	if name, ok := schedulePathName(req.URL.Path); ok && req.Method == http.MethodGet && resp.StatusCode == http.StatusOK {
		body, err := readBody(resp)
		if err != nil {
			return err
		}
		body = c.scheduleDates.rewrite(req, name, body)
		resp.Body = io.NopCloser(bytes.NewReader(body))
		resp.ContentLength = int64(len(body))
		resp.Header.Set("Content-Length", strconv.Itoa(len(body)))
		return nil
	}
	w := watched(req)
	if w == nil || resp.StatusCode/100 != 2 {
		return nil
	}
	reqBody, _ := req.Context().Value(requestBodyKey{}).([]byte)
	switch {
	case w.schedule != "" && w.remove:
		c.scheduleDates.changed(req.Method, req.URL.Query().Get("groupName"), w.schedule, c.scheduler.Clock().Now())
		c.scheduler.Remove(req.URL.Query().Get("groupName"), w.schedule)
	case w.schedule != "":
		// Create and Update carry the group in the body, Delete in the query.
		var body struct{ GroupName string }
		_ = json.Unmarshal(reqBody, &body)
		c.scheduleDates.changed(req.Method, body.GroupName, w.schedule, c.scheduler.Clock().Now())
		c.armSchedule(req.Context(), w.schedule, body.GroupName)
	case w.remove:
		c.runner.Remove(w.function)
		c.invokeConfigs.remove(w.function)
	default:
		body, err := readBody(resp)
		if err != nil {
			return err
		}
		var fn funcrunner.Function
		if err := json.Unmarshal(body, &fn); err != nil || fn.FunctionName == "" {
			c.logs.Printf("runner: cannot read the function configuration kumo returned: %v\n", err)
			return nil
		}
		var code []byte
		if w.code {
			code = zipFromRequest(w.create, reqBody)
		}
		c.runner.Apply(fn, code)
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

// armSchedule hands the stored schedule to the scheduler, which logs why
// one it refuses will not fire.
func (c *Cloud) armSchedule(ctx context.Context, name, group string) {
	in := &scheduler.GetScheduleInput{Name: aws.String(name)}
	if group != "" {
		in.GroupName = aws.String(group)
	}
	s, err := c.schedules.GetSchedule(ctx, in)
	if err != nil {
		c.logs.Printf("scheduler: cannot read schedule %s: %v\n", name, err)
		return
	}
	_ = c.scheduler.Set(s)
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

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
