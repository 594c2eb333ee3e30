package dispatch

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/edgefn/edgefn/internal/filter"
	"github.com/edgefn/edgefn/internal/telemetry"
	"github.com/edgefn/edgefn/runtime"
	"github.com/edgefn/edgefn/runtime/event"
	"github.com/edgefn/edgefn/triggers"
)

// Invoker runs one invocation of a function (runtime.Function implements it).
type Invoker interface {
	Invoke(ctx context.Context, ev *event.Event) (*event.Result, error)
}

// BatchInvoker is an Invoker that also runs several events as one batch, returning each
// one's result and error in order (runtime.Function implements it). A consumer whose function
// takes batches hands it each receive's deliveries together.
type BatchInvoker interface {
	Invoker
	// InvokeBatch runs evs together under ctx's deadline; parents[k], when not nil, is the
	// context whose span the k-th event's invocation belongs to.
	InvokeBatch(ctx context.Context, evs []*event.Event, parents []context.Context) ([]*event.Result, []error)
}

// ConsumerConfig configures one Consumer.
type ConsumerConfig struct {
	// Function names the function, for logs and the source of emitted messages.
	Function string
	// EventSource is what events say they come from: "queue/NAME" or "stream/NAME".
	EventSource string
	// Retries is how many extra attempts a failing delivery gets before it is dead-lettered.
	Retries int
	// Backoff is the delay before the first retry; it doubles for each further one, with
	// ±20% jitter, up to MaxBackoff.
	Backoff time.Duration
	// Filter skips (acknowledges without invoking) events it rejects; nil passes all.
	Filter *filter.Filter
	// Concurrency bounds deliveries being handled at once; default 16.
	Concurrency int
	// Timeout bounds one delivery's invocation and effects; default 30s.
	Timeout time.Duration
	// Logger; default slog.Default().
	Logger *slog.Logger
	// Async, when set, makes this the consumer of a function's async HTTP invocations: the
	// runner decodes them and completes them with their outcome, and only the failures it
	// calls retryable are retried.
	Async AsyncRunner
	// schedule, when set, makes this the run consumer of a function's schedules: retries and
	// backoff come from the trigger each run belongs to, and runs are counted and unlocked.
	schedule *scheduleRuns
}

// MaxBackoff caps the retry delay.
const MaxBackoff = time.Hour

// Stats count what a consumer did.
type Stats struct {
	Handled, Skipped, Retried, DeadLettered, FilterErrors atomic.Int64
	// Replies count the answers to RPC requests (messages with a reply-to), by outcome.
	Replies ReplyStats
}

// ReplyStats count the answers to RPC requests by outcome (docs/events.md#rpc-replies).
type ReplyStats struct {
	// Sent: the result reached the reply queue. Error: an error reply reached it after the
	// request failed for good. Returned: the reply queue was gone (the caller left). Failed:
	// the reply could not be published (the request is retried, or its caller gets nothing).
	Sent, Error, Returned, Failed atomic.Int64
}

// Consumer feeds the deliveries of one Source to one function.
type Consumer struct {
	cfg     ConsumerConfig
	src     triggers.Source
	fn      Invoker
	effects *Effects
	acks    *ackBatcher
	Stats   Stats
	// base is the context invocations start from: it names the trigger kind for the
	// runtime's metrics.
	base       context.Context
	attrs      attribute.Set
	replyAttrs []attribute.Set
	spanName   string
}

// NewConsumer wires a consumer; Run starts it.
func NewConsumer(cfg ConsumerConfig, src triggers.Source, f Invoker, effects *Effects) *Consumer {
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 16
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	kind := runtime.TriggerQueue
	switch {
	case cfg.Async != nil:
		kind = runtime.TriggerAsync
	case cfg.schedule != nil:
		kind = runtime.TriggerSchedule
	case strings.HasPrefix(cfg.EventSource, "stream/"):
		kind = runtime.TriggerStream
	}
	c := &Consumer{cfg: cfg, src: src, fn: f, effects: effects,
		base: runtime.WithTrigger(context.Background(), kind), attrs: triggerAttrs(cfg), replyAttrs: replyAttrs(cfg),
		spanName: "process " + cfg.EventSource}
	c.acks = newAckBatcher(src, cfg.Logger.With("function", cfg.Function, "trigger", cfg.EventSource))
	return c
}

// Run consumes until ctx ends, then waits for the deliveries being handled and closes the
// source (whatever was not settled returns to the queue or group).
func (c *Consumer) Run(ctx context.Context) {
	log := c.cfg.Logger.With("function", c.cfg.Function, "trigger", c.cfg.EventSource)
	var wg sync.WaitGroup
	ackDone := make(chan struct{})
	go func() { c.acks.run(); close(ackDone) }()
	releaseDone := make(chan struct{})
	if s := c.cfg.schedule; s != nil && s.locks != nil {
		go func() { s.locks.run(); close(releaseDone) }()
	} else {
		close(releaseDone)
	}
	defer func() {
		wg.Wait()
		if s := c.cfg.schedule; s != nil && s.locks != nil {
			s.locks.close()
		}
		<-releaseDone
		c.acks.close()
		<-ackDone
		c.src.Close()
	}()
	if r, ok := c.fn.(BacklogReporter); ok {
		if l, ok := c.src.(triggers.Lagger); ok {
			wg.Add(1)
			go func() { defer wg.Done(); c.reportBacklog(ctx, r, l) }()
		}
	}
	slots := make(chan struct{}, c.cfg.Concurrency)
	// Receive in batches: wait until a quarter of the slots are free (or all, when there are
	// few), then take every free one. Asking for one entry whenever one slot frees up would
	// make a broker round trip per message.
	batch := max(1, c.cfg.Concurrency/4)
	// A function that takes batches gets each receive's deliveries in one invocation; a
	// receive then takes at most half the slots, so that the next batch is read while this
	// one runs.
	batcher, _ := c.fn.(BatchInvoker)
	if c.cfg.Async != nil || c.cfg.schedule != nil {
		batcher = nil
	}
	most := c.cfg.Concurrency
	if batcher != nil {
		most = max(1, c.cfg.Concurrency/2)
		batch = min(batch, most)
	}
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		n := 0
		for ; n < batch; n++ {
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				return
			}
		}
	more:
		for ; n < most; n++ {
			select {
			case slots <- struct{}{}:
			default:
				break more
			}
		}
		ds, err := c.src.Receive(ctx, n)
		for range n - len(ds) {
			<-slots
		}
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, triggers.ErrClosed) {
				return
			}
			log.Warn("receive failed; retrying", "error", err, "backoff", backoff.String())
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
				return
			}
			backoff = min(backoff*2, 10*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
		if batcher != nil && len(ds) > 0 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c.handleBatch(batcher, ds, func() { <-slots })
			}()
			continue
		}
		for _, d := range ds {
			wg.Add(1)
			go func() {
				defer func() { <-slots; wg.Done() }()
				c.handle(d)
			}()
		}
	}
}

// BacklogReporter is a function whose scaler counts the messages waiting in its triggers
// (runtime.Function implements it).
type BacklogReporter interface {
	Scales() bool
	SetBacklog(source string, n int64)
}

// backlogEvery is how often a consumer of a function that scales reads its source's lag: as
// often as the scaler decides.
const backlogEvery = time.Second

// reportBacklog tells r, every backlogEvery while it scales, how many messages wait in the
// source, until ctx ends.
func (c *Consumer) reportBacklog(ctx context.Context, r BacklogReporter, l triggers.Lagger) {
	defer r.SetBacklog(c.cfg.EventSource, 0)
	t := time.NewTicker(backlogEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !r.Scales() {
			continue
		}
		lctx, cancel := context.WithTimeout(ctx, lagTimeout)
		n, err := l.Lag(lctx)
		cancel()
		if err == nil {
			r.SetBacklog(c.cfg.EventSource, n)
		}
	}
}

// handleBatch runs the deliveries the filter passes as one batch, then settles each: those
// without effects at once, the others (effects, a reply, a retry or a dead letter, all broker
// round trips) concurrently. release is called once per delivery when it is settled.
func (c *Consumer) handleBatch(b BatchInvoker, ds []*triggers.Delivery, release func()) {
	evs := make([]*event.Event, 0, len(ds))
	run := ds[:0:0]
	var parents []context.Context
	var spans []trace.Span
	for _, d := range ds {
		dctx, span := c.startDelivery(d)
		ev := toEvent(d, c.cfg.EventSource)
		if !c.passes(ev) {
			c.skip(d, span)
			release()
			continue
		}
		evs, run = append(evs, ev), append(run, d)
		parents, spans = append(parents, dctx), append(spans, span)
	}
	if len(run) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(c.base, c.cfg.Timeout)
	defer cancel()
	results, errs := b.InvokeBatch(ctx, evs, parents)
	var wg sync.WaitGroup
	var done []*triggers.Delivery
	for k, d := range run {
		res, err := results[k], errs[k]
		if err == nil && d.ReplyTo == "" && (res == nil || len(res.Emitted)+len(res.Notified) == 0) {
			done = append(done, d)
			spans[k].End()
			continue
		}
		wg.Go(func() {
			defer release()
			endSpan(spans[k], c.settle(trace.ContextWithSpan(ctx, spans[k]), d, evs[k], res, err))
		})
	}
	if len(done) > 0 {
		c.Stats.Handled.Add(int64(len(done)))
		c.acks.ack(done...)
		for range done {
			release()
		}
	}
	wg.Wait()
}

// skip acknowledges a delivery the filter rejected.
func (c *Consumer) skip(d *triggers.Delivery, span trace.Span) {
	c.Stats.Skipped.Add(1)
	c.acks.ack(d)
	if span.IsRecording() {
		span.SetAttributes(attribute.Bool("edgefn.filtered", true))
	}
	span.End()
}

// passes applies the filter: false means skip (acknowledge without invoking).
func (c *Consumer) passes(ev *event.Event) bool {
	if c.cfg.Filter == nil {
		return true
	}
	ok, err := c.cfg.Filter.Match(filterEnv(ev))
	if err != nil {
		c.Stats.FilterErrors.Add(1)
	}
	return ok
}

// settle carries out the effects of a successful invocation and answers its reply-to, then
// acknowledges d; a failure of any of it (or of the invocation) retries or dead-letters d,
// and is returned.
func (c *Consumer) settle(ctx context.Context, d *triggers.Delivery, ev *event.Event, res *event.Result, err error) error {
	if err == nil {
		err = c.effects.Apply(ctx, c.cfg.Function, ev, res)
	}
	if err == nil && d.ReplyTo != "" {
		err = c.reply(ctx, d, res)
	}
	if err == nil {
		c.Stats.Handled.Add(1)
		if c.cfg.schedule != nil {
			c.cfg.schedule.finished(d, false, true)
		}
		c.acks.ack(d)
		return nil
	}
	c.settleFailure(d, err)
	return err
}

// reply answers the RPC request d with res. A reply whose queue is gone is no failure of d:
// the caller left, and its request was carried out.
func (c *Consumer) reply(ctx context.Context, d *triggers.Delivery, res *event.Result) error {
	err := c.effects.Reply(ctx, d, res)
	switch {
	case err == nil:
		c.Stats.Replies.Sent.Add(1)
	case errors.Is(err, triggers.ErrNoReplyQueue):
		c.Stats.Replies.Returned.Add(1)
		c.deliveryLog(d).Warn("the reply queue is gone (the caller left); the reply is dropped", "reply_to", d.ReplyTo)
		return nil
	default:
		c.Stats.Replies.Failed.Add(1)
	}
	return err
}

// replyError answers the RPC request d, which failed for good because of cause, with an
// error reply, so that its caller does not wait for an answer that will never come.
func (c *Consumer) replyError(d *triggers.Delivery, cause error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := c.effects.ReplyError(ctx, d, cause)
	switch {
	case err == nil:
		c.Stats.Replies.Error.Add(1)
	case errors.Is(err, triggers.ErrNoReplyQueue):
		c.Stats.Replies.Returned.Add(1)
		c.deliveryLog(d).Warn("the reply queue is gone (the caller left); the error reply is dropped", "reply_to", d.ReplyTo)
	default:
		c.Stats.Replies.Failed.Add(1)
		c.deliveryLog(d).Error("the error reply failed; the caller gets no answer", "reply_to", d.ReplyTo, "error", err)
	}
}

// handle runs one delivery to its settlement. It does not stop when Run's context ends: a
// delivery being handled finishes (within the timeout) so a shutdown loses no work.
func (c *Consumer) handle(d *triggers.Delivery) {
	if c.cfg.Async != nil {
		c.handleAsync(d)
		return
	}
	dctx, span := c.startDelivery(d)
	ev := toEvent(d, c.cfg.EventSource)
	if !c.passes(ev) {
		c.skip(d, span)
		return
	}
	if c.cfg.schedule != nil {
		c.cfg.schedule.started(d)
	}
	ctx, cancel := context.WithTimeout(dctx, c.cfg.Timeout)
	defer cancel()
	res, err := c.fn.Invoke(ctx, ev)
	endSpan(span, c.settle(ctx, d, ev, res, err))
}

// handleAsync runs one async HTTP invocation: invoke, carry out the effects, then complete
// it with the result; a retryable failure is retried while attempts remain, and any other
// (or the last) is completed as the caller's answer.
func (c *Consumer) handleAsync(d *triggers.Delivery) {
	dctx, span := c.startDelivery(d)
	defer span.End()
	ev, err := c.cfg.Async.Decode(d)
	if err != nil {
		telemetry.Fail(span, err)
		c.deadLetter(d, err) // no attempt can decode it
		return
	}
	ctx, cancel := context.WithTimeout(dctx, c.cfg.Timeout)
	defer cancel()
	res, err := c.run(ctx, ev)
	if err != nil && d.Attempt <= c.cfg.Retries && c.cfg.Async.Retryable(err) {
		c.settleFailure(d, err)
		return
	}
	cctx, ccancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer ccancel()
	if cerr := c.cfg.Async.Complete(cctx, c.cfg.Function, ev, res, err); cerr != nil {
		c.settleFailure(d, cerr)
		return
	}
	c.Stats.Handled.Add(1)
	c.acks.ack(d)
}

// run invokes the function and carries out the effects of its result.
func (c *Consumer) run(ctx context.Context, ev *event.Event) (*event.Result, error) {
	res, err := c.fn.Invoke(ctx, ev)
	if err == nil {
		err = c.effects.Apply(ctx, c.cfg.Function, ev, res)
	}
	return res, err
}

// settleFailure retries d after its backoff while attempts remain, else dead-letters it.
func (c *Consumer) settleFailure(d *triggers.Delivery, cause error) {
	retries, backoff := c.cfg.Retries, c.cfg.Backoff
	if c.cfg.schedule != nil {
		retries, backoff = c.cfg.schedule.policy(d)
		c.cfg.schedule.finished(d, true, d.Attempt > retries)
	}
	if d.Attempt > retries {
		c.deadLetter(d, cause)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	delay := Backoff(backoff, d.Attempt)
	log := c.deliveryLog(d)
	log.Warn("delivery failed; retrying", "error", cause, "delay", delay.String())
	if err := c.src.Retry(ctx, d, delay); err != nil {
		log.Error("retry failed; the broker will redeliver", "error", err)
	}
	c.Stats.Retried.Add(1)
}

// deadLetter gives up on d.
func (c *Consumer) deadLetter(d *triggers.Delivery, cause error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	log := c.deliveryLog(d)
	log.Error("delivery failed for good; dead-lettering", "error", cause)
	if err := c.src.DeadLetter(ctx, d, cause.Error()); err != nil {
		log.Error("dead-letter failed; the broker will redeliver", "error", err)
		return
	}
	c.Stats.DeadLettered.Add(1)
	if d.ReplyTo != "" {
		c.replyError(d, cause)
	}
}

func (c *Consumer) deliveryLog(d *triggers.Delivery) *slog.Logger {
	return c.cfg.Logger.With("function", c.cfg.Function, "trigger", c.cfg.EventSource, "id", d.ID, "attempt", d.Attempt)
}

// Backoff is the delay before retry number attempt (1 for the first retry): base doubled for
// each earlier retry, with ±20% jitter, capped at MaxBackoff.
func Backoff(base time.Duration, attempt int) time.Duration {
	d := base
	for i := 1; i < attempt && d < MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, MaxBackoff)
	jitter := 0.8 + 0.4*rand.Float64()
	return time.Duration(float64(d) * jitter)
}

// ackBatcher acknowledges deliveries in batches: one broker round trip settles everything
// that finished while the previous one was in flight.
type ackBatcher struct {
	src  triggers.Source
	log  *slog.Logger
	in   chan []*triggers.Delivery
	once sync.Once
}

func newAckBatcher(src triggers.Source, log *slog.Logger) *ackBatcher {
	return &ackBatcher{src: src, log: log, in: make(chan []*triggers.Delivery, 1024)}
}

// ack queues ds for acknowledgement; ds is not touched after.
func (a *ackBatcher) ack(ds ...*triggers.Delivery) { a.in <- ds }

func (a *ackBatcher) close() { a.once.Do(func() { close(a.in) }) }

func (a *ackBatcher) run() {
	batch := make([]*triggers.Delivery, 0, 256)
	for ds := range a.in {
		batch = append(batch[:0], ds...)
	more:
		for len(batch) < cap(batch) {
			select {
			case ds, ok := <-a.in:
				if !ok {
					break more
				}
				batch = append(batch, ds...)
			default:
				break more
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := a.src.Ack(ctx, batch...); err != nil {
			a.log.Warn("ack failed; the deliveries will be redelivered", "error", err, "count", len(batch))
		}
		cancel()
	}
}
