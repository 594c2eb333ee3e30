package amqp

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"
)

// ErrInequivalent is wrapped by the error of a declaration that RabbitMQ refused because
// the queue exists with other arguments (PRECONDITION_FAILED), e.g. another max priority.
var ErrInequivalent = errors.New("queue exists with other arguments")

// queueSpec is how edgefn declares one queue: durable, with args. Every node computes the
// same spec for the same queue, since RabbitMQ refuses a re-declaration with other args.
type queueSpec struct {
	name string
	args amqp091.Table
	// delay marks a retry delay queue, whose x-expires deletes it when unused: it is
	// declared again before its expiry can be near, and not after a reconnect.
	delay bool
	// anyArgs marks a publish target: whatever its arguments, an existing queue will do;
	// a missing one is declared without arguments.
	anyArgs bool
}

// mainSpec is a consumed queue, a priority queue when maxPriority > 0.
func mainSpec(name string, maxPriority int) *queueSpec {
	s := &queueSpec{name: name}
	if maxPriority > 0 {
		s.args = amqp091.Table{"x-max-priority": int32(maxPriority)}
	}
	return s
}

// plainSpec is a queue without arguments: a dead-letter queue.
func plainSpec(name string) *queueSpec { return &queueSpec{name: name} }

// targetSpec is a queue published to: any existing queue, else a queue without arguments.
func targetSpec(name string) *queueSpec { return &queueSpec{name: name, anyArgs: true} }

// key renders the arguments in a stable order, for comparisons and error messages.
func (s *queueSpec) key() string {
	if len(s.args) == 0 {
		return "no arguments"
	}
	ks := make([]string, 0, len(s.args))
	for k := range s.args {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	var b strings.Builder
	for i, k := range ks {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s=%v", k, s.args[k])
	}
	return b.String()
}

// declareOn declares s on ch. A refusal closes ch.
func declareOn(ch *amqp091.Channel, s *queueSpec) error {
	if _, err := ch.QueueDeclare(s.name, true, false, false, false, s.args); err != nil {
		if isCode(err, amqp091.PreconditionFailed) {
			return fmt.Errorf("declare queue %q: %w: edgefn declares it durable with %s; the broker says: %w",
				s.name, ErrInequivalent, s.key(), err)
		}
		return fmt.Errorf("declare queue %q: %w", s.name, err)
	}
	return nil
}

// declarations remembers the queues this process declared, to skip declaring them at every
// publish and to declare them again after a reconnect, and the queues it saw exist.
type declarations struct {
	mu sync.Mutex
	m  map[string]declared
}

type declared struct {
	spec *queueSpec // nil: seen to exist (a passive declare), arguments unknown
	at   time.Time
}

func newDeclarations() *declarations {
	return &declarations{m: map[string]declared{}}
}

// has reports whether s needs no declaration now.
func (d *declarations) has(s *queueSpec) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	have, ok := d.m[s.name]
	switch {
	case !ok:
		return false
	case s.anyArgs:
		return true
	case have.spec == nil || have.spec.key() != s.key():
		return false
	case s.delay:
		return time.Since(have.at) < delayRefresh(s)
	}
	return true
}

func (d *declarations) put(s *queueSpec) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.m[s.name] = declared{spec: s, at: time.Now()}
}

func (d *declarations) seen(name string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.m[name]; !ok {
		d.m[name] = declared{at: time.Now()}
	}
}

func (d *declarations) forget(name string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.m, name)
}

// reset forgets everything and returns the specs to declare again.
func (d *declarations) reset() []*queueSpec {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []*queueSpec
	for _, e := range d.m {
		if e.spec != nil && !e.spec.delay {
			out = append(out, e.spec)
		}
	}
	d.m = map[string]declared{}
	return out
}

// names lists every queue declared or seen, delay queues included.
func (d *declarations) names() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]string, 0, len(d.m))
	for n := range d.m {
		out = append(out, n)
	}
	return out
}

// declare makes sure the queue of s exists as s says, declaring it on a channel of the
// publishing connection unless that was done already.
func (q *Queues) declare(ctx context.Context, s *queueSpec) error {
	if q.decls.has(s) {
		return nil
	}
	if s.anyArgs {
		err := q.withChannel(ctx, q.pubLink, func(ch *amqp091.Channel) error {
			_, err := ch.QueueDeclarePassive(s.name, true, false, false, false, nil)
			return err
		})
		if err == nil {
			q.decls.seen(s.name)
			return nil
		}
		if !isCode(err, amqp091.NotFound) {
			return fmt.Errorf("check queue %q exists: %w", s.name, err)
		}
		// Missing: declared without arguments, so that the default exchange does not drop
		// what is published to it.
		s = plainSpec(s.name)
	}
	return q.withChannel(ctx, q.pubLink, func(ch *amqp091.Channel) error {
		if err := declareOn(ch, s); err != nil {
			return err
		}
		q.decls.put(s)
		return nil
	})
}

// redeclare runs after the publishing connection came back: the broker may have lost
// what was declared (a new node, a reset), so every queue is declared again.
func (q *Queues) redeclare(conn *amqp091.Connection) {
	q.ladder.declared.Store(false)
	specs := q.decls.reset()
	if len(specs) == 0 {
		return
	}
	ch, err := conn.Channel()
	if err != nil {
		q.log.Warn("amqp re-declare after reconnect: open channel", "err", err)
		return
	}
	defer func() { ch.Close() }()
	for _, s := range specs {
		if ch.IsClosed() {
			if ch, err = conn.Channel(); err != nil {
				q.log.Warn("amqp re-declare after reconnect: open channel", "err", err)
				return
			}
		}
		if err := declareOn(ch, s); err != nil {
			q.log.Error("amqp re-declare after reconnect", "queue", s.name, "err", err)
			continue
		}
		q.decls.put(s)
	}
}
