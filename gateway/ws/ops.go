package ws

import (
	"context"
	"encoding/json"
	"strconv"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/edgefn/edgefn/internal/filter"
	"github.com/edgefn/edgefn/internal/telemetry"
	"github.com/edgefn/edgefn/runtime"
	"github.com/edgefn/edgefn/runtime/dispatch"
	"github.com/edgefn/edgefn/runtime/manifest"
	"github.com/edgefn/edgefn/triggers"
)

// handle runs one client frame and queues its reply.
func (c *conn) handle(frame []byte) {
	r, rerr := decodeRequest(frame)
	var id json.RawMessage
	if r != nil {
		id = r.ID
	}
	if rerr != nil {
		c.send(encodeReply(id, reply{err: rerr}))
		return
	}
	var rep *reply
	switch r.Op {
	case "auth":
		var bad bool
		if rep, bad = c.auth(r.Token); bad {
			c.send(encodeReply(id, *rep))
			c.close(CloseUnauthorized, "unauthorized")
			return
		}
	case "subscribe":
		rep = c.subscribe(r)
	case "unsubscribe":
		rep = c.unsubscribe(r.Topic)
	case "publish":
		rep = c.publish(r)
	case "rpc":
		rep = c.rpc(r)
	case "ping":
		rep = &reply{ok: true}
	case "":
		rep = &reply{err: errReply(codeBadRequest, "op is required")}
	default:
		rep = &reply{err: errReply(codeUnknownOp, "unknown op "+quote(r.Op))}
	}
	if rep != nil {
		c.send(encodeReply(id, *rep))
	}
}

func quote(s string) string {
	if len(s) > 64 {
		s = s[:64] + "…"
	}
	return string(appendString(nil, s))
}

// auth verifies a token and makes its claims the connection's. A bad token (bad is true)
// closes the connection with 4001 after the error reply. A connection keeps its subject: a
// new token (to extend the expiry) must name the same sub.
func (c *conn) auth(token string) (rep *reply, bad bool) {
	claims, err := c.hub.verify(token)
	if err != nil {
		return &reply{err: errReply(codeUnauthorized, err.Error())}, true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.authed && c.claims["sub"] != claims["sub"] {
		return &reply{err: errReply(codeForbidden, "the token names another subject than the connection's")}, false
	}
	c.setClaimsLocked(claims)
	return &reply{ok: true}, false
}

// setClaimsLocked installs verified claims and closes the connection with 4001 when the
// token expires.
func (c *conn) setClaimsLocked(claims map[string]any) {
	if _, ok := claims["sub"].(string); !ok {
		claims["sub"] = ""
	}
	c.claims, c.authed = claims, true
	if c.expiry != nil {
		c.expiry.Stop()
		c.expiry = nil
	}
	if exp, ok := claims["exp"].(float64); ok {
		d := time.Until(time.Unix(int64(exp), 0))
		c.expiry = time.AfterFunc(max(d, 0), func() { c.close(CloseUnauthorized, "token expired") })
	}
}

func (c *conn) currentClaims() map[string]any {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.claims
}

// since reads the recovery position of a subscribe: both epoch and since, or neither.
func since(r *request) (*triggers.Position, *replyError) {
	if r.Since == nil && r.Epoch == "" {
		return nil, nil
	}
	if r.Since == nil || r.Epoch == "" {
		return nil, errReply(codeBadRequest, "epoch and since go together")
	}
	off, ok := parseOffset(*r.Since)
	if !ok {
		return nil, errReply(codeBadRequest, "since is not an offset")
	}
	return &triggers.Position{Epoch: r.Epoch, Offset: off}, nil
}

// subscribe subscribes the connection to a topic, recovering what it missed when the
// request names its last position. It sends the reply itself, so that no publication
// overtakes it.
func (c *conn) subscribe(r *request) *reply {
	if rerr := c.hub.allow(c.ctx, r.Topic, c.currentClaims(), false); rerr != nil {
		return &reply{err: rerr}
	}
	pos, rerr := since(r)
	if rerr != nil {
		return &reply{err: rerr}
	}
	c.mu.Lock()
	if _, dup := c.subs[r.Topic]; dup {
		c.mu.Unlock()
		return &reply{err: errReply(codeAlreadySub, "already subscribed to "+r.Topic)}
	}
	if len(c.subs) >= c.hub.cfg.MaxSubscriptions {
		c.mu.Unlock()
		return &reply{err: errReply(codeTooMany, "a connection may subscribe to at most "+strconv.Itoa(c.hub.cfg.MaxSubscriptions)+" topics")}
	}
	c.mu.Unlock()
	// Subscribes of a connection are handled one at a time, on its reader: no other can
	// take the topic while its function runs.
	state, rerr := c.subscribeFunction(r)
	if rerr != nil {
		return &reply{err: rerr}
	}
	c.mu.Lock()
	sub := c.hub.registry.add(c, r.Topic)
	c.subs[r.Topic] = sub
	c.mu.Unlock()

	ctx, cancel := context.WithTimeout(c.ctx, 10*time.Second)
	top, pubs, recovered, err := c.hub.cfg.Topics.TopicHistory(ctx, r.Topic, pos)
	if _, ok := isRequestTopic(r.Topic); ok && pos == nil && err == nil && top.Offset > 0 {
		// An async reply published before the client subscribed is still its reply: send
		// the topic's history with the subscribe reply (docs/async.md).
		pos = &triggers.Position{Epoch: top.Epoch}
		top, pubs, recovered, err = c.hub.cfg.Topics.TopicHistory(ctx, r.Topic, pos)
	}
	cancel()
	if err != nil {
		c.drop(r.Topic, sub)
		c.hub.cfg.Logger.Warn("websocket subscribe: topic history unavailable", "topic", r.Topic, "error", err)
		return &reply{err: errReply(codeUnavailable, "the topic's history cannot be read; try again")}
	}
	rep := reply{ok: true, pos: &top, data: state}
	if pos != nil {
		rep.recovered = &recovered
		if recovered {
			rep.pubs = make([]*triggers.Publication, 0, len(pubs))
			rep.pubs = append(rep.pubs, pubs...)
		}
	}
	t := sub.topics
	t.mu.Lock()
	defer t.mu.Unlock()
	c.send(encodeReply(r.ID, rep))
	for _, p := range sub.pending {
		if p.Epoch != top.Epoch || p.Offset > top.Offset {
			c.send(encodePublication(p))
		}
	}
	sub.pending, sub.live = nil, true
	if !t.known || (t.last.Epoch == top.Epoch && t.last.Offset < top.Offset) {
		t.last, t.known = top, true
	}
	return nil
}

// unsubscribe ends a subscription.
func (c *conn) unsubscribe(topic string) *reply {
	c.mu.Lock()
	sub, ok := c.subs[topic]
	c.mu.Unlock()
	if !ok {
		return &reply{err: errReply(codeNotSubscribed, "not subscribed to "+quote(topic))}
	}
	c.drop(topic, sub)
	return &reply{ok: true}
}

func (c *conn) drop(topic string, sub *subscription) {
	c.mu.Lock()
	if c.subs[topic] == sub {
		delete(c.subs, topic)
	}
	c.mu.Unlock()
	c.hub.registry.remove(sub)
}

// publish runs a client publish: the functions whose websocket trigger matches the topic
// run first, and when they all succeeded (with their effects) the data goes to the topic's
// subscribers. A function that fails refuses the publish.
func (c *conn) publish(r *request) *reply {
	claims := c.currentClaims()
	if rerr := c.hub.allow(c.ctx, r.Topic, claims, true); rerr != nil {
		return &reply{err: rerr}
	}
	if len(r.Data) == 0 {
		return &reply{err: errReply(codeBadRequest, "data is required")}
	}
	data := []byte(r.Data) // json.RawMessage holds a copy of the frame's bytes
	// A client publish is a server span of its own: its functions' invocations and the
	// notifications they push are its children.
	pctx, span := telemetry.Start(runtime.WithTrigger(c.ctx, runtime.TriggerWebSocket), trace.SpanKindServer,
		"websocket publish ", r.Topic)
	defer span.End()
	for _, f := range c.hub.matchTriggers(r.Topic) {
		if rerr := c.invoke(pctx, f, r.Topic, data); rerr != nil {
			telemetry.Fail(span, rerr)
			return &reply{err: rerr}
		}
	}
	ctx, cancel := context.WithTimeout(pctx, 10*time.Second)
	defer cancel()
	pos, err := c.hub.cfg.Topics.PublishTopic(ctx, r.Topic, data)
	if err != nil {
		telemetry.Fail(span, err)
		c.hub.cfg.Logger.Warn("websocket publish failed", "topic", r.Topic, "error", err)
		return &reply{err: errReply(codeUnavailable, "the publication could not be sent; try again")}
	}
	return &reply{ok: true, pos: &pos}
}

// invoke runs one publish function and carries out its effects.
func (c *conn) invoke(ctx context.Context, f dispatch.Function, topic string, data []byte) *replyError {
	ev := c.event(typePublish, "websocket/"+topic, data)
	ev.Subject = topic // a publish's subject is its topic (docs/sdk.md)
	o := c.call(ctx, manifest.WSPublish, topic, f, ev)
	if o.ok() {
		return nil
	}
	return errReply(codeFunction, f.Name()+": "+o.code+": "+o.message)
}

// allow checks a subscribe or publish against the topic rules, or for requests.{id}
// against the async request's owner. No client publishes to requests.*: only the gateway's
// async replies do (docs/async.md).
func (h *Hub) allow(ctx context.Context, topic string, claims map[string]any, publish bool) *replyError {
	if p := topicProblem(topic); p != "" {
		return errReply(codeBadRequest, p)
	}
	if publish && reservedTopic(topic) {
		return errReply(codeForbidden, "clients may not publish to "+topic+": requests.* carries async replies only")
	}
	if id, ok := isRequestTopic(topic); ok && !publish && h.cfg.RequestAccess != nil {
		if err := h.cfg.RequestAccess(ctx, id, claims); err != nil {
			return errReply(codeForbidden, err.Error())
		}
		return nil
	}
	what := "subscribe to"
	if publish {
		what = "publish to"
	}
	for _, rule := range *h.rules.Load() {
		params, ok := rule.MatchTopic(topic)
		if !ok {
			continue
		}
		expr := rule.Subscribe
		if publish {
			expr = rule.Publish
		}
		ok, err := expr.Allow(filter.RuleEnv{Topic: topic, Params: params, Claims: claims})
		if err != nil {
			h.cfg.Logger.Warn("topic rule failed", "rule", rule.Match, "file", rule.File, "line", rule.Line, "error", err)
		}
		if !ok {
			return errReply(codeForbidden, "not allowed to "+what+" "+topic)
		}
		return nil
	}
	return errReply(codeForbidden, "not allowed to "+what+" "+topic+": no topic rule matches it")
}
