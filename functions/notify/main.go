// Command notify shows WebSocket topics from both ends. POST /notify/{channel} with
// {"text": "..."} notifies the subscribers of the topic news.{channel} and answers 202; as the
// websocket trigger of chat.*, it vets what browsers publish there: the gateway passes a
// publication on to the room only when notify accepts it; and as the rpc chat.check it tells a
// browser, before it sends, whether a message would pass and how long it is. The browser demo
// in examples/web uses all three.
package main

import (
	"context"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/edgefn/edgefn/runtime/fn"
)

func main() {
	fn.Serve(fn.HandlerFunc(Handle))
}

// MaxText is the longest text, in characters, of a notification or a chat message.
const MaxText = 500

// Message is what a caller sends: the body of POST /notify/{channel}, or a chat publication.
type Message struct {
	Text string `json:"text"`
}

// News is the publication on news.{channel}.
type News struct {
	Text string `json:"text"`
	// At is when the gateway received the request, RFC 3339.
	At string `json:"at"`
}

// Accepted is the answer to POST /notify/{channel}.
type Accepted struct {
	Topic string `json:"topic"`
}

// channelRE is one topic segment, so that news.{channel} matches the rule news.*.
var channelRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// Handle tells the two triggers apart by the event's source: "websocket/<topic>" for a
// client publish, "http" for the route.
func Handle(ctx context.Context, ev *fn.Event) (*fn.Result, error) {
	if ev.Type == "edgefn.ws.rpc" {
		return checkChat(ev)
	}
	if topic, ok := strings.CutPrefix(ev.Source, "websocket/"); ok {
		return vetChat(ctx, topic, ev)
	}
	return notify(ev)
}

// notify publishes the request's text on news.{channel}.
func notify(ev *fn.Event) (*fn.Result, error) {
	channel := ev.Params["channel"]
	if !channelRE.MatchString(channel) {
		return nil, fn.Errorf(400, "channel must be 1 to 64 of [A-Za-z0-9_-], got %q", channel)
	}
	msg, err := decodeMessage(ev)
	if err != nil {
		return nil, err
	}
	at := ev.Time
	if at.IsZero() {
		at = time.Now()
	}
	topic := "news." + channel
	return fn.JSON(202, Accepted{Topic: topic}).
		Notify(topic, News{Text: msg.Text, At: at.UTC().Format(time.RFC3339)}), nil
}

// vetChat accepts a chat publication on topic, or refuses it with 400: the publishing
// client gets the error in its reply and the room gets nothing.
func vetChat(ctx context.Context, topic string, ev *fn.Event) (*fn.Result, error) {
	if _, err := decodeMessage(ev); err != nil {
		fn.Logger(ctx).Debug("chat message refused", "topic", topic, "error", err)
		return nil, err
	}
	return fn.Status(204), nil
}

// decodeMessage reads a Message whose text is present and at most MaxText characters.
// Check is the answer to the rpc chat.check: the message's length in characters, and the
// most it may have.
type Check struct {
	Chars int `json:"chars"`
	Max   int `json:"max"`
}

// checkChat answers the rpc chat.check with the message's length, or the error a publish of
// it would get.
func checkChat(ev *fn.Event) (*fn.Result, error) {
	msg, err := decodeMessage(ev)
	if err != nil {
		return nil, err
	}
	return fn.JSON(200, Check{Chars: utf8.RuneCountInString(msg.Text), Max: MaxText}), nil
}

func decodeMessage(ev *fn.Event) (Message, error) {
	var msg Message
	if err := ev.Decode(&msg); err != nil {
		return msg, fn.Errorf(400, `the body is JSON like {"text": "hello"}: %v`, err)
	}
	if strings.TrimSpace(msg.Text) == "" {
		return msg, fn.Errorf(400, "text is required")
	}
	if n := utf8.RuneCountInString(msg.Text); n > MaxText {
		return msg, fn.Errorf(400, "text is %d characters; at most %d", n, MaxText)
	}
	return msg, nil
}
