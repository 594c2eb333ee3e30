package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	goredis "github.com/redis/go-redis/v9"

	"github.com/edgefn/edgefn/gateway/async"
	"github.com/edgefn/edgefn/triggers"
	"github.com/edgefn/edgefn/triggers/amqp"
	"github.com/edgefn/edgefn/triggers/memory"
	"github.com/edgefn/edgefn/triggers/redis"
)

// backends are the queue and stream backends serve runs with: the embedded one unless a
// broker is configured (docs/cli.md: --redis takes the streams, --amqp the queues).
type backends struct {
	queues  triggers.Queues
	streams triggers.Streams
	topics  triggers.Topics
	replies async.Store
	// redis is the client of --redis, nil without one; the node registry shares it.
	redis   *goredis.Client
	pingers map[string]triggers.Pinger
	closers []func()
}

// brokerURL is the flag's value, or else EDGEFN_<NAME>_URL (docs/cli.md).
func brokerURL(flag, env string) string {
	if flag != "" {
		return flag
	}
	return os.Getenv(env)
}

// openBackends connects what o configures and fills the rest with the embedded backend.
func openBackends(ctx context.Context, o *serveOptions, logger *slog.Logger) (*backends, error) {
	b := &backends{pingers: map[string]triggers.Pinger{}}
	redisURL, amqpURL := brokerURL(o.redis, "EDGEFN_REDIS_URL"), brokerURL(o.amqp, "EDGEFN_AMQP_URL")
	if redisURL == "" || amqpURL == "" {
		mem := memory.New(memory.Options{MaxStreamLength: int(o.streamMaxLen)})
		b.closers = append(b.closers, func() { mem.Close() })
		b.queues, b.streams = mem, mem
		logger.Warn("embedded in-memory backend in use: its queues and streams are lost on restart",
			"queues", amqpURL == "", "streams", redisURL == "")
	}
	history := triggers.HistoryOptions{Size: o.topicHistory, TTL: o.topicTTL}
	if redisURL == "" {
		topics := memory.NewTopics(history)
		replies := async.NewMemoryStore()
		b.closers = append(b.closers, func() { topics.Close() }, func() { replies.Close() })
		b.topics, b.replies = topics, replies
	}
	if redisURL != "" {
		opts, err := goredis.ParseURL(redisURL)
		if err != nil {
			b.close()
			return nil, fmt.Errorf("--redis: %w", err)
		}
		// Each stream consumer holds a connection for its blocking reads.
		opts.PoolSize = max(opts.PoolSize, 64)
		client := goredis.NewClient(opts)
		b.closers = append(b.closers, func() { client.Close() })
		b.redis = client
		streams, err := redis.New(client, redis.Options{MaxLen: o.streamMaxLen})
		if err != nil {
			b.close()
			return nil, err
		}
		if err := streams.Ping(ctx); err != nil {
			logger.Warn("redis is not answering yet; streams wait for it", "error", err)
		}
		b.streams = streams
		b.pingers["redis"] = streams
		topics, err := redis.NewTopics(client, history, redis.TopicsOptions{})
		if err != nil {
			b.close()
			return nil, err
		}
		b.closers = append(b.closers, func() { topics.Close() })
		b.topics = topics
		b.replies = async.NewRedisStore(client, "")
	}
	if amqpURL != "" {
		q, err := amqp.Dial(amqpURL, amqp.Options{Logger: logger, Name: "edgefn " + o.nodeID})
		if err != nil {
			b.close()
			return nil, fmt.Errorf("--amqp: %w", err)
		}
		b.closers = append(b.closers, func() { q.Close() })
		b.queues = q
		b.pingers["rabbitmq"] = q
	}
	return b, nil
}

// notReady lists the brokers that do not answer.
func (b *backends) notReady(ctx context.Context) []string {
	var out []string
	for name, p := range b.pingers {
		if err := p.Ping(ctx); err != nil {
			out = append(out, name+": "+err.Error())
		}
	}
	return out
}

func (b *backends) close() {
	for i := len(b.closers) - 1; i >= 0; i-- {
		b.closers[i]()
	}
	b.closers = nil
}
