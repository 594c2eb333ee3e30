package runtime

import (
	"context"

	"github.com/edgefn/edgefn/runtime/event"
)

// eachEvent is a stage that answers every event of a batch with its function, concurrently,
// as an instance does for a plugin that takes events one by one: the fake next stage of the
// stages' tests.
type eachEvent func(ctx context.Context, ev *event.Event) (*event.Result, error)

func (f eachEvent) invoke(ctx context.Context, evs []*event.Event, out []outcome) {
	invokeEach(ctx, evs, out, func(ctx context.Context, ev *event.Event, o *outcome) {
		o.res, o.err = f(ctx, ev)
	})
}

// invokeOne runs ev through s as a batch of one, as Function.Invoke does.
func invokeOne(ctx context.Context, s stage, ev *event.Event) (*event.Result, error) {
	out := make([]outcome, 1)
	s.invoke(ctx, []*event.Event{ev}, out)
	return out[0].res, out[0].err
}

// batchOf is a batch of n empty events.
func batchOf(n int) []*event.Event {
	evs := make([]*event.Event, n)
	for k := range evs {
		evs[k] = &event.Event{}
	}
	return evs
}
