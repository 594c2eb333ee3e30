package manifest

import (
	"fmt"
	"strings"
)

// PatternSpecificity is the number of literal segments of a topic or method pattern: when
// several subscribe or rpc triggers match, the one with the most wins
// (docs/manifest.md#websocket-trigger).
func PatternSpecificity(pattern string) int {
	n := 0
	for _, seg := range strings.Split(pattern, ".") {
		if _, isParam := paramName(seg); seg != "*" && !isParam {
			n++
		}
	}
	return n
}

// patternsOverlap reports whether some topic matches both patterns: they have as many
// segments, and where both are literals they are equal.
func patternsOverlap(a, b string) bool {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	if len(as) != len(bs) {
		return false
	}
	for i := range as {
		if literal(as[i]) && literal(bs[i]) && as[i] != bs[i] {
			return false
		}
	}
	return true
}

func literal(seg string) bool {
	_, isParam := paramName(seg)
	return seg != "*" && !isParam
}

// wsTriggerPosition locates the websocket trigger fn.Triggers[i] (its pattern, or the
// entry for connect). A Function built by hand rather than parsed gets its own line.
func (fn *Function) wsTriggerPosition(i int) (line int, field string) {
	t := fn.Triggers[i].WebSocket
	field = fmt.Sprintf("triggers[%d].websocket", i)
	if p := map[string]string{WSSubscribe: "topic", WSRPC: "method"}[t.Event]; p != "" {
		field += "." + p
	}
	if t.line > 0 {
		return t.line, field
	}
	return fn.Line, field
}

// wsEntry is one websocket trigger seen by checkWebSocketConflicts.
type wsEntry struct {
	fn *Function
	i  int
	t  *WebSocketTrigger
}

// checkWebSocketConflicts reports websocket triggers that would make the function to run
// ambiguous: a second connect function, and subscribe or rpc triggers of two functions
// whose patterns are equally specific and match a common topic or method. Publish and
// disconnect run every matching function, so they never conflict.
func checkWebSocketConflicts(fns []*Function) ErrorList {
	var errs ErrorList
	seen := map[string][]wsEntry{}
	for _, fn := range fns {
		for i, tr := range fn.Triggers {
			t := tr.WebSocket
			if t == nil {
				continue
			}
			switch t.Event {
			case WSConnect:
				if prev := seen[WSConnect]; len(prev) > 0 {
					line, field := fn.wsTriggerPosition(i)
					pl, _ := prev[0].fn.wsTriggerPosition(prev[0].i)
					errs.add(fn.File, line, field, "a second websocket connect function: %s (%s:%d) already has one",
						prev[0].fn.Name, prev[0].fn.File, pl)
					continue
				}
			case WSSubscribe, WSRPC:
				p := t.Pattern()
				if (t.Event == WSRPC && !validMethodPattern(p)) || (t.Event == WSSubscribe && !validTopicPattern(p)) {
					continue // reported when decoded
				}
				for _, e := range seen[t.Event] {
					q := e.t.Pattern()
					if e.fn == fn || e.fn.Name == fn.Name && fn.Name != "" ||
						PatternSpecificity(p) != PatternSpecificity(q) || !patternsOverlap(p, q) {
						continue
					}
					line, field := fn.wsTriggerPosition(i)
					el, _ := e.fn.wsTriggerPosition(e.i)
					errs.add(fn.File, line, field, "websocket %s %s conflicts with %s %s (%s:%d): equally specific patterns that match the same %s",
						t.Event, p, e.fn.Name, q, e.fn.File, el, map[string]string{WSSubscribe: "topic", WSRPC: "method"}[t.Event])
					break
				}
			default:
				continue
			}
			seen[t.Event] = append(seen[t.Event], wsEntry{fn, i, t})
		}
	}
	return errs
}
