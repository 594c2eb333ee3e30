// Command testfn is the function edgefn's end-to-end tests deploy: each route misbehaves in one
// way a real function can (sleeps, panics, exits mid-call, fails until fixed), so the tests can
// check what the gateway does about it. Bind it to /t/{op}; for queue and stream triggers the
// event's type names the op.
//
// RECORD_FILE and FIXED_FILE name files of the test, outside any function's reach: a manifest
// that sets them says `sandbox: off` (docs/security.md).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/edgefn/edgefn/runtime/fn"
)

// held keeps what alloc took.
var held [][]byte

// attack tries, as a hostile function would, each of: read the environment of the gateway
// (pid gw) and of a sibling function's process (pid sibling), read the sibling's stored
// manifest under the data dir (data, function victim), replace its stored binary with this
// one, and signal the gateway. It reports each attempt's error, "" for one that worked.
func attack(q url.Values) map[string]string {
	gw, _ := strconv.Atoi(q.Get("gw"))
	sibling, _ := strconv.Atoi(q.Get("sibling"))
	stored := filepath.Join(q.Get("data"), "functions", q.Get("victim"), "v1")
	errString := func(err error) string {
		if err == nil {
			return ""
		}
		return err.Error()
	}
	out := map[string]string{}
	_, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", gw))
	out["gatewayEnviron"] = errString(err)
	_, err = os.ReadFile(fmt.Sprintf("/proc/%d/environ", sibling))
	out["siblingEnviron"] = errString(err)
	_, err = os.ReadFile(filepath.Join(stored, "manifest.yaml"))
	out["siblingManifest"] = errString(err)
	out["replaceBinary"] = errString(replace(filepath.Join(stored, "handler")))
	out["signalGateway"] = errString(syscall.Kill(gw, 0))
	return out
}

// replace puts this binary, marked as the attacker's, at path; as a rename, since a running
// binary cannot be written.
func replace(path string) error {
	self, err := os.ReadFile("/proc/self/exe")
	if err != nil {
		return err
	}
	if err := os.WriteFile(path+".new", append(self, "attacker"...), 0o755); err != nil {
		return err
	}
	return os.Rename(path+".new", path)
}

func main() {
	fn.Serve(fn.HandlerFunc(handle))
}

func handle(ctx context.Context, ev *fn.Event) (*fn.Result, error) {
	op := ev.Params["op"]
	if op == "" {
		op = ev.Type
	}
	if op == "" {
		op = os.Getenv("DEFAULT_OP")
	}
	if force := os.Getenv("FORCE_OP"); force != "" {
		op = force
	}
	switch op {
	case "echo":
		return fn.Bytes(200, "application/octet-stream", ev.Data), nil
	case "info":
		return fn.JSON(200, map[string]any{
			"version": os.Getenv("VERSION"), "pid": os.Getpid(), "params": ev.Params,
			"query": ev.Query, "claims": ev.Claims, "attempt": ev.Attempt, "source": ev.Source,
			"procs": runtime.GOMAXPROCS(0),
		}), nil
	case "env":
		env := os.Environ()
		sort.Strings(env)
		return fn.JSON(200, env), nil
	case "sleep": // ignores its deadline, like a handler stuck in a call without a context
		ms, _ := strconv.Atoi(ev.Query.Get("ms"))
		time.Sleep(time.Duration(ms) * time.Millisecond)
		return fn.Text(200, "slept"), nil
	case "wait": // honours its deadline
		ms, _ := strconv.Atoi(ev.Query.Get("ms"))
		select {
		case <-time.After(time.Duration(ms) * time.Millisecond):
			return fn.Text(200, "waited"), nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	case "panic":
		panic("testfn: deliberate panic with secret internals")
	case "exit":
		fmt.Fprintln(os.Stderr, "testfn: exiting mid-call")
		os.Exit(3)
	case "fail": // fails with a plain error until the file named by FIXED_FILE exists
		if err := record(ev); err != nil {
			return nil, err
		}
		if f := os.Getenv("FIXED_FILE"); f != "" {
			if _, err := os.Stat(f); err == nil {
				return fn.Text(200, "fixed"), nil
			}
		}
		return nil, errors.New("testfn: database password=hunter2 rejected")
	case "status":
		code, _ := strconv.Atoi(ev.Query.Get("code"))
		return nil, fn.Errorf(code, "chosen status %d", code)
	case "alloc": // takes and touches mb MiB, past any memory limit the test set
		mb, _ := strconv.Atoi(ev.Query.Get("mb"))
		held = make([][]byte, 0, mb)
		for range mb {
			b := make([]byte, 1<<20)
			for i := 0; i < len(b); i += 4096 {
				b[i] = 1
			}
			held = append(held, b)
		}
		return fn.Text(200, "allocated"), nil
	case "attack": // what a hostile function tries against the gateway and a sibling (docs/security.md)
		return fn.JSON(200, attack(ev.Query)), nil
	case "log":
		fn.Logger(ctx).Info("log line from testfn", "marker", ev.Query.Get("marker"))
		fmt.Println("stdout line " + ev.Query.Get("marker"))
		return fn.Text(200, "logged"), nil
	case "headers":
		r := fn.Text(200, "headers")
		for k, v := range ev.Query {
			r.SetHeader(k, strings.Join(v, ","))
		}
		return r, nil
	case "hostile-headers": // response headers that would split the response or forge framing
		r := fn.Text(200, "hostile")
		r.Headers = map[string]string{
			"X-Injected":        "a\r\nSet-Cookie: injected=1",
			"X-Lf":              "a\nX-Split: 1",
			"X-Nul":             "a\x00b",
			"X-Del":             "a\x7fb",
			"Bad Name":          "x",
			"X-Split\r\nX-Evil": "1",
			"X-Colon:":          "x",
			"Content-Length":    "1000",
			"Transfer-Encoding": "chunked",
			"Connection":        "close",
			"X-Request-Id":      "forged",
			"X-Tab":             "a\tb",
			"X-Ok":              "fine",
		}
		return r, nil
	case "chain": // {"stream": S, "topic": T}: emits {"topic": T} to S with type chain, which a
		// stream trigger of testfn then takes as op chain and notifies T: HTTP → stream → notification
		var in struct{ Stream, Topic string }
		if err := ev.Decode(&in); err != nil {
			return nil, fn.Errorf(400, "chain wants {\"stream\"|\"topic\": ...}: %v", err)
		}
		if in.Stream != "" {
			return fn.Status(202).Emit(fn.ToStream(in.Stream, "chain", map[string]string{"topic": in.Topic})), nil
		}
		return fn.Status(200).Notify(in.Topic, map[string]string{"from": ev.ID}), nil
	case "record":
		if err := record(ev); err != nil {
			return nil, err
		}
		return fn.Text(200, "recorded"), nil
	case "emit": // emits {"from": ID} with type "record" to the stream in the data's "stream"
		var in struct{ Stream, Queue string }
		if err := ev.Decode(&in); err != nil {
			return nil, fn.Errorf(400, "emit wants {\"stream\": ...}: %v", err)
		}
		msg := fn.ToStream(in.Stream, "record", map[string]string{"from": ev.ID})
		if in.Queue != "" {
			msg = fn.ToQueue(in.Queue, "record", map[string]string{"from": ev.ID})
		}
		return fn.Status(202).Emit(msg), nil
	case "delay": // {"queue": Q, "delay": "2s"}: emits {"from": ID} with type "record" to Q after the
		// delay and answers {"id": the message's ID}; {"queue": Q, "cancel": ID} cancels that message
		var in struct{ Queue, Delay, Cancel string }
		if err := ev.Decode(&in); err != nil {
			return nil, fn.Errorf(400, "delay wants {\"queue\", \"delay\"|\"cancel\"}: %v", err)
		}
		if in.Cancel != "" {
			return fn.JSON(200, map[string]string{"cancelled": in.Cancel}).Emit(fn.CancelDelayed(in.Queue, in.Cancel)), nil
		}
		d, err := time.ParseDuration(in.Delay)
		if err != nil {
			return nil, fn.Errorf(400, "delay: %v", err)
		}
		m := fn.ToQueue(in.Queue, "record", map[string]string{"from": ev.ID}).After(d)
		return fn.JSON(200, map[string]string{"id": m.ID}).Emit(m), nil
	case "presence": // who is on the WebSocket topic in ?topic=, read mid-invocation (fn.Presence)
		members, err := fn.Presence(ctx, ev.Query.Get("topic"))
		if err != nil {
			return nil, fn.Errorf(502, "presence: %v", err)
		}
		clients, users, err := fn.PresenceStats(ctx, ev.Query.Get("topic"))
		if err != nil {
			return nil, fn.Errorf(502, "presence stats: %v", err)
		}
		return fn.JSON(200, map[string]any{"members": members, "clients": clients, "users": users}), nil
	case "notify": // notifies the topic in ?topic= with the request body
		return fn.Status(202).Notify(ev.Query.Get("topic"), json.RawMessage(ev.Data)), nil
	case "websocket.publish": // a client publish: refused when the data says {"reject": true},
		// else recorded and echoed to audit.ws with the publisher's sub
		var in struct{ Reject bool }
		_ = ev.Decode(&in)
		if in.Reject {
			return nil, fn.Errorf(422, "rejected by testfn")
		}
		if err := record(ev); err != nil {
			return nil, err
		}
		return fn.Status(200).Notify("audit.ws", map[string]any{
			"sub": ev.Claims["sub"], "topic": ev.Subject, "source": ev.Source, "data": json.RawMessage(ev.Data),
		}), nil
	case "edgefn.ws.connect", "edgefn.ws.subscribe", "edgefn.ws.rpc", "edgefn.ws.disconnect":
		return wsEvent(ctx, ev)
	case "event": // what the function sees of its event, as the data of a binary-mode
		// CloudEvent reply (so that a CloudEvents client reads it back)
		return fn.JSON(200, map[string]any{
			"id": ev.ID, "type": ev.Type, "source": ev.Source, "subject": ev.Subject,
			"time": ev.Time.Format(time.RFC3339Nano), "contentType": ev.ContentType, "data": ev.Data,
			"headers": ev.Headers, "method": ev.Method, "path": ev.Path, "params": ev.Params,
			"correlationId": ev.CorrelationID,
		}).SetHeader("Ce-Specversion", "1.0").SetHeader("Ce-Id", "echo-"+ev.ID).
			SetHeader("Ce-Source", "testfn").SetHeader("Ce-Type", "edgefn.test.event"), nil
	case "emit-ce": // {"stream": S, "queue": Q}: emits {"from": ID} as a CloudEvent to each,
		// with the subject and the tenant header of the request
		var in struct{ Stream, Queue string }
		if err := ev.Decode(&in); err != nil {
			return nil, fn.Errorf(400, "emit-ce wants {\"stream\"|\"queue\": ...}: %v", err)
		}
		r := fn.Status(202)
		headers := map[string]string{"tenant": ev.Headers["X-Tenant"]}
		if in.Stream != "" {
			m := fn.ToStream(in.Stream, "com.example.stream", map[string]string{"from": ev.ID}).WithSubject("s-1")
			m.Headers = headers
			r.Emit(m.AsCloudEvent())
		}
		if in.Queue != "" {
			m := fn.ToQueue(in.Queue, "com.example.queue", map[string]string{"from": ev.ID}).WithSubject("q-1")
			m.Headers = headers
			r.Emit(m.AsCloudEvent())
		}
		return r, nil
	case "edgefn.schedule": // a schedule tick: appends what the function sees of it to RECORD_FILE as one
		// JSON line, then fails while FAIL_FILE (when set) exists, then, with GATE_FILE set,
		// returns once that file exists (a slow run)
		if err := recordJSON(ev); err != nil {
			return nil, err
		}
		if f := os.Getenv("FAIL_FILE"); f != "" {
			if _, err := os.Stat(f); err == nil {
				return nil, errors.New("scheduled failure")
			}
		}
		if err := waitForFile(ctx, os.Getenv("GATE_FILE")); err != nil {
			return nil, err
		}
		return fn.Text(200, "ticked"), nil
	case "work": // {"ms": N}: works N ms (honouring its deadline), for deliveries, which have no query
		var w struct{ MS int }
		if err := json.Unmarshal(ev.Data, &w); err != nil {
			return nil, fn.Errorf(400, "work: %v", err)
		}
		select {
		case <-time.After(time.Duration(w.MS) * time.Millisecond):
			return fn.Text(200, "worked"), nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	case "pong": // answers the data back, for reply-to; with GATE_FILE set, once that file exists
		if err := record(ev); err != nil {
			return nil, err
		}
		if err := waitForFile(ctx, os.Getenv("GATE_FILE")); err != nil {
			return nil, err
		}
		return fn.Bytes(200, "text/plain", append([]byte("pong:"), ev.Data...)), nil
	}
	return nil, fn.Errorf(404, "unknown op %q", op)
}

// subscribes counts the subscribe events this process saw, so that a test tells one call
// from the next.
var subscribes atomic.Int64

// wsEvent answers the events of websocket functions (docs/websocket.md#functions), recording
// each to RECORD_FILE (recordWS) first:
//   - connect: the Cookie decides. connect=refuse is a 403, connect=unauth a 401,
//     connect=crash exits the process, connect=text answers a body that is not JSON;
//     session=SUB signs the client in as SUB ({"claims":{"sub":SUB}}). The data says what the
//     function saw: the client's ID, sub, IP and User-Agent.
//   - subscribe: room "locked" is refused (403); otherwise the data is the initial state
//     {"topic", "sub", "n"} with n counting this process's subscribes.
//   - rpc: the method names the op. t.echo answers {"data", "client", "sub"}, t.sleep waits
//     data.ms (honouring its deadline), t.fail fails with 422, t.text answers plain text.
//   - disconnect: recorded only.
func wsEvent(ctx context.Context, ev *fn.Event) (*fn.Result, error) {
	if err := recordWS(ev); err != nil {
		return nil, err
	}
	name := strings.TrimPrefix(ev.Source, "websocket/")
	switch ev.Type {
	case "edgefn.ws.connect":
		cookie := ev.Headers["Cookie"]
		switch {
		case strings.Contains(cookie, "connect=refuse"):
			return nil, fn.Errorf(403, "no entry for this cookie")
		case strings.Contains(cookie, "connect=unauth"):
			return nil, fn.Errorf(401, "sign in first")
		case strings.Contains(cookie, "connect=crash"):
			fmt.Fprintln(os.Stderr, "testfn: crashing in connect")
			os.Exit(3)
		case strings.Contains(cookie, "connect=text"):
			return fn.Text(200, "welcome"), nil
		}
		seen := map[string]any{"client": ev.Subject, "sub": ev.Claims["sub"], "ip": ev.Headers["X-Client-IP"],
			"userAgent": ev.Headers["User-Agent"], "origin": ev.Headers["Origin"], "source": ev.Source}
		out := map[string]any{"data": seen, "info": map[string]any{"via": "testfn"}}
		for _, part := range strings.Split(cookie, ";") {
			if sub, ok := strings.CutPrefix(strings.TrimSpace(part), "session="); ok {
				out["claims"] = map[string]any{"sub": sub, "via": "cookie"}
				seen["sub"] = sub
			}
		}
		return fn.JSON(200, out), nil
	case "edgefn.ws.subscribe":
		if ev.Params["room"] == "locked" {
			return nil, fn.Errorf(403, "room %s is locked", ev.Params["room"])
		}
		return fn.JSON(200, map[string]any{"data": map[string]any{
			"topic": name, "sub": ev.Claims["sub"], "n": subscribes.Add(1), "client": ev.Subject,
		}}), nil
	case "edgefn.ws.rpc":
		switch name {
		case "t.echo":
			return fn.JSON(200, map[string]any{"data": json.RawMessage(orNull(ev.Data)), "client": ev.Subject, "sub": ev.Claims["sub"]}), nil
		case "t.sleep":
			var in struct{ Ms int }
			_ = ev.Decode(&in)
			select {
			case <-time.After(time.Duration(in.Ms) * time.Millisecond):
				return fn.JSON(200, map[string]int{"slept": in.Ms}), nil
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		case "t.fail":
			return nil, fn.Errorf(422, "t.fail fails")
		case "t.text":
			return fn.Text(200, "plain words"), nil
		}
		return nil, fn.Errorf(404, "testfn has no method %s", name)
	}
	return fn.Status(204), nil
}

// recordWS appends what a websocket function sees of its event to RECORD_FILE, when it is
// set, as one JSON line in one write.
func recordWS(ev *fn.Event) error {
	path := os.Getenv("RECORD_FILE")
	if path == "" {
		return nil
	}
	line, err := json.Marshal(map[string]any{
		"type": ev.Type, "source": ev.Source, "subject": ev.Subject, "claims": ev.Claims,
		"headers": ev.Headers, "data": json.RawMessage(orNull(ev.Data)), "params": ev.Params,
	})
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.Write(append(line, '\n'))
	return err
}

func orNull(b []byte) []byte {
	if len(b) == 0 || !json.Valid(b) {
		return []byte("null")
	}
	return b
}

// waitForFile returns once the file path exists (at once when path is empty), or when ctx
// ends.
func waitForFile(ctx context.Context, path string) error {
	for path != "" {
		if _, err := os.Stat(path); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
	return nil
}

// record appends "ID ATTEMPT UNIX-MS CORRELATION-ID TYPE" to RECORD_FILE, when it is set, in
// one write, so that concurrent invocations and processes do not interleave lines.
func record(ev *fn.Event) error {
	path := os.Getenv("RECORD_FILE")
	if path == "" {
		return nil
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = fmt.Fprintf(f, "%s %d %d %s %s\n", ev.ID, ev.Attempt, time.Now().UnixMilli(), orDash(ev.CorrelationID), orDash(ev.Type))
	return err
}

// recordJSON appends the event's id, type, source, time, content type and data to
// RECORD_FILE, when it is set, as one JSON line in one write.
func recordJSON(ev *fn.Event) error {
	path := os.Getenv("RECORD_FILE")
	if path == "" {
		return nil
	}
	line, err := json.Marshal(map[string]any{
		"id": ev.ID, "type": ev.Type, "source": ev.Source, "time": ev.Time.Format(time.RFC3339Nano),
		"contentType": ev.ContentType, "data": string(ev.Data), "attempt": ev.Attempt,
	})
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.Write(append(line, '\n'))
	return err
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
