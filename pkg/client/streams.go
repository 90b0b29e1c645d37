package client

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/eventflow/eventflow/pkg/events"
)

// Stream reads items from a Server-Sent Events answer. Close it when done.
type Stream[T any] struct {
	body   io.ReadCloser
	frames *frameReader
	decode func(Frame) (T, bool, error)
	// LastID is the id of the last item read: for events, its Seq, which
	// EventsOptions.Since takes to resume after a broken connection.
	LastID string
}

// Next returns the next item; io.EOF once the server ended the stream.
func (s *Stream[T]) Next() (T, error) {
	for {
		f, err := s.frames.Next()
		if err != nil {
			var zero T
			return zero, err
		}
		v, ok, err := s.decode(f)
		if err != nil {
			return v, err
		}
		if ok {
			if f.ID != "" {
				s.LastID = f.ID
			}
			return v, nil
		}
	}
}

// Close ends the stream.
func (s *Stream[T]) Close() error { return s.body.Close() }

func (c *Client) stream(ctx context.Context, path string, q url.Values) (io.ReadCloser, error) {
	resp, err := c.send(ctx, request{method: http.MethodGet, path: path, query: q,
		header: http.Header{"Accept": {"text/event-stream"}}})
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// LogsOptions choose which log lines to read.
type LogsOptions struct {
	// Tail is how many stored lines to start with (nil: the gateway's
	// default of 100; 0: none, only new lines).
	Tail *int
	// Follow keeps the stream open for new lines.
	Follow bool
	// Since keeps only lines at or after now minus Since (0: all).
	Since time.Duration
}

// Logs streams a function's log lines.
func (c *Client) Logs(ctx context.Context, name string, o LogsOptions) (*Stream[events.LogLine], error) {
	q := url.Values{"follow": {strconv.FormatBool(o.Follow)}}
	if o.Tail != nil {
		q.Set("tail", strconv.Itoa(*o.Tail))
	}
	if o.Since > 0 {
		q.Set("since", o.Since.String())
	}
	body, err := c.stream(ctx, "/v1/functions/"+pathEscape(name)+"/logs", q)
	if err != nil {
		return nil, err
	}
	return &Stream[events.LogLine]{body: body, frames: newFrameReader(body), decode: func(f Frame) (events.LogLine, bool, error) {
		var l events.LogLine
		if f.Event != "log" {
			return l, false, nil
		}
		if err := json.Unmarshal(f.Data, &l); err != nil {
			return l, false, fmt.Errorf("log line %s: %w", f.ID, err)
		}
		return l, true, nil
	}}, nil
}

// Event is one lifecycle event: a CloudEvent and its position in the
// tenant's event stream.
type Event struct {
	Seq string `json:"seq"`
	events.CloudEvent
}

// EventsOptions choose which lifecycle events to read.
type EventsOptions struct {
	Function string
	Type     string
	// Since is the Seq of the last event already seen ("0": from the
	// first stored; "": new events only, or every stored one when not
	// following).
	Since string
	// Follow keeps the stream open for new events; otherwise it ends
	// once the stored ones are read.
	Follow bool
}

// Events streams the tenant's lifecycle events.
func (c *Client) Events(ctx context.Context, o EventsOptions) (*Stream[Event], error) {
	q := url.Values{"follow": {strconv.FormatBool(o.Follow)}}
	if o.Function != "" {
		q.Set("function", o.Function)
	}
	if o.Type != "" {
		q.Set("type", o.Type)
	}
	if o.Since != "" {
		q.Set("since", o.Since)
	}
	body, err := c.stream(ctx, "/v1/events", q)
	if err != nil {
		return nil, err
	}
	return &Stream[Event]{body: body, frames: newFrameReader(body), decode: func(f Frame) (Event, bool, error) {
		ce, err := events.ParseCloudEvent(f.Data)
		if err != nil {
			return Event{Seq: f.ID}, false, fmt.Errorf("event %s: %w", f.ID, err)
		}
		return Event{Seq: f.ID, CloudEvent: ce}, true, nil
	}}, nil
}
