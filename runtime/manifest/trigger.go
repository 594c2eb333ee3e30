package manifest

import (
	"regexp"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/edgefn/edgefn/internal/cron"
	"github.com/edgefn/edgefn/internal/filter"
)

// Defaults applied to queue and stream triggers (docs/manifest.md).
const (
	DefaultPrefetch = 16
	DefaultRetries  = 3
	DefaultBackoff  = time.Second
	// DeadLetterSuffix is appended to a trigger's name for its default dead
	// letter queue or stream.
	DeadLetterSuffix = ".dlq"
	// MaxCatchUp bounds a schedule trigger's catchUp: the missed instants one start replays.
	MaxCatchUp = 1000
)

// Trigger binds a function to one source of invocations. Exactly one field
// is set.
type Trigger struct {
	HTTP      *HTTPTrigger
	Queue     *QueueTrigger
	Stream    *StreamTrigger
	WebSocket *WebSocketTrigger
	Schedule  *ScheduleTrigger
}

// HTTPTrigger is a route on the gateway.
type HTTPTrigger struct {
	// Method is GET, POST, PUT, PATCH, DELETE or ANY, upper-cased; default ANY.
	Method string
	// Path is the route, such as /orders/{id}, where {name} captures one segment.
	Path string
	// Auth is "none" (the default) or "jwt".
	Auth string
	// Async is "allowed" (the default), "never" or "always".
	Async string
}

// position locates a route's path in its manifest, for conflict errors.
type position struct {
	line  int
	field string
}

// QueueTrigger consumes a queue.
type QueueTrigger struct {
	// Name is the queue; [A-Za-z0-9_.:-]{1,255}.
	Name string
	// Prefetch is how many unacknowledged messages a consumer holds; default 16.
	Prefetch int
	// Retries is the number of extra attempts after the first failure;
	// default 3, and an explicit 0 means none.
	Retries int
	// Backoff is the first retry delay, doubling with jitter; default 1s.
	Backoff time.Duration
	// DeadLetter is the queue failed messages go to; default Name + ".dlq".
	DeadLetter string
	// MaxPriority declares a priority queue with priorities 1..MaxPriority;
	// 0 means not a priority queue.
	MaxPriority int
	// Filter selects the messages that invoke the function; nil for all.
	Filter *filter.Filter
}

// StreamTrigger consumes a stream through a consumer group.
type StreamTrigger struct {
	// Name is the stream; [A-Za-z0-9_.:-]{1,255}.
	Name string
	// Group is the consumer group; default the function's name.
	Group string
	// From is where a new group starts: "new" (the default) or "oldest".
	From string
	// Retries is the number of extra attempts after the first failure;
	// default 3, and an explicit 0 means none.
	Retries int
	// Backoff is the first retry delay, doubling with jitter; default 1s.
	Backoff time.Duration
	// DeadLetter is the stream failed entries go to; default Name + ".dlq".
	DeadLetter string
	// Filter selects the entries that invoke the function; nil for all.
	Filter *filter.Filter
}

// WebSocketTrigger invokes the function at one moment of the WebSocket connections
// (docs/manifest.md#websocket-trigger): a client's publish on a topic matching Topic (the
// default), a connect, a subscribe to a topic matching Topic, an rpc whose method matches
// Method, or a disconnect.
type WebSocketTrigger struct {
	// Event is the moment: WSPublish (the default), WSConnect, WSSubscribe, WSRPC or
	// WSDisconnect.
	Event string
	// Topic is a topic pattern, as in [TopicRule.Match]; set for publish and subscribe only.
	Topic string
	// Method is an rpc method pattern: dot-separated segments, each a literal
	// [A-Za-z0-9_-]+ or "*" (any one segment); set for rpc only.
	Method string

	line int // where the trigger's pattern is, for conflict errors
}

// String describes the trigger: "websocket TOPIC" for publish, "websocket EVENT [PATTERN]"
// for the others.
func (t *WebSocketTrigger) String() string {
	if t.Event == WSPublish || t.Event == "" {
		return "websocket " + t.Topic
	}
	s := "websocket " + t.Event
	if p := t.Pattern(); p != "" {
		s += " " + p
	}
	return s
}

// The events of a websocket trigger.
const (
	WSPublish    = "publish"
	WSConnect    = "connect"
	WSSubscribe  = "subscribe"
	WSRPC        = "rpc"
	WSDisconnect = "disconnect"
)

// Pattern is the topic or method pattern the trigger matches; "" for connect and disconnect.
func (t *WebSocketTrigger) Pattern() string {
	if t.Event == WSRPC {
		return t.Method
	}
	return t.Topic
}

// ScheduleTrigger invokes the function at the instants of a cron expression
// (docs/manifest.md#schedule-trigger).
type ScheduleTrigger struct {
	// Cron is the expression as written: five fields, or a descriptor such as
	// @hourly or @every 30s.
	Cron string
	// Timezone is the IANA zone the expression is read in; default "UTC".
	Timezone string
	// Data is the event's data, the trigger's `data` as JSON; nil when not given.
	Data []byte
	// Overlap lets a run start while the previous one of the trigger still runs;
	// default false, which skips that tick.
	Overlap bool
	// Retries is the number of extra attempts after a run fails; default 3, and an
	// explicit 0 means none. Then the run is dead-lettered.
	Retries int
	// Backoff is the first retry delay, doubling with jitter; default 1s.
	Backoff time.Duration
	// CatchUp is how many of the latest instants that passed while no node ran the
	// trigger are run when one starts it again; default 0, at most MaxCatchUp.
	CatchUp int
	// Schedule computes the instants; set whenever the manifest loaded.
	Schedule *cron.Schedule
}

var (
	methods       = []string{"GET", "POST", "PUT", "PATCH", "DELETE", "ANY"}
	brokerNameRE  = regexp.MustCompile(`^[A-Za-z0-9_.:-]+$`) // and at most 255 bytes: see brokerName
	brokerNameMsg = "must match [A-Za-z0-9_.:-]{1,255}"
)

// triggers decodes the `triggers:` list.
func (d *decoder) triggers(n *yaml.Node, fnName string) []Trigger {
	items := d.list(n, "triggers")
	out := make([]Trigger, 0, len(items))
	for i, e := range items {
		path := index("triggers", i)
		if e.Kind != yaml.MappingNode {
			d.errorf(e, path, "must be a mapping")
			continue
		}
		var t Trigger
		kinds, unknown := 0, false
		for j := 0; j+1 < len(e.Content); j += 2 {
			k, v := e.Content[j], resolve(e.Content[j+1])
			kind, ok := d.key(k, path)
			if !ok {
				continue
			}
			p := join(path, kind)
			switch kind {
			case "http":
				t.HTTP = d.httpTrigger(v, p)
			case "queue":
				t.Queue = d.queueTrigger(v, p)
			case "stream":
				t.Stream = d.streamTrigger(v, p, fnName)
			case "websocket":
				t.WebSocket = d.webSocketTrigger(v, p)
			case "schedule":
				t.Schedule = d.scheduleTrigger(v, p)
			default:
				d.errorf(k, path, "unknown trigger kind %q", kind)
				unknown = true
				continue
			}
			kinds++
		}
		if kinds > 1 || kinds == 0 && !unknown {
			d.errorf(e, path, "exactly one trigger kind per entry")
		}
		out = append(out, t)
	}
	return out
}

// httpTrigger decodes an `http:` entry.
func (d *decoder) httpTrigger(n *yaml.Node, path string) *HTTPTrigger {
	t := &HTTPTrigger{Method: "ANY", Auth: "none", Async: "allowed"}
	d.routes[t] = position{line: d.line(n), field: join(path, "path")}
	m, ok := d.fields(n, path, "method", "path", "auth", "async")
	if !ok {
		return t
	}
	if s, ok := d.str(m["method"], join(path, "method")); ok {
		t.Method = strings.ToUpper(s)
		if !validMethod(t.Method) {
			d.errorf(m["method"], join(path, "method"), "must be one of GET, POST, PUT, PATCH, DELETE, ANY")
		}
	}
	if v := m["path"]; v == nil {
		d.errorf(n, join(path, "path"), "required")
	} else if s, ok := d.str(v, join(path, "path")); ok {
		t.Path = s
		d.routes[t] = position{line: d.line(v), field: join(path, "path")}
		if msg := checkRoutePath(s); msg != "" {
			d.errorf(v, join(path, "path"), "%s", msg)
		}
	}
	t.Auth = d.oneOf(m["auth"], join(path, "auth"), "none", `must be "none" or "jwt"`, "none", "jwt")
	t.Async = d.oneOf(m["async"], join(path, "async"), "allowed",
		`must be one of "allowed", "never", "always"`, "allowed", "never", "always")
	return t
}

// queueTrigger decodes a `queue:` entry.
func (d *decoder) queueTrigger(n *yaml.Node, path string) *QueueTrigger {
	t := &QueueTrigger{Prefetch: DefaultPrefetch, Retries: DefaultRetries, Backoff: DefaultBackoff}
	m, ok := d.fields(n, path, "name", "prefetch", "retries", "backoff", "deadLetter", "maxPriority", "filter")
	if !ok {
		return t
	}
	t.Name = d.brokerName(m["name"], n, join(path, "name"), true)
	t.Prefetch = d.intAtLeast(m["prefetch"], join(path, "prefetch"), 1, DefaultPrefetch)
	t.MaxPriority = d.intBetween(m["maxPriority"], join(path, "maxPriority"), 0, 255, 0)
	r := d.redelivery(m, n, path, t.Name)
	t.Retries, t.Backoff, t.DeadLetter, t.Filter = r.retries, r.backoff, r.deadLetter, r.filter
	return t
}

// streamTrigger decodes a `stream:` entry.
func (d *decoder) streamTrigger(n *yaml.Node, path, fnName string) *StreamTrigger {
	t := &StreamTrigger{Group: fnName, From: "new", Retries: DefaultRetries, Backoff: DefaultBackoff}
	m, ok := d.fields(n, path, "name", "group", "from", "retries", "backoff", "deadLetter", "filter")
	if !ok {
		return t
	}
	t.Name = d.brokerName(m["name"], n, join(path, "name"), true)
	if g := d.brokerName(m["group"], n, join(path, "group"), false); g != "" {
		t.Group = g
	}
	t.From = d.oneOf(m["from"], join(path, "from"), "new", `must be "new" or "oldest"`, "new", "oldest")
	r := d.redelivery(m, n, path, t.Name)
	t.Retries, t.Backoff, t.DeadLetter, t.Filter = r.retries, r.backoff, r.deadLetter, r.filter
	return t
}

// webSocketTrigger decodes a `websocket:` entry.
func (d *decoder) webSocketTrigger(n *yaml.Node, path string) *WebSocketTrigger {
	t := &WebSocketTrigger{Event: WSPublish, line: d.line(n)}
	m, ok := d.fields(n, path, "event", "topic", "method")
	if !ok {
		return t
	}
	t.Event = d.oneOf(m["event"], join(path, "event"), WSPublish,
		`must be one of "publish", "connect", "subscribe", "rpc", "disconnect"`,
		WSPublish, WSConnect, WSSubscribe, WSRPC, WSDisconnect)
	if e := m["event"]; e != nil && (e.Kind != yaml.ScalarNode || e.Value != t.Event) {
		return t // reported: no further complaint about fields of an unknown event
	}
	want := map[string]string{WSPublish: "topic", WSSubscribe: "topic", WSRPC: "method"}[t.Event]
	for _, f := range []string{"topic", "method"} {
		if v := m[f]; v != nil && f != want {
			d.errorf(v, join(path, f), "not allowed with event %s", t.Event)
		}
	}
	if want == "" {
		return t
	}
	p := join(path, want)
	v := m[want]
	if v == nil {
		d.errorf(n, p, "required")
		return t
	}
	s, ok := d.str(v, p)
	if !ok {
		return t
	}
	t.line = d.line(v)
	if want == "method" {
		t.Method = s
		if !validMethodPattern(s) {
			d.errorf(v, p, "invalid method pattern %q: dot-separated segments of [A-Za-z0-9_-] or *", s)
		}
		return t
	}
	t.Topic = s
	if !validTopicPattern(s) {
		d.errorf(v, p, "invalid topic pattern %q", s)
	}
	return t
}

// validMethodPattern reports whether p is an rpc method pattern: a topic pattern without
// {name} captures.
func validMethodPattern(p string) bool {
	return validTopicPattern(p) && !strings.Contains(p, "{")
}

// redelivery is what queue and stream triggers share: retries, dead
// lettering and filtering.
type redelivery struct {
	retries    int
	backoff    time.Duration
	deadLetter string
	filter     *filter.Filter
}

// redelivery decodes the shared fields of the queue or stream trigger
// mapping m at n, whose own name is name.
func (d *decoder) redelivery(m map[string]*yaml.Node, n *yaml.Node, path, name string) redelivery {
	r := redelivery{
		retries: d.intAtLeast(m["retries"], join(path, "retries"), 0, DefaultRetries),
		backoff: d.duration(m["backoff"], join(path, "backoff"), DefaultBackoff),
	}
	r.deadLetter = d.brokerName(m["deadLetter"], n, join(path, "deadLetter"), false)
	if r.deadLetter == "" && name != "" {
		r.deadLetter = name + DeadLetterSuffix
	} else if r.deadLetter != "" && r.deadLetter == name {
		// Failed messages would come straight back, forever.
		d.errorf(m["deadLetter"], join(path, "deadLetter"), "must differ from name")
	}
	if s, ok := d.str(m["filter"], join(path, "filter")); ok {
		f, err := filter.Compile(s)
		if err != nil {
			d.errorf(m["filter"], join(path, "filter"), "filter does not compile: %v", err)
		}
		r.filter = f
	}
	return r
}

// brokerName decodes the name of a queue, stream or group, the value v of a
// field of the mapping parent.
func (d *decoder) brokerName(v, parent *yaml.Node, path string, required bool) string {
	if v == nil {
		if required {
			d.errorf(parent, path, "required")
		}
		return ""
	}
	s, ok := d.str(v, path)
	if !ok {
		return ""
	}
	// The length is checked apart: a regexp's {1,255} compiles into 255 copies of the class,
	// which every edgefn process, each CLI command included, paid for at start.
	if len(s) > 255 || !brokerNameRE.MatchString(s) {
		d.errorf(v, path, "%s", brokerNameMsg)
		return ""
	}
	return s
}
