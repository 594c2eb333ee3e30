package ws

import (
	"encoding/json"

	"github.com/edgefn/edgefn/runtime/manifest"
)

// rpc starts a client's rpc: the function of the most specific method pattern matching the
// method runs, and its body is the reply's data (docs/websocket.md#rpc). Calls of one
// connection run concurrently, up to MaxRPCs; beyond that the reader waits for a slot, so
// later frames wait their turn and none is refused. The reply is sent when the call ends.
func (c *conn) rpc(r *request) *reply {
	if r.Method == "" {
		return &reply{err: errReply(codeBadRequest, "method is required")}
	}
	if !manifest.ValidTopic(r.Method) {
		return &reply{err: errReply(codeBadRequest, "invalid method "+quote(r.Method)+": dot-separated segments of [A-Za-z0-9_-]")}
	}
	f, params := match(c.hub.funcs.Load().rpc, r.Method)
	if f == nil {
		return &reply{err: errReply(codeNotFound, "no function serves method "+r.Method)}
	}
	if c.rpcs == nil {
		c.rpcs = make(chan struct{}, c.hub.cfg.MaxRPCs)
	}
	select {
	case c.rpcs <- struct{}{}:
	case <-c.ctx.Done():
		return nil // the connection ended
	}
	c.rpcWG.Add(1)
	var data []byte
	if len(r.Data) > 0 {
		data = r.Data // json.RawMessage holds a copy of the frame's bytes
	}
	id, method := r.ID, r.Method
	go func() {
		defer c.rpcWG.Done()
		defer func() { <-c.rpcs }()
		c.send(encodeReply(id, c.runRPC(f, method, params, data)))
	}()
	return nil
}

// runRPC invokes the rpc function and makes its reply.
func (c *conn) runRPC(f *wsFunc, method string, params map[string]string, data []byte) (rep reply) {
	defer func() {
		if v := recover(); v != nil {
			c.hub.cfg.Logger.Error("websocket rpc panicked", "panic", v, "method", method)
			rep = reply{err: errReply(codeFunction, "the call failed")}
		}
	}()
	ev := c.event(typePrefix+manifest.WSRPC, "websocket/"+method, data)
	ev.Params = params
	o := c.call(c.ctx, manifest.WSRPC, method, f.fn, ev)
	if !o.ok() {
		rerr := errReply(codeFunction, o.message)
		rerr.status = o.status
		return reply{err: rerr}
	}
	return reply{ok: true, data: jsonData(o.body)}
}

// subscribeFunction runs the subscribe function of the topic, if one matches: its answer's
// data is the initial state the subscribe reply carries, nil for none; a 403 refuses the
// subscribe as forbidden, another failure as function_failed.
func (c *conn) subscribeFunction(r *request) ([]byte, *replyError) {
	f, params := match(c.hub.funcs.Load().subscribe, r.Topic)
	if f == nil {
		return nil, nil
	}
	var data []byte
	if len(r.Data) > 0 {
		data = r.Data
	}
	ev := c.event(typePrefix+manifest.WSSubscribe, "websocket/"+r.Topic, data)
	ev.Params = params
	o := c.call(c.ctx, manifest.WSSubscribe, r.Topic, f.fn, ev)
	if !o.ok() {
		code := codeFunction
		if o.status == 403 {
			code = codeForbidden
		}
		rerr := errReply(code, o.message)
		rerr.status = o.status
		return nil, rerr
	}
	var answer struct {
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(o.body, &answer); len(o.body) > 0 && err != nil {
		c.hub.cfg.Logger.Warn("websocket subscribe function answered what is not a JSON object", "function", f.fn.Name(), "topic", r.Topic, "error", err)
		return nil, &replyError{code: codeFunction, message: "the subscribe function's answer is not a JSON object", status: 500}
	}
	if answer.Data == nil {
		return nil, nil
	}
	return jsonData(answer.Data), nil
}
