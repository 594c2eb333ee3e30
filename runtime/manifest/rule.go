package manifest

import (
	"fmt"
	"strings"
	"sync"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"
)

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

// RuleExpr is a compiled topic rule expression. It is safe for concurrent use.
type RuleExpr struct {
	prog *vm.Program
	src  string
}

// denyRule returns the default of both subscribe and publish, compiled on first use: every
// edgefn process, each CLI command included, would otherwise pay about a millisecond at start.
var denyRule = sync.OnceValue(func() *RuleExpr { return mustCompileRule("false") })

func mustCompileRule(src string) *RuleExpr {
	r, err := CompileRule(src)
	if err != nil {
		panic(err)
	}
	return r
}

// CompileRule compiles and type-checks src, an expr-lang expression over
// topic, params and claims that must yield a bool. The error is a single line.
func CompileRule(src string) (*RuleExpr, error) {
	prog, err := expr.Compile(src, expr.Env(RuleEnv{}), expr.AsBool())
	if err != nil {
		return nil, oneLine(err)
	}
	return &RuleExpr{prog: prog, src: src}, nil
}

// Allow runs the rule. A nil RuleExpr allows nothing; so does a rule that
// fails at run time, which also returns the error.
func (r *RuleExpr) Allow(env RuleEnv) (bool, error) {
	if r == nil {
		return false, nil
	}
	out, err := expr.Run(r.prog, env)
	if err != nil {
		return false, fmt.Errorf("rule %q: %w", r.src, oneLine(err))
	}
	ok, _ := out.(bool)
	return ok, nil
}

// String returns the rule's source expression.
func (r *RuleExpr) String() string {
	if r == nil {
		return ""
	}
	return r.src
}

// exprError is an expr error shown on one line: expr's own message ends
// with a multi-line excerpt of the source with a caret under the problem.
type exprError struct {
	msg string
	err error
}

func (e *exprError) Error() string { return e.msg }
func (e *exprError) Unwrap() error { return e.err }

// oneLine keeps the first line of an expr error and wraps the original.
func oneLine(err error) error {
	msg, _, _ := strings.Cut(err.Error(), "\n")
	return &exprError{msg: msg, err: err}
}
