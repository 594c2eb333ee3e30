// Package fntest calls an edgefn function's Handler in-process, without a plugin, so that a
// function's own tests run with `go test` alone. It fills in what the gateway would (attempt,
// time, empty maps), recovers a panic into an error, and surfaces a Result that failed to encode.
package fntest

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/edgefn/edgefn/runtime/fn"
)

// Invoke calls h with ev as the gateway would, with a deadline of timeout (30s when zero). Log
// lines go to t's log.
func Invoke(t testing.TB, h fn.Handler, ev *fn.Event, timeout time.Duration) (res *fn.Result, err error) {
	t.Helper()
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	ctx = fn.WithLogger(ctx, slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})))
	fill(ev)
	defer func() {
		if p := recover(); p != nil {
			res, err = nil, fmt.Errorf("fntest: handler panicked: %v", p)
		}
	}()
	res, err = h.Handle(ctx, ev)
	if err == nil && res != nil && res.Err() != nil {
		err = res.Err()
	}
	return res, err
}

// HTTP returns an event like the one an HTTP trigger makes. target is a path with an optional
// query ("/orders/42?verbose=1"); params are the route's captures; body, when not nil, is encoded
// as JSON unless it is a []byte or a string.
func HTTP(method, target string, params map[string]string, body any) *fn.Event {
	path, rawQuery, _ := strings.Cut(target, "?")
	q, _ := url.ParseQuery(rawQuery)
	ev := &fn.Event{Source: "http", Method: method, Path: path, Params: params, Query: q}
	ev.Data, ev.ContentType = encode(body)
	return ev
}

// Message returns an event like the one a queue or stream trigger makes, e.g.
// Message("stream/order-events", "OrderCreated", order).
func Message(source, eventType string, data any) *fn.Event {
	ev := &fn.Event{Source: source, Type: eventType}
	ev.Data, ev.ContentType = encode(data)
	return ev
}

func encode(v any) ([]byte, string) {
	switch b := v.(type) {
	case nil:
		return nil, ""
	case []byte:
		return b, "application/octet-stream"
	case string:
		return []byte(b), "text/plain; charset=utf-8"
	}
	data, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("fntest: encode body: %v", err))
	}
	return data, "application/json"
}

func fill(ev *fn.Event) {
	if ev.Attempt == 0 {
		ev.Attempt = 1
	}
	if ev.Time.IsZero() {
		ev.Time = time.Now().UTC()
	}
	if ev.Source == "" {
		ev.Source = "invoke"
	}
	if ev.Headers == nil {
		ev.Headers = map[string]string{}
	}
	if ev.Params == nil {
		ev.Params = map[string]string{}
	}
	if ev.Query == nil {
		ev.Query = url.Values{}
	}
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
