package memory

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/edgefn/edgefn/triggers"
)

// entry is a stream entry.
type entry struct {
	n   uint64 // position in the stream, from 0, never reused
	id  string // "<unix-ms>-<seq>", as Redis numbers entries
	msg triggers.Message
}

// stream is a named append-only log with consumer groups, trimmed to max entries.
type stream struct {
	name string
	max  int

	mu      sync.Mutex // guards the fields below
	entries ring[*entry]
	base    uint64 // position of entries.at(0)
	lastMs  int64  // ID of the last entry appended
	lastSeq uint64
	groups  map[string]*group
	changed signal // broadcast on append and retry
}

func newStream(name string, max int) *stream {
	return &stream{name: name, max: max, groups: map[string]*group{}}
}

// end is the position the next entry gets.
func (s *stream) end() uint64 { return s.base + uint64(s.entries.len()) }

// append adds m, which the stream now owns, as a new entry; an empty ID becomes the entry
// ID and a zero Time now (docs/events.md). It trims the oldest entries beyond max. The caller
// broadcasts.
func (s *stream) append(m triggers.Message, now time.Time) {
	ms := now.UnixMilli()
	if ms > s.lastMs {
		s.lastMs, s.lastSeq = ms, 0
	} else {
		s.lastSeq++ // same millisecond, or the clock went back: Redis keeps IDs increasing
	}
	e := &entry{n: s.end(), id: strconv.FormatInt(s.lastMs, 10) + "-" + strconv.FormatUint(s.lastSeq, 10), msg: m}
	if e.msg.ID == "" {
		e.msg.ID = e.id
	}
	if e.msg.Time.IsZero() {
		e.msg.Time = now
	}
	s.entries.pushBack(e)
	if over := s.entries.len() - s.max; over > 0 {
		s.trim(over)
	}
}

// trim deletes the k oldest entries. Like Redis MAXLEN it does not spare entries that a
// group has not read or acknowledged: they leave the pending lists too, so nothing grows
// past the stream's bound. A consumer still holding one can no longer retry or dead-letter
// it.
func (s *stream) trim(k int) {
	for range k {
		e := s.entries.popFront()
		s.base++
		for _, g := range s.groups {
			if p := g.pending[e.n]; p != nil {
				g.remove(p)
			}
		}
	}
}

// PublishStream appends copies of msgs to the stream, creating it when missing. A message
// without an ID gets its entry ID, one without a time the current time; msgs themselves are
// not modified. The stream keeps its Options.MaxStreamLength newest entries.
func (b *Broker) PublishStream(ctx context.Context, name string, msgs ...*triggers.Message) error {
	if err := checkPublish(ctx, name, msgs); err != nil {
		return fmt.Errorf("memory: publish to stream %q: %w", name, err)
	}
	s, err := b.stream(name, true)
	if err != nil {
		return fmt.Errorf("memory: publish to stream %q: %w", name, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	for _, m := range msgs {
		s.append(copyMessage(m), now)
	}
	s.changed.broadcast()
	return nil
}

// ConsumeStream opens a consumer in a group of the stream, creating the stream and the
// group when missing: a new group starts at the end of the stream, or at its oldest entry
// with FromOldest. The consumer's name must not be in use by a live consumer of the group.
func (b *Broker) ConsumeStream(ctx context.Context, opts triggers.StreamOptions) (triggers.Source, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("memory: consume stream %q: %w", opts.Stream, err)
	}
	if err := checkStreamOptions(&opts); err != nil {
		return nil, fmt.Errorf("memory: consume stream %q: %w", opts.Stream, err)
	}
	s, err := b.stream(opts.Stream, true)
	if err != nil {
		return nil, fmt.Errorf("memory: consume stream %q: %w", opts.Stream, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.groups[opts.Group]
	if g == nil {
		start := s.end()
		if opts.FromOldest {
			start = s.base
		}
		g = newGroup(opts.Group, start)
		s.groups[opts.Group] = g
	}
	if g.consumers[opts.Consumer] != nil {
		return nil, fmt.Errorf("memory: consume stream %q: group %q already has a live consumer %q", opts.Stream, opts.Group, opts.Consumer)
	}
	src := &streamSource{
		b: b, s: s, g: g, name: opts.Consumer, dls: opts.DeadLetter, claimAfter: opts.ClaimAfter,
		closedCh: make(chan struct{}),
	}
	g.consumers[opts.Consumer] = src
	return src, nil
}

// checkStreamOptions validates opts and fills its defaults.
func checkStreamOptions(opts *triggers.StreamOptions) error {
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
		errs = append(errs, fmt.Errorf("claimAfter: %s: must be >= 0", opts.ClaimAfter))
	}
	if opts.DeadLetter == "" {
		opts.DeadLetter = opts.Stream + ".dlq"
	}
	if opts.DeadLetter == opts.Stream {
		errs = append(errs, errors.New("deadLetter: must not be the stream itself"))
	}
	if opts.ClaimAfter == 0 {
		opts.ClaimAfter = DefaultClaimAfter
	}
	return errors.Join(errs...)
}
