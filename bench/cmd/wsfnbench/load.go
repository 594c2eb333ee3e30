package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/golang-jwt/jwt/v5"

	"github.com/edgefn/edgefn/bench/internal/harness"
)

// token is a JWT for sub, signed with secret.
func token(sub string) (string, error) {
	return jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": sub, "exp": time.Now().Add(time.Hour).Unix()}).SignedString([]byte(secret))
}

// usage measures the share of the machine's CPU other processes than the server and this one
// use between its start and its end.
type usage struct {
	srv                             *harness.Server
	busy, total, srvCPU, kids, self time.Duration
}

func startUsage(srv *harness.Server) *usage {
	u := &usage{srv: srv}
	u.busy, u.total, _ = harness.MachineCPU()
	u.srvCPU, u.kids, _ = srv.CPU()
	u.self = harness.SelfCPU()
	return u
}

func (u *usage) other() float64 {
	busy, total, _ := harness.MachineCPU()
	srvCPU, kids, _ := u.srv.CPU()
	ours := (srvCPU - u.srvCPU) + (kids - u.kids) + (harness.SelfCPU() - u.self)
	if total <= u.total {
		return 0
	}
	return max(0, float64(busy-u.busy-ours)/float64(total-u.total))
}

// connects makes -conns connections, -dialers at a time, to a gateway with a connect function
// (and no token) or without one (and a token in the URL).
func (b *bench) connects(ctx context.Context, withFn bool) (result, error) {
	srv, err := b.start(ctx, withFn)
	if err != nil {
		return result{}, err
	}
	defer srv.Stop()
	url := "ws://" + srv.Addr + "/ws"
	what := "connect function, no token"
	if !withFn {
		tok, err := token("bench")
		if err != nil {
			return result{}, err
		}
		url += "?token=" + tok
		what = "JWT in the URL, no function"
	}
	// A few connections first, not timed: the plugin's first calls, the gateway's pools.
	for range 20 {
		if _, err := connectOnce(url, withFn); err != nil {
			return result{}, fmt.Errorf("%s: warm-up: %w", what, err)
		}
	}
	if err := b.run.WaitTurn(ctx); err != nil {
		return result{}, err
	}
	b.run.Logf("connects: %s", what)
	res := result{what: what, clients: b.opts.dialers, lat: make([]time.Duration, 0, b.opts.conns)}
	var mu sync.Mutex
	var next atomic.Int64
	u := startUsage(srv)
	start := time.Now()
	var wg sync.WaitGroup
	for range b.opts.dialers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.opts.conns) && ctx.Err() == nil {
				took, err := connectOnce(url, withFn)
				mu.Lock()
				if err != nil {
					res.errors++
					if res.firstErr == nil {
						res.firstErr = err
					}
				} else {
					res.lat = append(res.lat, took)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	res.other = u.other()
	res.done = len(res.lat)
	slices.Sort(res.lat)
	return res, ctx.Err()
}

// connectOnce dials, sends a ping and waits for its reply (after the connected frame when a
// connect function runs), then closes; it returns the time from the dial to the reply.
func connectOnce(url string, withFn bool) (time.Duration, error) {
	start := time.Now()
	c, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if err := c.WriteMessage(websocket.TextMessage, []byte(`{"id":1,"op":"ping"}`)); err != nil {
		return 0, err
	}
	connected := !withFn
	for {
		_, frame, err := c.ReadMessage()
		if err != nil {
			return 0, err
		}
		switch {
		case bytes.HasPrefix(frame, []byte(`{"connected":`)):
			connected = true
		case string(frame) == `{"id":1,"ok":true}`:
			if !connected {
				return 0, fmt.Errorf("the ping's reply came before the connected frame")
			}
			took := time.Since(start)
			_ = c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
			return took, nil
		default:
			return 0, fmt.Errorf("unexpected frame %s", frame)
		}
	}
}

// payload is the data of every call: a small JSON object, as an app's call carries.
func payload(i int) []byte {
	return []byte(`{"user":"ada","n":` + strconv.Itoa(i) + `,"fields":["name","email","avatar"]}`)
}

// calls runs n clients calling fn for -duration, one call at a time each: over the socket
// (rpc) or over HTTP.
func (b *bench) calls(ctx context.Context, n int, overHTTP bool) (result, error) {
	srv, err := b.start(ctx, false)
	if err != nil {
		return result{}, err
	}
	defer srv.Stop()
	what := "rpc over the socket"
	if overHTTP {
		what = "POST over HTTP"
	}
	callers := make([]func(i int) error, n)
	for i := range callers {
		if callers[i], err = newCaller(srv, overHTTP); err != nil {
			return result{}, fmt.Errorf("%s: %w", what, err)
		}
	}
	for i := range 200 { // warm-up, not timed
		if err := callers[i%n](i); err != nil {
			return result{}, fmt.Errorf("%s: warm-up: %w", what, err)
		}
	}
	if err := b.run.WaitTurn(ctx); err != nil {
		return result{}, err
	}
	b.run.Logf("calls: %s, %d clients", what, n)
	res := result{what: what, clients: n}
	var mu sync.Mutex
	u := startUsage(srv)
	start := time.Now()
	end := start.Add(b.opts.duration)
	var wg sync.WaitGroup
	for _, call := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var lat []time.Duration
			var errs int
			var first error
			for i := 0; time.Now().Before(end) && ctx.Err() == nil; i++ {
				t0 := time.Now()
				if err := call(i); err != nil {
					errs++
					if first == nil {
						first = err
					}
					continue
				}
				lat = append(lat, time.Since(t0))
			}
			mu.Lock()
			res.lat = append(res.lat, lat...)
			res.errors += errs
			if res.firstErr == nil {
				res.firstErr = first
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	res.other = u.other()
	res.done = len(res.lat)
	slices.Sort(res.lat)
	return res, ctx.Err()
}

// newCaller returns a client of its own that makes one call and checks its answer: an rpc
// on a connection with a token, or a POST on a keep-alive connection.
func newCaller(srv *harness.Server, overHTTP bool) (func(i int) error, error) {
	if overHTTP {
		client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
		url := srv.URL + "/echo"
		return func(i int) error {
			body := payload(i)
			resp, err := client.Post(url, "application/json", bytes.NewReader(body))
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			got, err := io.ReadAll(resp.Body)
			if err != nil {
				return err
			}
			if resp.StatusCode != 200 || !bytes.Equal(got, body) {
				return fmt.Errorf("POST /echo: %d %s", resp.StatusCode, got)
			}
			return nil
		}, nil
	}
	tok, err := token("bench")
	if err != nil {
		return nil, err
	}
	c, _, err := websocket.DefaultDialer.Dial("ws://"+srv.Addr+"/ws?token="+tok, nil)
	if err != nil {
		return nil, err
	}
	return func(i int) error {
		id := strconv.Itoa(i)
		frame := append([]byte(`{"id":`+id+`,"op":"rpc","method":"bench.echo","data":`), payload(i)...)
		if err := c.WriteMessage(websocket.TextMessage, append(frame, '}')); err != nil {
			return err
		}
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, got, err := c.ReadMessage()
		if err != nil {
			return err
		}
		want := append([]byte(`{"id":`+id+`,"ok":true,"data":`), payload(i)...)
		if !bytes.Equal(got, append(want, '}')) {
			return fmt.Errorf("rpc reply %s", got)
		}
		return nil
	}, nil
}
