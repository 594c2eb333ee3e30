package triggers

import (
	"context"
	"time"
)

// Position is a place in a topic's history: an epoch and an offset within it. Offsets
// grow by one with each publication. The epoch names one unbroken history: when a topic's
// history is lost (it expired, or the embedded backend restarted) the topic starts a new
// epoch, and positions of the old one can no longer be recovered.
type Position struct {
	Epoch  string
	Offset uint64
}

// Publication is one message published to a WebSocket topic.
type Publication struct {
	Topic string
	Position
	// Data is the JSON payload.
	Data []byte
}

// TopicListener receives the publications of every topic, published on any node.
type TopicListener interface {
	// Publication is called for every publication: calls for one topic are sequential, in
	// offset order; calls for different topics may be concurrent. It should return quickly:
	// the backend's fan-out waits for it.
	Publication(p *Publication)
	// Resync is called after the backend re-established a broken fan-out connection:
	// publications made in the meantime may have been missed, and the listener should read
	// them from the history of the topics it cares about.
	Resync()
}

// TopicListeners hands every call to each of its listeners in turn, so that one fan-out
// connection serves them all.
type TopicListeners []TopicListener

// Publication passes p to every listener.
func (ls TopicListeners) Publication(p *Publication) {
	for _, l := range ls {
		l.Publication(p)
	}
}

// Resync passes the resync to every listener.
func (ls TopicListeners) Resync() {
	for _, l := range ls {
		l.Resync()
	}
}

// HistoryOptions bound what a topic keeps for recovery.
type HistoryOptions struct {
	// Size is how many recent publications a topic keeps; default 100.
	Size int
	// TTL is how long a publication is kept; default 5 minutes. A topic that sees no
	// publication or read for longer loses its history, and its next use starts a new epoch.
	TTL time.Duration
}

// WithDefaults fills in the zero fields.
func (o HistoryOptions) WithDefaults() HistoryOptions {
	if o.Size <= 0 {
		o.Size = 100
	}
	if o.TTL <= 0 {
		o.TTL = 5 * time.Minute
	}
	return o
}

// Topics is a WebSocket fan-out backend: the embedded one (one process) or Redis (every
// node sees every publication). It numbers publications per topic, keeps recent ones for
// recovery, and delivers every publication to every node's listener.
//
// Guarantees, which the conformance suite (triggertest) checks for every backend:
//   - Offsets of a topic's publications are consecutive within an epoch, and each
//     listener sees a topic's publications in offset order, each once.
//   - TopicHistory with since in the current epoch returns exactly the publications after
//     since, in order, when the history still holds all of them; otherwise recovered is false
//     and nothing is returned. Never a partial recovery.
type Topics interface {
	// PublishTopic appends data to topic's history and fans it out; it returns the
	// publication's position.
	PublishTopic(ctx context.Context, topic string, data []byte) (Position, error)
	// TopicHistory returns topic's current position (the last publication's, or offset 0
	// of a new epoch when it has none). When since is not nil it also returns the
	// publications after it and whether they are complete (recovered); with since nil,
	// recovered is false and pubs empty.
	TopicHistory(ctx context.Context, topic string, since *Position) (top Position, pubs []*Publication, recovered bool, err error)
	// ListenTopics delivers publications to l until ctx ends or the backend is closed. It
	// returns once the listener is registered, so that publications made after it returns
	// reach l.
	ListenTopics(ctx context.Context, l TopicListener) error
}
