package filter

// RuleEnv is what a topic rule expression sees.
type RuleEnv struct {
	// Topic is the concrete topic, such as "orders.42".
	Topic string `expr:"topic"`
	// Params are the segments the rule's {name} segments captured.
	Params map[string]string `expr:"params"`
	// Claims are the verified JWT claims of the connection. Beware: a missing
	// claim reads as nil, and nil != "" is true, so the gateway should give
	// an anonymous connection at least {"sub": ""} for rules such as
	// `claims.sub != ""` to mean "signed in".
	Claims map[string]any `expr:"claims"`
}

// Rule is a compiled topic rule expression. It is safe for concurrent use.
type Rule struct {
	p program
}

// CompileRule compiles and type-checks src, an expr-lang expression over
// topic, params and claims that must yield a bool. The error is a single line.
func CompileRule(src string) (*Rule, error) {
	p, err := compile(src, RuleEnv{})
	if err != nil {
		return nil, err
	}
	return &Rule{p: p}, nil
}

// Allow runs the rule. A nil Rule allows nothing; so does a rule that
// fails at run time, which also returns the error.
func (r *Rule) Allow(env RuleEnv) (bool, error) {
	if r == nil {
		return false, nil
	}
	return r.p.run("rule", env)
}

// String returns the rule's source expression.
func (r *Rule) String() string {
	if r == nil {
		return ""
	}
	return r.p.src
}
