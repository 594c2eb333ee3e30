package manifest

import (
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/edgefn/edgefn/internal/filter"
)

func TestMatchTopic(t *testing.T) {
	tests := []struct {
		pattern, topic string
		ok             bool
		params         map[string]string
	}{
		{"orders.{id}", "orders.42", true, map[string]string{"id": "42"}},
		{"orders.{id}", "orders", false, nil},
		{"orders.{id}", "orders.42.items", false, nil},
		{"orders.{id}", "orders.", false, nil},
		{"chat.*", "chat.room1", true, map[string]string{}},
		{"chat.*", "chat.room1.x", false, nil},
		{"*.{b}.c", "a.b.c", true, map[string]string{"b": "b"}},
		{"a.b", "a.b", true, map[string]string{}},
		{"a.b", "a.c", false, nil},
		{"a.*", "a.{x}", false, nil}, // a client cannot name a pattern
		{"a.*", "a.*", false, nil},
		{"users.{user}.inbox", "users.u-1_x.inbox", true, map[string]string{"user": "u-1_x"}},
	}
	for _, tt := range tests {
		params, ok := MatchTopic(tt.pattern, tt.topic)
		if ok != tt.ok || !maps.Equal(params, tt.params) {
			t.Errorf("MatchTopic(%q, %q) = %v, %v; want %v, %v", tt.pattern, tt.topic, params, ok, tt.params, tt.ok)
		}
		r := &TopicRule{Match: tt.pattern}
		if params, ok := r.MatchTopic(tt.topic); ok != tt.ok || !maps.Equal(params, tt.params) {
			t.Errorf("TopicRule.MatchTopic(%q, %q) = %v, %v", tt.pattern, tt.topic, params, ok)
		}
	}
}

func TestValidTopicPattern(t *testing.T) {
	for _, p := range []string{"a", "a.b", "*", "*.*", "{a}", "orders.{id}", "x_y-z.{n_1}"} {
		if !validTopicPattern(p) {
			t.Errorf("validTopicPattern(%q) = false", p)
		}
	}
	for _, p := range []string{"", ".", "a.", ".a", "a..b", "a.**", "a.#", "a.{1}", "{a}.{a}", "a b", "a.{x}y"} {
		if validTopicPattern(p) {
			t.Errorf("validTopicPattern(%q) = true", p)
		}
	}
	if !ValidTopic("orders.42") || ValidTopic("orders.*") || ValidTopic("") {
		t.Error("ValidTopic is wrong")
	}
}

// Topics are at most MaxTopicLen bytes; a pattern is refused when even its shortest match
// would be longer.
func TestTopicLengthCap(t *testing.T) {
	longest := strings.Repeat("a", MaxTopicLen-2) + ".b"
	if !ValidTopic(longest) || ValidTopic(longest+"c") || ValidTopic(strings.Repeat("a", 61<<10)) {
		t.Errorf("ValidTopic does not cap topics at %d bytes", MaxTopicLen)
	}
	lit := strings.Repeat("a", MaxTopicLen-2)
	for p, want := range map[string]bool{
		lit + ".*":                         true,
		lit + ".{id}":                      true, // matches lit + ".x"
		"{" + lit + "}":                    true, // one segment of any length
		lit + ".*.*":                       false,
		lit + "aa.{id}":                    false,
		strings.Repeat("*.", 128) + "*":    false, // 129 segments: 257 bytes at least
		strings.Repeat("*.", 127) + "*":    true,
		strings.Repeat("a", MaxTopicLen+1): false,
	} {
		if got := validTopicPattern(p); got != want {
			t.Errorf("validTopicPattern(%.40q… %d bytes) = %v, want %v", p, len(p), got, want)
		}
	}
}

func TestRuleAllow(t *testing.T) {
	set := mustParse(t, `
kind: topics
rules:
  - match: users.{user}.inbox
    subscribe: 'claims.sub == params.user'
    publish: 'topic startsWith "users." && claims.role == "admin"'
  - match: chat.*
`)
	inbox, chat := set.Topics[0], set.Topics[1]
	params, ok := inbox.MatchTopic("users.ann.inbox")
	if !ok {
		t.Fatal("users.ann.inbox does not match")
	}
	tests := []struct {
		rule   *filter.Rule
		claims map[string]any
		want   bool
	}{
		{inbox.Subscribe, map[string]any{"sub": "ann"}, true},
		{inbox.Subscribe, map[string]any{"sub": "bob"}, false},
		{inbox.Subscribe, nil, false},
		{inbox.Publish, map[string]any{"role": "admin"}, true},
		{inbox.Publish, map[string]any{"role": "user"}, false},
		{chat.Subscribe, map[string]any{"sub": "ann"}, false}, // default "false"
		{chat.Publish, map[string]any{"sub": "ann"}, false},
		{nil, map[string]any{"sub": "ann"}, false},
	}
	for i, tt := range tests {
		got, err := tt.rule.Allow(filter.RuleEnv{Topic: "users.ann.inbox", Params: params, Claims: tt.claims})
		if err != nil || got != tt.want {
			t.Errorf("%d: %q Allow = %v, %v; want %v", i, tt.rule, got, err, tt.want)
		}
	}
	if chat.Subscribe.String() != "false" {
		t.Errorf("default rule is %q, want \"false\"", chat.Subscribe)
	}
	if _, err := filter.CompileRule("topic"); err == nil {
		t.Error("a non-bool rule compiled")
	}
}

func TestRulePresence(t *testing.T) {
	set := mustParse(t, `
kind: topics
rules:
  - match: chat.{room}
    subscribe: 'true'
    presence: true
    joinLeave: true
  - match: news.*
    presence: true
  - match: other.*
`)
	got := [][2]bool{}
	for _, r := range set.Topics {
		got = append(got, [2]bool{r.Presence, r.JoinLeave})
	}
	want := [][2]bool{{true, true}, {true, false}, {false, false}}
	if !slices.Equal(got, want) {
		t.Fatalf("presence, joinLeave = %v, want %v", got, want)
	}
	for _, tc := range []struct{ yaml, want string }{
		{"kind: topics\nrules:\n  - match: a.*\n    joinLeave: true\n", "t.yaml:4: rules[0].joinLeave: needs presence: true"},
		{"kind: topics\nrules:\n  - match: a.*\n    presence: yes please\n", "t.yaml:4: rules[0].presence: must be true or false"},
	} {
		_, err := Parse("t.yaml", []byte(tc.yaml))
		if err == nil || err.Error() != tc.want {
			t.Errorf("Parse(%q) = %v, want %s", tc.yaml, err, tc.want)
		}
	}
}
