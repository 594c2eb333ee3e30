package redis

import (
	"context"
	"errors"
	"fmt"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/edgefn/edgefn/triggers"
)

var (
	_ triggers.Streams     = (*Streams)(nil)
	_ triggers.DeadLetters = (*Streams)(nil)
	_ triggers.Pinger      = (*Streams)(nil)
	_ triggers.Source      = (*source)(nil)
)

const (
	defaultMaxLen     = 100_000
	defaultBlock      = 2 * time.Second
	maxBlock          = time.Minute
	defaultClaimAfter = 30 * time.Second
	// publishBatch bounds the commands of one pipeline.
	publishBatch = 1000
)

// Options tune the Redis Streams backend. The zero value means the defaults.
type Options struct {
	// MaxLen caps every stream this backend appends to, dead-letter streams included, with
	// XADD MAXLEN ~: Redis trims whole nodes, so a stream may hold somewhat more. Entries
	// trimmed while still pending are lost to their consumers. Default 100_000; a negative
	// value disables trimming.
	MaxLen int64
	// Block is the longest a single XREADGROUP blocks in Redis before Receive looks again at
	// its retries and claims. A context cancel or Close ends it earlier. Default 2s; at most
	// one minute.
	Block time.Duration
	// ReclaimEvery is how often a source looks for entries a dead consumer left pending
	// (XAUTOCLAIM). Default min(ClaimAfter/2, 1s) of each source.
	ReclaimEvery time.Duration
}

func (o *Options) setDefaults() {
	if o.MaxLen == 0 {
		o.MaxLen = defaultMaxLen
	}
	if o.Block == 0 {
		o.Block = defaultBlock
	}
}

// Validate reports every problem of the options.
func (o *Options) Validate() error {
	var errs []error
	if o.Block < time.Millisecond || o.Block > maxBlock {
		errs = append(errs, fmt.Errorf("block: %s is not between 1ms and %s", o.Block, maxBlock))
	}
	if o.ReclaimEvery < 0 {
		errs = append(errs, fmt.Errorf("reclaimEvery: must be >= 0"))
	}
	return errors.Join(errs...)
}

// Streams is the Redis Streams backend. It implements [triggers.Streams],
// [triggers.DeadLetters] and [triggers.Pinger]. It does not own its client: whoever created
// the client closes it, after closing the sources.
type Streams struct {
	client *goredis.Client
	opts   Options
}

// New returns the backend on client. It does no I/O.
func New(client *goredis.Client, opts Options) (*Streams, error) {
	if client == nil {
		return nil, errors.New("redis streams: nil client")
	}
	opts.setDefaults()
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("redis streams: %w", err)
	}
	return &Streams{client: client, opts: opts}, nil
}

// Ping returns nil while Redis answers.
func (s *Streams) Ping(ctx context.Context) error {
	if err := s.client.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis streams: ping: %w", err)
	}
	return nil
}

// PublishStream appends msgs to stream (XADD MAXLEN ~, pipelined for several), filling in
// the ID and Time of each message that lacks them. It returns once Redis has them all; after
// an error some of them may have been appended.
func (s *Streams) PublishStream(ctx context.Context, stream string, msgs ...*triggers.Message) error {
	if stream == "" {
		return errors.New("redis streams: publish: empty stream name")
	}
	for _, m := range msgs {
		fill(m)
	}
	switch len(msgs) {
	case 0:
		return nil
	case 1:
		if err := s.client.XAdd(ctx, s.xadd(stream, encode(msgs[0]))).Err(); err != nil {
			return fmt.Errorf("redis stream %q: xadd: %w", stream, err)
		}
		return nil
	}
	for len(msgs) > 0 {
		batch := msgs[:min(len(msgs), publishBatch)]
		msgs = msgs[len(batch):]
		cmds, err := s.client.Pipelined(ctx, func(p goredis.Pipeliner) error {
			for _, m := range batch {
				p.XAdd(ctx, s.xadd(stream, encode(m)))
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("redis stream %q: xadd: %w", stream, firstErr(cmds, err))
		}
	}
	return nil
}

// xadd returns the arguments to append values to stream, trimmed to MaxLen.
func (s *Streams) xadd(stream string, values []any) *goredis.XAddArgs {
	a := &goredis.XAddArgs{Stream: stream, Values: values}
	if s.opts.MaxLen > 0 {
		a.MaxLen, a.Approx = s.opts.MaxLen, true
	}
	return a
}

// ConsumeStream opens a consumer in a group of a stream, creating the stream and the group
// when missing (a new group starts at the end of the stream unless FromOldest). The source
// holds one connection of the client's pool until it is closed.
func (s *Streams) ConsumeStream(ctx context.Context, opts triggers.StreamOptions) (triggers.Source, error) {
	var errs []error
	if opts.Stream == "" {
		errs = append(errs, errors.New("stream: required"))
	}
	if opts.Group == "" {
		errs = append(errs, errors.New("group: required"))
	}
	if opts.Consumer == "" {
		errs = append(errs, errors.New("consumer: required"))
	}
	if opts.ClaimAfter < 0 {
		errs = append(errs, errors.New("claimAfter: must be >= 0"))
	}
	if opts.ClaimAfter == 0 {
		opts.ClaimAfter = defaultClaimAfter
	}
	if opts.DeadLetter == "" {
		opts.DeadLetter = opts.Stream + ".dlq"
	}
	if opts.DeadLetter == opts.Stream {
		errs = append(errs, errors.New("deadLetter: must differ from the stream"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("redis stream %q: %w", opts.Stream, err)
	}
	src := newSource(s, opts)
	start := "$"
	if opts.FromOldest {
		start = "0"
	}
	if err := src.createGroup(ctx, start); err != nil {
		return nil, err
	}
	return src, nil
}

// firstErr returns the first error among a pipeline's commands, or err.
func firstErr(cmds []goredis.Cmder, err error) error {
	for _, c := range cmds {
		if c.Err() != nil {
			return c.Err()
		}
	}
	return err
}

// Entry returns the fields of msg's stream entry, as PublishStream appends it (filling in
// its ID and Time when it lacks them), and the MAXLEN ~ the stream is trimmed to (0: not
// trimmed), for a script of the same Redis that appends the entry itself with XADD in the
// same atomic step as other writes (the schedule claims, docs/cluster.md#schedules).
func (s *Streams) Entry(msg *triggers.Message) (fields []any, maxLen int64) {
	fill(msg)
	return encode(msg), max(s.opts.MaxLen, 0)
}
