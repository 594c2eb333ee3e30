package manifest

import (
	"strings"
	"testing"
)

func TestWebSocketTriggerEvents(t *testing.T) {
	set := mustParse(t, `
name: ws
handler: bin/ws
triggers:
  - websocket: {topic: chat.*}
  - websocket: {event: connect}
  - websocket: {event: subscribe, topic: "rooms.{room}"}
  - websocket: {event: rpc, method: profile.*}
  - websocket: {event: disconnect}
`)
	var got []string
	for _, tr := range set.Functions[0].Triggers {
		w := tr.WebSocket
		got = append(got, w.Event+"|"+w.Topic+"|"+w.Method+"|"+w.String())
	}
	want := []string{
		"publish|chat.*||websocket chat.*",
		"connect|||websocket connect",
		"subscribe|rooms.{room}||websocket subscribe rooms.{room}",
		"rpc||profile.*|websocket rpc profile.*",
		"disconnect|||websocket disconnect",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("triggers:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestWebSocketTriggerErrors(t *testing.T) {
	tests := []struct{ trigger, want string }{
		{`{event: shout}`, `m/test.yaml:5: triggers[0].websocket.event: must be one of "publish", "connect", "subscribe", "rpc", "disconnect"`},
		{`{event: rpc}`, `m/test.yaml:5: triggers[0].websocket.method: required`},
		{`{event: subscribe}`, `m/test.yaml:5: triggers[0].websocket.topic: required`},
		{`{event: connect, topic: a.b}`, `m/test.yaml:5: triggers[0].websocket.topic: not allowed with event connect`},
		{`{event: rpc, topic: a.b, method: a.b}`, `m/test.yaml:5: triggers[0].websocket.topic: not allowed with event rpc`},
		{`{topic: a.b, method: a.b}`, `m/test.yaml:5: triggers[0].websocket.method: not allowed with event publish`},
		{`{event: rpc, method: "a.{x}"}`, `m/test.yaml:5: triggers[0].websocket.method: invalid method pattern "a.{x}": dot-separated segments of [A-Za-z0-9_-] or *`},
		{`{event: rpc, method: "a..b"}`, `m/test.yaml:5: triggers[0].websocket.method: invalid method pattern "a..b": dot-separated segments of [A-Za-z0-9_-] or *`},
	}
	for _, tt := range tests {
		_, err := Parse("m/test.yaml", []byte("name: ws\nhandler: bin/ws\ntriggers:\n  - http: {path: /x}\n  - websocket: "+tt.trigger+"\n"))
		got := ""
		if err != nil {
			got = strings.ReplaceAll(err.Error(), "triggers[1]", "triggers[0]")
		}
		if got != tt.want {
			t.Errorf("%s:\n got %s\nwant %s", tt.trigger, got, tt.want)
		}
	}
}

func wsFn(name string, triggers ...string) *Function {
	fn := &Function{Name: name, File: name + ".yaml", Line: 1}
	for _, s := range triggers {
		event, pattern, _ := strings.Cut(s, " ")
		t := &WebSocketTrigger{Event: event}
		if event == WSRPC {
			t.Method = pattern
		} else {
			t.Topic = pattern
		}
		fn.Triggers = append(fn.Triggers, Trigger{WebSocket: t})
	}
	return fn
}

func TestWebSocketConflicts(t *testing.T) {
	tests := []struct {
		name string
		fns  []*Function
		want string
	}{
		{"two connects", []*Function{wsFn("a", "connect"), wsFn("b", "connect")},
			"b.yaml:1: triggers[0].websocket: a second websocket connect function: a (a.yaml:1) already has one"},
		{"connect twice in one function", []*Function{wsFn("a", "connect", "connect")},
			"a.yaml:1: triggers[1].websocket: a second websocket connect function: a (a.yaml:1) already has one"},
		{"equal rpc methods", []*Function{wsFn("a", "rpc profile.get"), wsFn("b", "rpc profile.get")},
			"b.yaml:1: triggers[0].websocket.method: websocket rpc profile.get conflicts with a profile.get (a.yaml:1): equally specific patterns that match the same method"},
		{"overlapping wildcards", []*Function{wsFn("a", "rpc profile.*.x"), wsFn("b", "rpc *.get.x")},
			"b.yaml:1: triggers[0].websocket.method: websocket rpc *.get.x conflicts with a profile.*.x (a.yaml:1): equally specific patterns that match the same method"},
		{"subscribe captures", []*Function{wsFn("a", "subscribe rooms.{id}"), wsFn("b", "subscribe rooms.*")},
			"b.yaml:1: triggers[0].websocket.topic: websocket subscribe rooms.* conflicts with a rooms.{id} (a.yaml:1): equally specific patterns that match the same topic"},
		{"more specific wins", []*Function{wsFn("a", "rpc profile.*"), wsFn("b", "rpc profile.get")}, ""},
		{"disjoint literals", []*Function{wsFn("a", "rpc profile.get"), wsFn("b", "rpc profile.set")}, ""},
		{"other lengths", []*Function{wsFn("a", "rpc profile.*"), wsFn("b", "rpc profile.*.*")}, ""},
		{"one function", []*Function{wsFn("a", "rpc profile.*", "rpc *.get")}, ""},
		{"rpc beside subscribe", []*Function{wsFn("a", "rpc a.b"), wsFn("b", "subscribe a.b")}, ""},
		{"publish and disconnect never conflict", []*Function{wsFn("a", "publish a.*", "disconnect"), wsFn("b", "publish a.*", "disconnect")}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ""
			if err := CheckConflicts(tt.fns); err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Errorf("CheckConflicts:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}

func TestPatternSpecificity(t *testing.T) {
	for p, want := range map[string]int{"a.b": 2, "a.*": 1, "*.{x}": 0, "a.{x}.c": 2} {
		if got := PatternSpecificity(p); got != want {
			t.Errorf("PatternSpecificity(%q) = %d, want %d", p, got, want)
		}
	}
}
