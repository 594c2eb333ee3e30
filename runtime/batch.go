package runtime

import (
	"context"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/edgefn/edgefn/internal/tracectx"
	"github.com/edgefn/edgefn/runtime/fn"
	"github.com/edgefn/edgefn/runtime/wire"
)

// Batches: queue and stream triggers hand a function what they received together, and the
// whole batch travels the invocation chain as one: one hold on the version, one breaker
// decision, one deadline, one frame each way. Per message there is no frame, syscall, timer or
// wake-up of its own, which is what a plugin call per message costs.

// outcome is one event's answer in a batch, and what travels with the event: its
// invocation span and the traceparent the plugin gets for it.
type outcome struct {
	res *fn.Result
	err error

	span        trace.Span   // in: the event's invocation span; nil when not traced
	traceparent string       // in: for the plugin; "" when the event is not traced
	ran         handlerTimes // out: when the plugin ran the handler
}

// batchInvoker is a stage of the invocation chain that takes batches.
type batchInvoker interface {
	invokeBatch(ctx context.Context, evs []*fn.Event, out []outcome)
}

// InvokeBatch runs evs on the current version as one batch and returns each event's result
// and error, in order. The events share the function's deadline; the plugin runs them
// concurrently (a plugin built before batches existed gets them one by one). parents, when
// not nil, holds each event's own context, whose span its invocation span is a child of
// (each message of a stream has its own trace); ctx's deadline and values rule the batch.
func (f *Function) InvokeBatch(ctx context.Context, evs []*fn.Event, parents []context.Context) ([]*fn.Result, []error) {
	out := make([]outcome, len(evs))
	for k, ev := range evs {
		parent := ctx
		if parents != nil && parents[k] != nil {
			parent = parents[k]
		}
		ectx, span := f.startInvoke(parent, ev)
		out[k].span, out[k].traceparent = span, tracectx.Traceparent(ectx)
	}
	if v, err := f.hold(); err != nil {
		fillOutcomes(out, nil, err)
		f.recordBatch(ctx, out, 0)
	} else {
		f.invocations.Add(int64(len(evs)))
		start := time.Now()
		invokeBatch(ctx, v.chain, evs, out)
		v.release()
		f.recordBatch(ctx, out, time.Since(start))
		for _, o := range out {
			if countsAsFailure(o.err) {
				f.failures.Add(1)
			}
		}
	}
	results, errs := make([]*fn.Result, len(out)), make([]error, len(out))
	for k, o := range out {
		results[k], errs[k] = o.res, o.err
		endInvoke(o.span, o.err)
	}
	return results, errs
}

// invokeBatch hands evs to next as a batch when it takes batches, or else runs them
// concurrently one by one.
func invokeBatch(ctx context.Context, next Invoker, evs []*fn.Event, out []outcome) {
	if b, ok := next.(batchInvoker); ok {
		b.invokeBatch(ctx, evs, out)
		return
	}
	invokeEach(ctx, next, evs, out)
}

// invokeEach runs evs one invocation each, concurrently, each under ctx with its own span.
func invokeEach(ctx context.Context, next Invoker, evs []*fn.Event, out []outcome) {
	one := func(k int) {
		ectx := ctx
		if out[k].span != nil {
			ectx = trace.ContextWithSpan(ctx, out[k].span)
		}
		out[k].res, out[k].err = next.Invoke(ectx, evs[k])
	}
	if len(evs) == 1 {
		one(0)
		return
	}
	var wg sync.WaitGroup
	for k := range evs {
		wg.Go(func() { one(k) })
	}
	wg.Wait()
}

// fillOutcomes fails the outcomes at the indices only (every one when only is nil).
func fillOutcomes(out []outcome, only []int, err error) {
	if only == nil {
		for k := range out {
			out[k].res, out[k].err = nil, err
		}
		return
	}
	for _, k := range only {
		out[k].res, out[k].err = nil, err
	}
}

// decodeBatchResponse decodes a BatchResponse into the outcomes at the indices sent, in order.
// A response short of answers (a plugin that could not send them) fails the rest.
func decodeBatchResponse(b []byte, out []outcome, sent []int) {
	n, err := wire.DecodeBatchResponse(b, func(j int, r wire.Response, err error) {
		if j < len(sent) {
			o := &out[sent[j]]
			o.res, o.ran, o.err = answerOf(r, err)
		}
	})
	if err == nil && n == len(sent) {
		return
	}
	var fail error = &FunctionError{Detail: "the plugin's batch answer is malformed"}
	if err == nil {
		fail = &FunctionError{Detail: "the plugin answered part of a batch"}
		if r, rerr := wire.DecodeResponse(b); rerr == nil && r.Failure != nil {
			// The plugin could not send the answers (too large together): it says why.
			fail = failureError(r.Failure)
		}
	}
	for _, k := range sent[min(n, len(sent)):] {
		out[k].res, out[k].err = nil, fail
	}
}

// invokeBatch: the breaker decides once for the batch, and counts each outcome.
func (b *breaker) invokeBatch(ctx context.Context, evs []*fn.Event, out []outcome) {
	probe, err := b.admit()
	if err != nil {
		fillOutcomes(out, nil, err)
		return
	}
	invokeBatch(ctx, b.next, evs, out)
	for k, o := range out {
		b.record(probe && k == 0, o.err)
	}
}

// invokeBatch takes a slot per event. When fewer are free than the batch needs, it runs the
// part it has slots for and waits for more for the rest, up to the limiter's wait from the
// first; what finds no slot by then fails with ErrOverloaded.
func (l *limiter) invokeBatch(ctx context.Context, evs []*fn.Event, out []outcome) {
	var t *time.Timer
	defer func() {
		if t != nil {
			t.Stop()
		}
	}()
	for start := 0; start < len(evs); {
		n := 0
		for start+n < len(evs) {
			select {
			case l.slots <- struct{}{}:
				n++
				continue
			default:
			}
			if n > 0 {
				break
			}
			if t == nil {
				t = time.NewTimer(l.wait)
			}
			select {
			case l.slots <- struct{}{}:
				n++
				continue
			case <-t.C:
			case <-ctx.Done():
			}
			fillOutcomes(out[start:], nil, ErrOverloaded)
			return
		}
		invokeBatch(ctx, l.next, evs[start:start+n], out[start:start+n])
		for range n {
			<-l.slots
		}
		start += n
	}
}

// invokeBatch runs the batch on the next ready instance, waiting for one while none is.
func (p *pool) invokeBatch(ctx context.Context, evs []*fn.Event, out []outcome) {
	for {
		p.mu.Lock()
		wait := p.ready
		p.mu.Unlock()
		if inst := p.pick(); inst != nil {
			inst.invokeBatch(ctx, evs, out)
			return
		}
		select {
		case <-wait:
		case <-ctx.Done():
			fillOutcomes(out, nil, ErrNotReady)
			return
		case <-p.ctx.Done():
			fillOutcomes(out, nil, ErrStopping)
			return
		}
	}
}
