package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/edgefn/edgefn/bench/internal/harness"
	"github.com/edgefn/edgefn/triggers"
	"github.com/edgefn/edgefn/triggers/redis"
)

// rawBatch is the COUNT of the baseline's XREADGROUP, and edgefn's most deliveries per read
// (the stream trigger's concurrency is capped at 64).
const rawBatch = 64

// redisSide is what the stream measurements hold on Redis: a client for the baseline and
// the watcher, and edgefn's Redis backend on it, which pre-fills the streams.
type redisSide struct {
	url     string
	client  *goredis.Client
	streams *redis.Streams
	// pids are Redis' processes, whose CPU time a run counts.
	pids []int
}

func dialRedis(ctx context.Context, url string) (*redisSide, error) {
	opts, err := goredis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("-redis: %w", err)
	}
	r := &redisSide{url: url, client: goredis.NewClient(opts), pids: harness.PidsNamed("redis-server")}
	if err := r.client.Ping(ctx).Err(); err != nil {
		r.close()
		return nil, fmt.Errorf("redis at %s: %w", url, err)
	}
	if r.streams, err = redis.New(r.client, redis.Options{}); err != nil {
		r.close()
		return nil, err
	}
	return r, nil
}

func (r *redisSide) close() { r.client.Close() }

// version is the Redis server's version.
func (r *redisSide) version(ctx context.Context) string {
	info, err := r.client.InfoMap(ctx, "server").Result()
	if err != nil {
		return "?"
	}
	return info["Server"]["redis_version"]
}

// prefill appends n entries to stream, as edgefn's producers write them (pipelined, 1,000 at a
// time), and returns the ID of the last one.
func (r *redisSide) prefill(ctx context.Context, stream string, n int) (string, error) {
	batch := make([]*triggers.Message, 0, 1000)
	for i := 0; i < n; {
		batch = batch[:0]
		for ; i < n && len(batch) < cap(batch); i++ {
			batch = append(batch, benchMessage(i))
		}
		if err := r.streams.PublishStream(ctx, stream, batch...); err != nil {
			return "", fmt.Errorf("pre-fill %s: %w", stream, err)
		}
	}
	info, err := r.client.XInfoStream(ctx, stream).Result()
	if err != nil {
		return "", fmt.Errorf("pre-fill %s: xinfo stream: %w", stream, err)
	}
	if info.Length != int64(n) {
		return "", fmt.Errorf("pre-fill %s: %d entries, want %d", stream, info.Length, n)
	}
	return info.LastGeneratedID, nil
}

// benchMessage is the i-th message a run consumes: small, JSON, as a function would emit.
func benchMessage(i int) *triggers.Message {
	return &triggers.Message{Type: "bench.tick", ContentType: "application/json", Data: []byte(`{"i":` + strconv.Itoa(i) + `}`)}
}

// redisCalls counts the stream commands Redis served (INFO commandstats), a run's being the
// difference of two counts. Redis is shared: commands of other clients count too.
type redisCalls struct {
	xreadgroup, xack int64
}

// calls reads Redis' command counts.
func (r *redisSide) calls(ctx context.Context) redisCalls {
	info, err := r.client.Info(ctx, "commandstats").Result()
	if err != nil {
		return redisCalls{}
	}
	count := func(cmd string) int64 {
		_, rest, ok := strings.Cut(info, "cmdstat_"+cmd+":calls=")
		if !ok {
			return 0
		}
		if i := strings.IndexAny(rest, ",\r\n"); i >= 0 {
			rest = rest[:i]
		}
		n, _ := strconv.ParseInt(rest, 10, 64)
		return n
	}
	return redisCalls{xreadgroup: count("xreadgroup"), xack: count("xack")}
}

func (c redisCalls) since(c0 redisCalls) redisCalls {
	return redisCalls{xreadgroup: c.xreadgroup - c0.xreadgroup, xack: c.xack - c0.xack}
}

// group returns the state of a consumer group of stream.
func (r *redisSide) group(ctx context.Context, stream, group string) (goredis.XInfoGroup, error) {
	gs, err := r.client.XInfoGroups(ctx, stream).Result()
	if err != nil {
		return goredis.XInfoGroup{}, fmt.Errorf("xinfo groups %s: %w", stream, err)
	}
	for _, g := range gs {
		if g.Name == group {
			return g, nil
		}
	}
	return goredis.XInfoGroup{}, fmt.Errorf("stream %s has no group %q", stream, group)
}

// drained reports whether group has read every entry up to last and acknowledged them all.
func (r *redisSide) drained(ctx context.Context, stream, group, last string) (bool, error) {
	g, err := r.group(ctx, stream, group)
	return err == nil && g.Pending == 0 && g.LastDeliveredID == last, err
}

// drop deletes the stream and its dead-letter stream.
func (r *redisSide) drop(stream string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r.client.Del(ctx, stream, stream+".dlq")
}

// streamRaw times a go-redis loop of XREADGROUP COUNT 64 and XACK of each batch consuming a
// pre-filled stream in a group of its own, created (at the start of the stream) before the
// clock starts.
func (b *bench) streamRaw(ctx context.Context) (result, error) {
	r, n := b.redis, b.opts.streamMsgs
	stream := b.name("s")
	defer r.drop(stream)
	last, err := r.prefill(ctx, stream, n)
	if err != nil {
		return result{}, err
	}
	const group = "raw"
	if err := r.client.XGroupCreate(ctx, stream, group, "0").Err(); err != nil {
		return result{}, fmt.Errorf("xgroup create: %w", err)
	}
	if err := b.run.WaitTurn(ctx); err != nil {
		return result{}, err
	}
	c0 := r.calls(ctx)
	u0 := harness.Snapshot(nil, r.pids...)
	start := time.Now()
	ids := make([]string, 0, rawBatch)
	for got := 0; got < n; {
		res, err := r.client.XReadGroup(ctx, &goredis.XReadGroupArgs{
			Group: group, Consumer: "c", Streams: []string{stream, ">"}, Count: rawBatch, Block: 5 * time.Second,
		}).Result()
		if err != nil {
			return result{}, fmt.Errorf("xreadgroup after %d entries: %w", got, err)
		}
		ids = ids[:0]
		for _, m := range res[0].Messages {
			ids = append(ids, m.ID)
		}
		if err := r.client.XAck(ctx, stream, group, ids...).Err(); err != nil {
			return result{}, fmt.Errorf("xack: %w", err)
		}
		got += len(ids)
	}
	elapsed := time.Since(start)
	u := harness.Snapshot(nil, r.pids...).Since(u0)
	calls := r.calls(ctx).since(c0)
	if ok, err := r.drained(ctx, stream, group, last); !ok {
		return result{}, fmt.Errorf("baseline group not drained at the end (%v)", err)
	}
	return result{msgs: n, elapsed: elapsed, cpu: perMessage(u, n), other: u.Other(), calls: &calls}, nil
}

// streamEdgefn starts a gateway whose noop consumes a pre-filled stream through a new group
// (from: oldest), and times from the moment it reports ready until the group has read the
// last entry and has nothing pending (XINFO GROUPS, polled every 2 ms). noop must then have
// been invoked exactly once per entry.
func (b *bench) streamEdgefn(ctx context.Context) (result, error) {
	r, n := b.redis, b.opts.streamMsgs
	stream := b.name("s")
	defer r.drop(stream)
	last, err := r.prefill(ctx, stream, n)
	if err != nil {
		return result{}, err
	}
	if err := b.run.WaitTurn(ctx); err != nil {
		return result{}, err
	}
	g, err := b.startGateway(ctx, gatewayConfig{name: "stream", redis: r.url, manifest: noopManifest(b.noop,
		fmt.Sprintf("  - stream: {name: %s, from: oldest}\n", stream))})
	if err != nil {
		return result{}, err
	}
	defer g.stop()
	c0 := r.calls(ctx)
	u0 := harness.Snapshot(g.srv, r.pids...)
	res := result{msgs: n, startup: g.ready.Sub(g.started)}
	if grp, err := r.group(ctx, stream, noopName); err == nil {
		res.early = grp.EntriesRead
	}
	wctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	for {
		ok, err := r.drained(wctx, stream, noopName, last)
		if ok {
			break
		}
		if wctx.Err() != nil {
			return result{}, fmt.Errorf("group %s not drained: %v\n%s", noopName, err, g.srv.Output())
		}
		time.Sleep(2 * time.Millisecond)
	}
	res.elapsed = time.Since(g.ready)
	u := harness.Snapshot(g.srv, r.pids...).Since(u0)
	calls := r.calls(ctx).since(c0)
	res.cpu, res.other, res.calls = perMessage(u, n), u.Other(), &calls
	// Every invocation has ended by now: an entry is acknowledged after its invocation.
	fi, err := g.info(ctx, noopName)
	if err != nil {
		return result{}, err
	}
	if fi.Invocations != int64(n) || fi.Failures != 0 {
		return result{}, fmt.Errorf("%s: %d invocations (%d failed) for %d entries", noopName, fi.Invocations, fi.Failures, n)
	}
	return res, nil
}
