// Package runtime is the interface between EventFlow's services and the
// place functions run: local processes (package process) or Kubernetes.
// Each service takes only the part it needs: the deployer Deployments, the
// invoker Invoker, logstream LogSource.
package runtime

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/eventflow/eventflow/pkg/events"
	"github.com/eventflow/eventflow/pkg/function"
)

// ErrNoReadyInstance is returned by Invoke in http mode when no instance of
// the function is ready to serve.
var ErrNoReadyInstance = errors.New("no ready instance")

// Ref names a function in the runtime.
type Ref struct {
	Tenant string
	Name   string
}

// Observed is a function's state as the runtime sees it.
type Observed struct {
	Phase         function.Phase // Deploying, Ready or Failed
	ReadyReplicas int32
	// Replicas is the desired count the runtime is converging to.
	Replicas int32
	Message  string
	// Endpoints are base URLs (http://host:port) where the ready
	// instances of an http-mode function serve, for the gateway's route;
	// one URL may stand for many (a Kubernetes Service).
	Endpoints []string
}

// Deployments makes the runtime match desired specs. Apply and Remove are
// idempotent and level-triggered: they converge whatever the current state.
type Deployments interface {
	// Apply starts converging the function to spec and returns; progress is
	// reported on Changes and read with Observe.
	Apply(ctx context.Context, tenant string, spec function.Spec) error
	// Remove deletes everything the function has and returns once it is gone.
	Remove(ctx context.Context, tenant, name string) error
	// Observe reads the function's current state; found is false when the
	// runtime has nothing for it.
	Observe(ctx context.Context, tenant, name string) (obs Observed, found bool, err error)
	// List returns every function the runtime has something for.
	List(ctx context.Context) ([]Ref, error)
	// Changes delivers a Ref whenever that function's runtime state changed.
	Changes() <-chan Ref
	// Scale sets how many instances of an applied http-mode function run
	// (its scale.metric is not cpu: that count is left to Kubernetes'
	// HorizontalPodAutoscaler). Apply never changes a count set by Scale;
	// before the first Scale a function runs its scale's Initial count.
	// Instances removed are drained first: taken out of the endpoints,
	// then stopped once their requests have finished (or the function's
	// timeout has passed).
	Scale(ctx context.Context, tenant, name string, replicas int32) error
}

// ReadyWaiter is what an Invoker may also offer: WaitReady returns when
// the function's instances may have changed (one became ready), or when
// ctx ends (its error). Callers check again with Invoke; a runtime without
// it is polled.
type ReadyWaiter interface {
	WaitReady(ctx context.Context, tenant, name string) error
}

// InvokeRequest is one run of a function.
type InvokeRequest struct {
	ID          string
	Payload     []byte
	ContentType string
	Timeout     time.Duration
	// Request, for an http-mode function, is the HTTP request to send
	// (an /async-fn/ route call): its method, path and headers instead of
	// a POST to "/" with ContentType.
	Request *events.HTTPRequest
}

// InvokeResult is how a run ended. A function that fails (non-zero exit,
// HTTP error, timeout) is a result with Succeeded false, not an error.
type InvokeResult struct {
	Succeeded bool
	Output    []byte
	// ContentType of Output when the function said (http mode).
	ContentType string
	Error       string
	ExitCode    *int
	TimedOut    bool // the run was stopped at its timeout
	// HTTPStatus the function answered with (http mode).
	HTTPStatus int
	Duration   time.Duration
}

// HTTPTarget is what an http-mode invocation sends to an instance at host
// (host:port): a POST to "/" with the payload's content type, or the
// request an /async-fn/ route call queued (Request), with its own method,
// path, query and headers; the invocation id goes in X-Invocation-Id
// either way. A queued path that is not absolute is an error: no instance
// would ever take it.
func (req InvokeRequest) HTTPTarget(host string) (method string, u *url.URL, h http.Header, err error) {
	method, path, ct := http.MethodPost, "/", req.ContentType
	if r := req.Request; r != nil {
		method, path, h = r.Method, r.Path, r.Header.Clone()
	} else if ct == "" {
		ct = "application/octet-stream"
	}
	if h == nil {
		h = http.Header{}
	}
	u, err = url.ParseRequestURI(path)
	if err != nil || !strings.HasPrefix(path, "/") {
		return "", nil, nil, fmt.Errorf("request path %q is not an absolute path", path)
	}
	u.Scheme, u.Host = "http", host
	if ct != "" {
		h.Set("Content-Type", ct)
	}
	h.Set("X-Invocation-Id", req.ID)
	return method, u, h, nil
}

// Invoker runs invocations. An error means the runtime could not run the
// function at all (e.g. ErrNoReadyInstance); the caller may retry.
type Invoker interface {
	Invoke(ctx context.Context, tenant string, spec function.Spec, req InvokeRequest) (InvokeResult, error)
}

// LogSource delivers the log lines of every function's instances and runs.
type LogSource interface {
	// FollowLogs sends lines to out until ctx ends.
	FollowLogs(ctx context.Context, out chan<- events.LogLine) error
}

// HTTPResult is the result of an http-mode invocation whose function
// answered: 2xx succeeds with the body as output; any other status fails
// with the status and the start of the body as the error.
func HTTPResult(status int, body []byte, contentType string, took time.Duration) InvokeResult {
	res := InvokeResult{Output: body, ContentType: contentType, Duration: took, HTTPStatus: status}
	if status/100 == 2 {
		res.Succeeded = true
		return res
	}
	res.Error = "HTTP " + strconv.Itoa(status)
	if len(body) > 0 {
		res.Error += ": " + string(body[:min(len(body), 200)])
	}
	return res
}
