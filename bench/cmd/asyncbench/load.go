package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/fasthttp/websocket"

	"github.com/edgefn/edgefn/bench/internal/harness"
)

// The two ways a run calls hello.
const (
	modeSync  = "sync"
	modeAsync = "async"
)

// result is what one open-loop run measured. Every duration slice is sorted.
type result struct {
	// answer is the time from each request's due time to its answer: the 200 of a
	// synchronous call, the 202 of an asynchronous one.
	answer []time.Duration
	// push is, for an async call, the time from its 202 to the reply's arrival on the
	// WebSocket, and e2e the time from its due time to that arrival.
	push, e2e []time.Duration
	// fromHistory counts replies that came in the subscribe reply's publications rather
	// than as a live frame.
	fromHistory int
	// lag is the scheduler's own lateness.
	lag []time.Duration
	// sent requests were due; failed ones got no 200/202 or (async) no reply.
	sent, failed int
	firstErr     error
	elapsed      time.Duration
	// other is the share of the machine that other processes used during the run.
	other float64
}

func (r *result) fail(err error) {
	r.failed++
	if r.firstErr == nil {
		r.firstErr = err
	}
}

// sample is one request's timestamps; zero when it did not happen.
type sample struct {
	due, answered, replied time.Time
	history                bool
	err                    error
}

// openLoop sends POST url at o.rate for o.warmup+o.duration, each request due at a fixed
// time and timed from it (no coordinated omission). In async mode each request carries
// `Prefer: respond-async`, and every 202's reply is awaited on one WebSocket connection to
// wsURL, subscribed to requests.<id> right after the 202.
func openLoop(ctx context.Context, o options, mode, url, wsURL string) (result, error) {
	interval := time.Second / time.Duration(o.rate)
	warm := int(o.warmup / interval)
	total := warm + int(o.duration/interval)
	samples := make([]sample, total)

	var w *watcher
	if mode == modeAsync {
		var err error
		if w, err = dialWatcher(ctx, wsURL, samples); err != nil {
			return result{}, err
		}
		defer w.close()
	}

	tr := &http.Transport{MaxIdleConnsPerHost: o.conns, MaxConnsPerHost: o.conns, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: o.timeout}

	jobs := make(chan int, total)
	var wg sync.WaitGroup
	for range o.conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				s := &samples[i]
				id, err := call(ctx, client, url, mode == modeAsync)
				s.answered = time.Now()
				if err != nil {
					s.err = err
					continue
				}
				if w != nil {
					w.subscribe(i, id)
				}
			}
		}()
	}

	start := time.Now().Add(10 * time.Millisecond)
	lag, _ := harness.Pace(ctx, start, interval, total, warm, func(i int, due time.Time) {
		samples[i].due = due
		jobs <- i
	})
	close(jobs)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return result{}, err
	}
	if w != nil {
		w.wait(o.timeout)
	}

	res := result{sent: total - warm, lag: lag}
	first := start.Add(time.Duration(warm) * interval)
	var last time.Time
	for i := warm; i < total; i++ {
		var s sample
		if w != nil {
			s = w.sample(i)
		} else {
			s = samples[i]
		}
		if s.err != nil {
			res.fail(s.err)
			continue
		}
		res.answer = append(res.answer, s.answered.Sub(s.due))
		end := s.answered
		if w != nil {
			if s.replied.IsZero() {
				res.fail(fmt.Errorf("request %d: no reply on the WebSocket within %s", i, o.timeout))
				continue
			}
			res.push = append(res.push, s.replied.Sub(s.answered))
			res.e2e = append(res.e2e, s.replied.Sub(s.due))
			if s.history {
				res.fromHistory++
			}
			end = s.replied
		}
		if end.After(last) {
			last = end
		}
	}
	res.elapsed = last.Sub(first)
	for _, d := range [][]time.Duration{res.answer, res.push, res.e2e, res.lag} {
		slices.Sort(d)
	}
	return res, nil
}

// call sends one POST and reads the whole answer: a synchronous call must get a 200, an
// asynchronous one a 202 whose body names the request's ID, which it returns.
func call(ctx context.Context, client *http.Client, url string, async bool) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, nil)
	if err != nil {
		return "", err
	}
	want := http.StatusOK
	if async {
		req.Header.Set("Prefer", "respond-async")
		want = http.StatusAccepted
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return "", err
	}
	if resp.StatusCode != want {
		return "", fmt.Errorf("POST %s: status %d, want %d: %s", url, resp.StatusCode, want, body)
	}
	if !async {
		return "", nil
	}
	var accepted struct{ ID, Status, Topic string }
	if err := json.Unmarshal(body, &accepted); err != nil || accepted.ID == "" || accepted.Topic != "requests."+accepted.ID {
		return "", fmt.Errorf("POST %s: 202 body %s: %v", url, body, err)
	}
	return accepted.ID, nil
}

// watcher is the one WebSocket connection of an async run. Senders hand it each 202's ID;
// it sends the subscribe without waiting for anything (a writer goroutine queues the
// frames), and its reader stamps the time the reply arrives, either in the subscribe
// reply's publications or as a live frame, then unsubscribes (a connection may hold 128
// subscriptions).
type watcher struct {
	conn    *websocket.Conn
	out     chan []byte
	samples []sample
	mu      sync.Mutex
	topics  map[string]int // topic → request index, while subscribed
	pending int            // subscribed, reply not yet received
	idle    *sync.Cond     // signalled when pending reaches 0
	readErr error
	closing bool          // set once out is closed
	done    chan struct{} // closed when the reader ends
}

func dialWatcher(ctx context.Context, url string, samples []sample) (*watcher, error) {
	conn, _, err := websocket.DefaultDialer.DialContext(ctx, url, nil)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", url, err)
	}
	w := &watcher{conn: conn, out: make(chan []byte, 4096), samples: samples, topics: map[string]int{}, done: make(chan struct{})}
	w.idle = sync.NewCond(&w.mu)
	go w.write()
	go w.read()
	return w, nil
}

func (w *watcher) write() {
	for f := range w.out {
		if err := w.conn.WriteMessage(websocket.TextMessage, f); err != nil {
			w.conn.Close() // ends the reader, which records the error
			for range w.out {
			}
			return
		}
	}
}

// subscribe subscribes to request i's topic; the subscribe frame's id is i.
func (w *watcher) subscribe(i int, id string) {
	topic := "requests." + id
	w.mu.Lock()
	w.topics[topic] = i
	w.pending++
	w.mu.Unlock()
	w.out <- []byte(`{"id":` + strconv.Itoa(i) + `,"op":"subscribe","topic":"` + topic + `"}`)
}

// frame is what the reader needs of a server frame: a reply (id, ok, error, publications)
// or a live publication (topic, data).
type frame struct {
	ID           *int `json:"id"`
	OK           bool `json:"ok"`
	Error        *struct{ Code, Message string }
	Publications []json.RawMessage `json:"publications"`
	Topic        string            `json:"topic"`
	Data         json.RawMessage   `json:"data"`
}

func (w *watcher) read() {
	defer close(w.done)
	for {
		_, b, err := w.conn.ReadMessage()
		now := time.Now()
		if err != nil {
			w.mu.Lock()
			w.readErr = err
			w.idle.Broadcast()
			w.mu.Unlock()
			return
		}
		var f frame
		if err := json.Unmarshal(b, &f); err != nil {
			continue
		}
		switch {
		case f.ID != nil && *f.ID < 0: // an unsubscribe's reply
		case f.ID != nil && *f.ID < len(w.samples): // a subscribe's reply
			i := *f.ID
			if !f.OK {
				msg := "no error"
				if f.Error != nil {
					msg = f.Error.Code + ": " + f.Error.Message
				}
				w.done1(i, "", now, false, fmt.Errorf("subscribe to request %d: %s", i, msg))
				continue
			}
			if len(f.Publications) > 0 {
				w.done1(i, "", now, true, checkReply(f.Publications[0]))
			}
		case f.Topic != "":
			w.mu.Lock()
			i, ok := w.topics[f.Topic]
			w.mu.Unlock()
			if ok {
				w.done1(i, f.Topic, now, false, checkReply(b))
			}
		}
	}
}

// done1 records request i's reply (or error) once, and unsubscribes from its topic.
func (w *watcher) done1(i int, topic string, at time.Time, history bool, err error) {
	w.mu.Lock()
	s := &w.samples[i]
	if !s.replied.IsZero() || s.err != nil {
		w.mu.Unlock()
		return
	}
	if topic == "" {
		for t, j := range w.topics {
			if j == i {
				topic = t
				break
			}
		}
	}
	s.replied, s.history, s.err = at, history, err
	if err != nil {
		s.replied = time.Time{}
	}
	delete(w.topics, topic)
	w.pending--
	if w.pending == 0 {
		w.idle.Broadcast()
	}
	if topic != "" && !w.closing {
		w.out <- []byte(`{"id":` + strconv.Itoa(-1-i) + `,"op":"unsubscribe","topic":"` + topic + `"}`)
	}
	w.mu.Unlock()
}

// checkReply fails unless a reply publication says hello answered 200.
func checkReply(b []byte) error {
	if !bytes.Contains(b, []byte(`"statusCode":200`)) || !bytes.Contains(b, []byte(`hello, `)) {
		return fmt.Errorf("unexpected reply %s", b)
	}
	return nil
}

// wait waits until every subscribed request has its reply, the connection fails, or
// timeout passes.
func (w *watcher) wait(timeout time.Duration) {
	t := time.AfterFunc(timeout, func() { w.mu.Lock(); w.idle.Broadcast(); w.mu.Unlock() })
	defer t.Stop()
	deadline := time.Now().Add(timeout)
	w.mu.Lock()
	for w.pending > 0 && w.readErr == nil && time.Now().Before(deadline) {
		w.idle.Wait()
	}
	w.mu.Unlock()
}

// sample returns request i's timestamps, with the connection's error for a request that
// got a 202 but no reply because the connection failed.
func (w *watcher) sample(i int) sample {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := w.samples[i]
	if s.err == nil && s.replied.IsZero() && w.readErr != nil {
		s.err = fmt.Errorf("WebSocket: %w", w.readErr)
	}
	return s
}

func (w *watcher) close() {
	w.mu.Lock()
	w.closing = true
	close(w.out)
	w.mu.Unlock()
	_ = w.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	w.conn.Close()
	<-w.done
}
