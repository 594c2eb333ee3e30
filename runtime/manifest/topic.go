package manifest

import (
	"regexp"
	"strings"
	"sync"

	"gopkg.in/yaml.v3"

	"github.com/edgefn/edgefn/internal/filter"
)

// TopicRule says who may subscribe and publish to the WebSocket topics
// matching a pattern (a rule of a `kind: topics` document).
type TopicRule struct {
	// Match is the topic pattern: dot-separated segments, each a literal
	// [A-Za-z0-9_-]+, "*" (any one segment) or {name} (one segment, captured).
	Match string
	// Subscribe decides whether a client may subscribe; default "false".
	Subscribe *filter.Rule
	// Publish decides whether a client may publish; default "false".
	Publish *filter.Rule
	// Presence keeps who is subscribed to the matching topics, for the presence ops
	// (docs/websocket.md#presence); default false.
	Presence bool
	// JoinLeave sends the subscribers join and leave frames as clients come and go; it
	// needs Presence. Default false.
	JoinLeave bool
	// File and Line locate the rule, for messages.
	File string
	Line int

	segs []string // Match, split at dots
}

// MatchTopic reports whether the concrete topic matches the rule's pattern,
// with the segments captured by {name} segments.
func (r *TopicRule) MatchTopic(topic string) (params map[string]string, ok bool) {
	segs := r.segs
	if segs == nil { // a rule built by hand
		segs = strings.Split(r.Match, ".")
	}
	return matchSegments(segs, topic)
}

var topicLiteralRE = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// MaxTopicLen is the longest topic, in bytes (docs/websocket.md). Every topic the gateway
// keeps (a subscription, a topic's history) costs memory per byte of its name: the cap keeps
// what a client can make the gateway hold bounded by its subscription and connection caps.
const MaxTopicLen = 256

// ValidTopic reports whether topic is a concrete topic a client may name:
// dot-separated segments of [A-Za-z0-9_-]+, at most MaxTopicLen bytes in all.
func ValidTopic(topic string) bool {
	if len(topic) > MaxTopicLen {
		return false
	}
	for _, seg := range strings.Split(topic, ".") {
		if !topicLiteralRE.MatchString(seg) {
			return false
		}
	}
	return true
}

// validTopicPattern reports whether p is a topic pattern that some topic matches: its
// shortest match (a one-byte segment for each * and {name}) is at most MaxTopicLen bytes.
func validTopicPattern(p string) bool {
	seen := map[string]bool{}
	shortest := -1 // the dots
	for _, seg := range strings.Split(p, ".") {
		name, isParam := paramName(seg)
		shortest++
		if seg == "*" || isParam {
			shortest++
		} else {
			shortest += len(seg)
		}
		switch {
		case seg == "*":
		case isParam:
			if !paramRE.MatchString(name) || seen[name] {
				return false
			}
			seen[name] = true
		case !topicLiteralRE.MatchString(seg):
			return false
		}
	}
	return shortest <= MaxTopicLen
}

// MatchTopic reports whether the concrete topic matches pattern, with the
// segments captured by {name} segments (an empty map when there are none).
// A topic that is not [ValidTopic] matches nothing.
func MatchTopic(pattern, topic string) (params map[string]string, ok bool) {
	return matchSegments(strings.Split(pattern, "."), topic)
}

func matchSegments(pattern []string, topic string) (map[string]string, bool) {
	segs := strings.Split(topic, ".")
	if len(segs) != len(pattern) {
		return nil, false
	}
	for i, seg := range segs {
		if !topicLiteralRE.MatchString(seg) {
			return nil, false
		}
		p := pattern[i]
		if _, isParam := paramName(p); p != seg && p != "*" && !isParam {
			return nil, false
		}
	}
	params := map[string]string{}
	for i, p := range pattern {
		if name, ok := paramName(p); ok {
			params[name] = segs[i]
		}
	}
	return params, true
}

// topics decodes a `kind: topics` document.
func (d *decoder) topics(root *yaml.Node) []*TopicRule {
	m, ok := d.fields(root, "", "kind", "rules")
	if !ok {
		return nil
	}
	if m["rules"] == nil {
		d.errorf(root, "rules", "required")
	}
	var rules []*TopicRule
	for i, e := range d.list(m["rules"], "rules") {
		if r := d.topicRule(e, index("rules", i)); r != nil {
			rules = append(rules, r)
		}
	}
	return rules
}

// topicRule decodes one entry of `rules:`.
func (d *decoder) topicRule(n *yaml.Node, path string) *TopicRule {
	m, ok := d.fields(n, path, "match", "subscribe", "publish", "presence", "joinLeave")
	if !ok {
		return nil
	}
	r := &TopicRule{Subscribe: denyRule(), Publish: denyRule(), File: d.file, Line: d.line(n)}
	p := join(path, "match")
	if v := m["match"]; v == nil {
		d.errorf(n, p, "required")
	} else if s, ok := d.str(v, p); ok {
		r.Match, r.segs = s, strings.Split(s, ".")
		if !validTopicPattern(s) {
			d.errorf(v, p, "invalid topic pattern %q", s)
		}
	}
	r.Subscribe = d.rule(m["subscribe"], join(path, "subscribe"))
	r.Publish = d.rule(m["publish"], join(path, "publish"))
	r.Presence = d.boolean(m["presence"], join(path, "presence"), false)
	r.JoinLeave = d.boolean(m["joinLeave"], join(path, "joinLeave"), false)
	if r.JoinLeave && !r.Presence {
		d.errorf(m["joinLeave"], join(path, "joinLeave"), "needs presence: true")
	}
	return r
}

// denyRule returns the default of both subscribe and publish. It is compiled on first use, so
// that a process that loads no topic rules never compiles it.
var denyRule = sync.OnceValue(func() *filter.Rule {
	r, err := filter.CompileRule("false")
	if err != nil {
		panic(err)
	}
	return r
})

// rule compiles a rule expression, returning denyRule when unset.
func (d *decoder) rule(n *yaml.Node, path string) *filter.Rule {
	s, ok := d.str(n, path)
	if !ok {
		return denyRule()
	}
	r, err := filter.CompileRule(s)
	if err != nil {
		d.errorf(n, path, "rule does not compile: %v", err)
		return denyRule()
	}
	return r
}
