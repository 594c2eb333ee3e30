// Package presence keeps who is on a WebSocket topic, across every node of a cluster
// (docs/websocket.md#presence): a Store that the hub tells when one of its clients joins or
// leaves a topic whose rule sets `presence: true`, and that any node reads a page at a time.
// A Store also carries join and leave events to every node, so that subscribers of a
// `joinLeave` topic hear of clients of other nodes; they are not publications, and never
// enter a topic's history.
//
// In memory (one node), a member stays until it leaves. In Redis, every member expires unless
// the node that holds its connection refreshes it: a node that dies stops showing its clients
// once their entries expire, and whoever prunes them next announces their leave.
package presence

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// Member is one client on a topic: its connection ID, its subject and the info its connect
// function gave (nil for none).
type Member struct {
	Client string          `json:"client"`
	Sub    string          `json:"sub"`
	Info   json.RawMessage `json:"info,omitempty"`
}

// Event is a join or a leave of a member on a topic.
type Event struct {
	Topic  string
	Leave  bool
	Member Member
}

// Listener hears the events of every node. It must not block: it runs on the store's
// receiving goroutine.
type Listener func(Event)

// Store keeps the members of topics. Topics are valid topic names (manifest.ValidTopic);
// client IDs are at most MaxClientLen bytes.
type Store interface {
	// Join adds m to topic, and announces its join to every Listener when it was not there.
	Join(ctx context.Context, topic string, m Member) error
	// Leave removes client from topic, and announces its leave when it was there.
	Leave(ctx context.Context, topic, client string) error
	// Refresh keeps this node's members of topic present: a store whose entries expire
	// extends theirs, adds back (and announces) those it lost, and prunes (and announces the
	// leave of) the expired members of other nodes.
	Refresh(ctx context.Context, topic string, members []Member) error
	// Page returns the members of topic after the client ID after ("" for the first page),
	// at most limit of them in order of client ID, and the cursor of the next page ("" when
	// this one is the last).
	Page(ctx context.Context, topic, after string, limit int) (members []Member, next string, err error)
	// Stats counts the members of topic and their distinct non-empty subjects.
	Stats(ctx context.Context, topic string) (clients, users int, err error)
	// Listen delivers the events of every node to l until ctx ends. It returns once l is
	// registered: events announced after it returned reach l.
	Listen(ctx context.Context, l Listener) error
}

// MaxClientLen bounds a client ID (a cursor is one).
const MaxClientLen = 128

// ErrBadCursor is returned by Page for a cursor that no page gave.
var ErrBadCursor = errors.New("bad presence cursor")

func checkCursor(after string) error {
	if len(after) > MaxClientLen {
		return fmt.Errorf("%w: longer than %d bytes", ErrBadCursor, MaxClientLen)
	}
	return nil
}

// EncodeEvent is the frame that tells a subscriber of ev's topic of ev:
// {"topic":"..","join":{..}} or {"topic":"..","leave":{..}}.
func EncodeEvent(ev Event) []byte {
	b := append([]byte(`{"topic":`), strconv.Quote(ev.Topic)...)
	if ev.Leave {
		b = append(b, `,"leave":`...)
	} else {
		b = append(b, `,"join":`...)
	}
	b = append(b, EncodeMember(ev.Member)...)
	return append(b, '}')
}

// EncodeMember is m as JSON, its fields in a fixed order; m.Info must be JSON (it comes
// from a decoded answer, or from the store that kept it).
func EncodeMember(m Member) []byte {
	b := make([]byte, 0, 32+len(m.Client)+len(m.Sub)+len(m.Info))
	b = append(b, `{"client":`...)
	b = appendString(b, m.Client)
	b = append(b, `,"sub":`...)
	b = appendString(b, m.Sub)
	if len(m.Info) > 0 {
		b = append(b, `,"info":`...)
		b = append(b, m.Info...)
	}
	return append(b, '}')
}

// appendString appends s as a JSON string: as is between quotes when nothing in it needs
// escaping, else as encoding/json writes it.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= 0x80 || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always encodes
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// decodeEvent reads an event of EncodeEvent.
func decodeEvent(b []byte) (Event, error) {
	var f struct {
		Topic string  `json:"topic"`
		Join  *Member `json:"join"`
		Leave *Member `json:"leave"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return Event{}, err
	}
	switch {
	case f.Join != nil:
		return Event{Topic: f.Topic, Member: *f.Join}, nil
	case f.Leave != nil:
		return Event{Topic: f.Topic, Leave: true, Member: *f.Leave}, nil
	}
	return Event{}, errors.New("neither join nor leave")
}
