package filter

import (
	"fmt"
	"strings"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"
)

// program is a compiled expression that yields a bool, with the source it came from.
type program struct {
	prog *vm.Program
	src  string
}

// compile compiles src against env, requiring a bool result. The error is a single line.
func compile(src string, env any) (program, error) {
	prog, err := expr.Compile(src, expr.Env(env), expr.AsBool())
	if err != nil {
		return program{}, oneLine(err)
	}
	return program{prog: prog, src: src}, nil
}

// run runs the program against env. kind ("filter", "rule") names the expression in errors.
func (p *program) run(kind string, env any) (bool, error) {
	out, err := expr.Run(p.prog, env)
	if err != nil {
		return false, fmt.Errorf("%s %q: %w", kind, p.src, oneLine(err))
	}
	ok, isBool := out.(bool)
	if !isBool {
		return false, fmt.Errorf("%s %q: result is %T, not bool", kind, p.src, out)
	}
	return ok, nil
}

// exprError is an expr error shown on one line: expr's own message ends
// with a multi-line excerpt of the source with a caret under the problem.
type exprError struct {
	msg string
	err error
}

func (e *exprError) Error() string { return e.msg }
func (e *exprError) Unwrap() error { return e.err }

// eventTypeName is how expr names the type of a filter's `event` in its errors.
var eventTypeName = fmt.Sprintf("type %T", Event{})

// oneLine keeps the first line of an expr error, naming the event type the way users write
// it, and wraps the original.
func oneLine(err error) error {
	msg, _, _ := strings.Cut(err.Error(), "\n")
	return &exprError{msg: strings.Replace(msg, eventTypeName, "event", 1), err: err}
}
