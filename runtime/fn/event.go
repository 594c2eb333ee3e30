package fn

import "github.com/edgefn/edgefn/runtime/event"

// Event is one invocation's input, with CloudEvents-style attributes: ID, Type, Source
// ("http", "queue/NAME", "stream/NAME", "websocket/TOPIC" or "invoke"), Subject, Time, Data,
// ContentType, CorrelationID, Attempt (1 on first delivery), Headers, Claims (the verified
// JWT's, if any), and for HTTP calls Method, Path, Params and Query. Decode unmarshals its JSON
// data.
type Event = event.Event

// ErrNoData is returned by Event.Decode when the event carries no data.
var ErrNoData = event.ErrNoData
