package filter

import (
	"strings"
	"testing"
)

func TestCompileRule(t *testing.T) {
	tests := []struct {
		src     string
		wantErr string // substring; "" means it compiles
	}{
		{src: `true`},
		{src: `claims.sub == params.user`},
		{src: `topic startsWith "users." && claims.role == "admin"`},
		{src: `claims.sub != "" && len(params) > 0`},
		{src: `topik == "x"`, wantErr: "unknown name topik (1:1)"},
		{src: `topic`, wantErr: "expected bool, but got string"},
		{src: `topic ==`, wantErr: "unexpected token EOF (1:8)"},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			r, err := CompileRule(tt.src)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("CompileRule(%q): %v", tt.src, err)
				}
				if r.String() != tt.src {
					t.Errorf("String() = %q, want %q", r.String(), tt.src)
				}
				return
			}
			if err == nil {
				t.Fatalf("CompileRule(%q) compiled, want error %q", tt.src, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error = %q, want it to contain %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error spans several lines: %q", err)
			}
		})
	}
}

func TestRuleAllow(t *testing.T) {
	env := RuleEnv{
		Topic:  "users.ann.inbox",
		Params: map[string]string{"user": "ann"},
		Claims: map[string]any{"sub": "ann", "role": "user"},
	}
	tests := []struct {
		src  string
		want bool
	}{
		{`claims.sub == params.user`, true},
		{`claims.role == "admin"`, false},
		{`topic startsWith "users."`, true},
		{`claims.missing != ""`, true}, // a missing claim is nil, not ""
		{`false`, false},
	}
	for _, tt := range tests {
		r, err := CompileRule(tt.src)
		if err != nil {
			t.Fatalf("CompileRule(%q): %v", tt.src, err)
		}
		got, err := r.Allow(env)
		if err != nil {
			t.Fatalf("Allow(%q): %v", tt.src, err)
		}
		if got != tt.want {
			t.Errorf("Allow(%q) = %v, want %v", tt.src, got, tt.want)
		}
	}
}

func TestRuleAllowRuntimeErrorDenies(t *testing.T) {
	r, err := CompileRule(`claims.level > 2`)
	if err != nil {
		t.Fatal(err)
	}
	ok, err := r.Allow(RuleEnv{Claims: map[string]any{"level": "high"}})
	if ok || err == nil {
		t.Fatalf("Allow comparing a string with a number = %v, %v; want false and an error", ok, err)
	}
	if !strings.HasPrefix(err.Error(), `rule "claims.level > 2": `) || strings.Contains(err.Error(), "\n") {
		t.Errorf("error = %q, want one line naming the rule", err)
	}
}

func TestNilRuleAllowsNothing(t *testing.T) {
	var r *Rule
	ok, err := r.Allow(RuleEnv{Topic: "a", Claims: map[string]any{"sub": "ann"}})
	if ok || err != nil {
		t.Fatalf("nil rule Allow = %v, %v; want false, nil", ok, err)
	}
	if r.String() != "" {
		t.Errorf("nil rule String() = %q", r.String())
	}
}
