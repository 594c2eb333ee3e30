package ws

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"slices"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/edgefn/edgefn/internal/id"
	"github.com/edgefn/edgefn/internal/telemetry"
	"github.com/edgefn/edgefn/runtime"
	"github.com/edgefn/edgefn/runtime/dispatch"
	"github.com/edgefn/edgefn/runtime/event"
	"github.com/edgefn/edgefn/runtime/manifest"
)

// The functions of websocket triggers (docs/websocket.md#functions): a client's publish runs
// every function whose trigger matches the topic; a connect runs the one connect function; a
// subscribe or an rpc runs the function of the most specific matching pattern (the manifest
// refuses two functions with equally specific patterns that match one name); a disconnect
// runs every disconnect function.

// wsFunc is one function's websocket trigger.
type wsFunc struct {
	pattern     string
	specificity int
	fn          dispatch.Function
}

// wsFuncs are the websocket triggers of the deployed functions, by event; subscribe and rpc
// are sorted most specific first.
type wsFuncs struct {
	publish, subscribe, rpc, disconnect []wsFunc
	connect                             *wsFunc
}

// SetFunctions takes the websocket triggers of the deployed functions. Connections take
// them from their next event; a connection decides at its start whether a connect function
// runs.
func (h *Hub) SetFunctions(fns []dispatch.Function) {
	fs := &wsFuncs{}
	for _, f := range fns {
		m := f.Manifest()
		if m == nil {
			continue
		}
		for _, t := range m.Triggers {
			w := t.WebSocket
			if w == nil {
				continue
			}
			e := wsFunc{pattern: w.Pattern(), specificity: manifest.PatternSpecificity(w.Pattern()), fn: f}
			switch w.Event {
			case manifest.WSConnect:
				if fs.connect == nil {
					fs.connect = &e
				}
			case manifest.WSSubscribe:
				fs.subscribe = append(fs.subscribe, e)
			case manifest.WSRPC:
				fs.rpc = append(fs.rpc, e)
			case manifest.WSDisconnect:
				fs.disconnect = append(fs.disconnect, e)
			default:
				fs.publish = append(fs.publish, e)
			}
		}
	}
	bySpecificity := func(a, b wsFunc) int { return cmp.Compare(b.specificity, a.specificity) }
	slices.SortStableFunc(fs.subscribe, bySpecificity)
	slices.SortStableFunc(fs.rpc, bySpecificity)
	h.funcs.Store(fs)
}

// match returns the first trigger of ts whose pattern matches name, with its captures.
func match(ts []wsFunc, name string) (*wsFunc, map[string]string) {
	for i := range ts {
		if params, ok := manifest.MatchTopic(ts[i].pattern, name); ok {
			return &ts[i], params
		}
	}
	return nil, nil
}

// matchTriggers returns the functions whose publish trigger matches topic.
func (h *Hub) matchTriggers(topic string) []dispatch.Function {
	var out []dispatch.Function
	for _, t := range h.funcs.Load().publish {
		if _, ok := manifest.MatchTopic(t.pattern, topic); ok {
			out = append(out, t.fn)
		}
	}
	return out
}

// The event types of websocket functions (docs/sdk.md); a publish keeps its older name.
const (
	typePublish = "websocket.publish"
	typePrefix  = "edgefn.ws."
)

// event builds the event of a websocket function: the connection's ID as its subject, its
// claims, and the client's IP and handshake headers.
func (c *conn) event(typ, source string, data []byte) *event.Event {
	h := make(map[string]string, 4)
	h["X-Client-IP"] = c.ip
	for _, kv := range [...][2]string{{"Origin", c.origin}, {"User-Agent", c.userAgent}, {"Cookie", c.cookie}} {
		if kv[1] != "" {
			h[kv[0]] = kv[1]
		}
	}
	ev := &event.Event{
		ID: id.Unique(), Type: typ, Source: source, Subject: c.id, Time: time.Now().UTC(), Data: data,
		Attempt: 1, Claims: c.currentClaims(), Headers: h,
	}
	if len(data) > 0 {
		ev.ContentType = "application/json"
	}
	return ev
}

// outcome is what a websocket function answered: its status (2xx for success), the body of
// a success, and the code and message of a failure, safe to show to the client.
type outcome struct {
	status        int
	body          []byte
	code, message string
}

func (o outcome) ok() bool { return o.status >= 200 && o.status < 300 }

// call invokes f with ev and carries out the effects of a success; what it answered is an
// outcome, and failures are logged and counted. Except for a publish, whose span its caller
// started, the call is a server span of its own, named after kind and name (a topic or a
// method).
func (c *conn) call(ctx context.Context, kind, name string, f dispatch.Function, ev *event.Event) outcome {
	ctx = runtime.WithTrigger(ctx, runtime.TriggerWebSocket)
	span := trace.SpanFromContext(ctx)
	if kind != manifest.WSPublish {
		ctx, span = telemetry.Start(ctx, trace.SpanKindServer, "websocket "+kind+" ", name)
		defer span.End()
	}
	ctx = runtime.WithRequestID(ctx, ev.ID)
	res, err := f.Invoke(ctx, ev)
	if err == nil && res != nil && res.Status >= 400 {
		err = &event.Error{Status: res.Status, Message: failureMessage(res.Body)}
	}
	if err == nil && res != nil && len(res.Emitted)+len(res.Notified) > 0 {
		if c.hub.cfg.Effects == nil {
			if len(res.Emitted)+len(res.Notified) > 0 {
				err = errNoEffects
			}
		} else {
			ectx, cancel := context.WithTimeout(ctx, 15*time.Second)
			err = c.hub.cfg.Effects.Apply(ectx, f.Name(), ev, res)
			cancel()
		}
	}
	o := outcome{status: 200}
	if err != nil {
		telemetry.Fail(span, err)
		o.status, o.code, o.message = runtime.HTTPStatus(err)
		c.hub.cfg.Logger.Warn("websocket function failed", "function", f.Name(), "event", kind, "name", name,
			"client", c.id, "request_id", ev.ID, "error", err)
	} else if res != nil {
		o.status, o.body = cmp.Or(res.Status, 200), res.Body
	}
	c.hub.countCall(f.Name(), kind, o.status)
	return o
}

// failureMessage is the message of a failure a function answered with a status rather than
// an error: the "message" of a JSON body (or its error.message), or the body as text.
func failureMessage(body []byte) string {
	var m struct {
		Message string `json:"message"`
		Error   struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &m) == nil && cmp.Or(m.Message, m.Error.Message) != "" {
		return cmp.Or(m.Message, m.Error.Message)
	}
	s := string(bytes.TrimSpace(body))
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}

// callKey names one series of edgefn_ws_function_calls_total.
type callKey struct{ function, kind, outcome string }

// countCall counts an invocation of a websocket function in edgefn_ws_function_calls_total.
// The attribute sets of the series are made once each and kept (the series are few: functions
// × events × 3 outcomes), so that counting a call allocates nothing.
func (h *Hub) countCall(function, kind string, status int) {
	k := callKey{function, kind, "success"}
	switch {
	case status >= 500 || status < 200:
		k.outcome = "error"
	case status >= 400:
		k.outcome = "client_error"
	}
	opt, ok := h.callAttrs.Load(k)
	if !ok {
		opt, _ = h.callAttrs.LoadOrStore(k, metric.WithAttributeSet(attribute.NewSet(
			attribute.String("function", function), attribute.String("event", kind), attribute.String("outcome", k.outcome))))
	}
	h.calls.Add(context.Background(), 1, opt.(metric.AddOption))
}

// jsonData is a function's body as JSON for a reply: itself when it is JSON, null when
// empty, and a JSON string of it otherwise.
func jsonData(body []byte) []byte {
	body = bytes.TrimSpace(body)
	switch {
	case len(body) == 0:
		return []byte("null")
	case utf8.Valid(body) && json.Valid(body):
		return body
	}
	return appendString(nil, string(body))
}
