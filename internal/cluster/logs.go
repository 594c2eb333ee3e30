package cluster

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/edgefn/edgefn/runtime"
)

// Bounds of the cluster's logs (docs/cluster.md#logs).
const (
	// LogStreamLen is about how many lines each function's stream keeps (XADD MAXLEN ~).
	LogStreamLen = 1000
	// logStreamTTL is how long a function's stream outlives its last line.
	logStreamTTL = 7 * 24 * time.Hour
	// logQueue bounds the lines waiting to be written; past it lines are dropped, not waited
	// for: a chatty function never slows down for Redis.
	logQueue = 4096
	// logBatch is the most lines one pipeline writes.
	logBatch = 256
	// followBlock is how long one read of a follow waits for new lines.
	followBlock = 5 * time.Second
	// followBuffer bounds the lines a follower has not taken yet; one that falls further
	// behind is ended, as the node's own follow is.
	followBuffer = 256
)

// RedisLogs is the cluster's log: every node appends its functions' lines to one Redis stream
// per function, PREFIX logs:FUNCTION, each entry tagged with the node, so that any node reads
// the lines of all in the order Redis took them.
type RedisLogs struct {
	client  *goredis.Client
	prefix  string
	node    string
	logger  *slog.Logger
	in      chan logEntry
	dropped atomic.Int64
	done    chan struct{}
}

type logEntry struct {
	function string
	line     runtime.LogLine
}

var _ runtime.LogSink = (*RedisLogs)(nil)

// NewRedisLogs writes the lines of node, and reads those of every node of the cluster named
// cluster, through client, which the caller owns. Run writes; it must be running for Append's
// lines to reach Redis.
func NewRedisLogs(client *goredis.Client, cluster, node string, logger *slog.Logger) (*RedisLogs, error) {
	prefix, err := validPrefix(cluster)
	if err != nil {
		return nil, err
	}
	return &RedisLogs{client: client, prefix: prefix, node: node, logger: logger,
		in: make(chan logEntry, logQueue), done: make(chan struct{})}, nil
}

func (l *RedisLogs) key(function string) string { return l.prefix + "logs:" + function }

// Append queues a line for Run to write; when the queue is full the line is dropped and
// counted (Dropped).
func (l *RedisLogs) Append(function string, line runtime.LogLine) {
	line.Node = l.node
	select {
	case l.in <- logEntry{function, line}:
	default:
		l.dropped.Add(1)
	}
}

// Dropped is how many lines Append dropped because Redis could not keep up.
func (l *RedisLogs) Dropped() int64 { return l.dropped.Load() }

// Run writes the queued lines, as many as are waiting in one pipeline, until ctx ends; it then
// writes what is still queued (within a second) and returns.
func (l *RedisLogs) Run(ctx context.Context) {
	defer close(l.done)
	batch := make([]logEntry, 0, logBatch)
	failing := false
	for {
		select {
		case e := <-l.in:
			batch = append(batch, e)
		case <-ctx.Done():
			l.flushRest()
			return
		}
		for more := true; more && len(batch) < logBatch; {
			select {
			case e := <-l.in:
				batch = append(batch, e)
			default:
				more = false
			}
		}
		wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := l.write(wctx, batch)
		cancel()
		if err != nil && !failing && ctx.Err() == nil {
			l.logger.Warn("cluster log: lines not written to Redis", "lines", len(batch), "error", err)
		}
		failing = err != nil
		if err != nil {
			l.dropped.Add(int64(len(batch)))
		}
		batch = batch[:0]
	}
}

// Wait returns once Run has returned.
func (l *RedisLogs) Wait() { <-l.done }

func (l *RedisLogs) flushRest() {
	var rest []logEntry
	for more := true; more; {
		select {
		case e := <-l.in:
			rest = append(rest, e)
		default:
			more = false
		}
	}
	if len(rest) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = l.write(ctx, rest)
}

func (l *RedisLogs) write(ctx context.Context, batch []logEntry) error {
	pipe := l.client.Pipeline()
	touched := map[string]bool{}
	for _, e := range batch {
		key := l.key(e.function)
		pipe.XAdd(ctx, &goredis.XAddArgs{Stream: key, MaxLen: LogStreamLen, Approx: true, Values: []any{
			"node", e.line.Node, "seq", e.line.Seq, "time", e.line.Time.UnixNano(), "stream", e.line.Stream, "text", e.line.Text,
		}})
		touched[key] = true
	}
	for key := range touched {
		pipe.PExpire(ctx, key, logStreamTTL)
	}
	_, err := pipe.Exec(ctx)
	return err
}

// Tail returns up to n of the function's latest lines from every node, oldest first.
func (l *RedisLogs) Tail(ctx context.Context, function string, n int) ([]runtime.LogLine, error) {
	lines, _, err := l.tail(ctx, function, n)
	return lines, err
}

// tail is Tail and the ID after which newer lines come ("0" when there are none, "$" when n is 0).
func (l *RedisLogs) tail(ctx context.Context, function string, n int) ([]runtime.LogLine, string, error) {
	msgs, err := l.client.XRevRangeN(ctx, l.key(function), "+", "-", int64(max(n, 1))).Result()
	if err != nil {
		return nil, "", err
	}
	last := "0"
	if len(msgs) > 0 {
		last = msgs[0].ID
	}
	if n <= 0 {
		return nil, last, nil
	}
	slices.Reverse(msgs)
	return decodeLines(msgs), last, nil
}

// Follow returns up to n of the function's latest lines and a channel of those written after
// them by any node. The channel is closed when ctx ends, when Redis fails, or when the reader
// falls more than a buffer behind.
func (l *RedisLogs) Follow(ctx context.Context, function string, n int) ([]runtime.LogLine, <-chan runtime.LogLine, error) {
	lines, last, err := l.tail(ctx, function, n)
	if err != nil {
		return nil, nil, err
	}
	ch := make(chan runtime.LogLine, followBuffer)
	go func() {
		defer close(ch)
		for ctx.Err() == nil {
			res, err := l.client.XRead(ctx, &goredis.XReadArgs{Streams: []string{l.key(function), last},
				Count: logBatch, Block: followBlock}).Result()
			if errors.Is(err, goredis.Nil) {
				continue
			}
			if err != nil {
				return
			}
			for _, s := range res {
				for _, line := range decodeLines(s.Messages) {
					select {
					case ch <- line:
					default:
						return // too far behind
					}
				}
				if len(s.Messages) > 0 {
					last = s.Messages[len(s.Messages)-1].ID
				}
			}
		}
	}()
	return lines, ch, nil
}

func decodeLines(msgs []goredis.XMessage) []runtime.LogLine {
	out := make([]runtime.LogLine, 0, len(msgs))
	for _, m := range msgs {
		str := func(k string) string { s, _ := m.Values[k].(string); return s }
		seq, _ := strconv.ParseUint(str("seq"), 10, 64)
		nanos, _ := strconv.ParseInt(str("time"), 10, 64)
		out = append(out, runtime.LogLine{Seq: seq, Time: time.Unix(0, nanos).UTC(), Stream: str("stream"),
			Text: str("text"), Node: str("node")})
	}
	return out
}
