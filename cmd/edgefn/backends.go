package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"

	goredis "github.com/redis/go-redis/v9"

	"github.com/edgefn/edgefn/gateway/async"
	"github.com/edgefn/edgefn/internal/broker"
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
	// urls are the broker URLs in use, whose passwords notReady masks.
	urls []string
}

// brokerURL is the flag's value, or else EDGEFN_<NAME>_URL (docs/cli.md).
func brokerURL(flag, env string) string {
	if flag != "" {
		return flag
	}
	return os.Getenv(env)
}

// redisOptions parses the --redis URL and adds the TLS files of --redis-ca, --redis-cert and
// --redis-key, which need a rediss:// URL. Its errors show no password.
func redisOptions(raw string, files broker.TLSFiles) (*goredis.Options, error) {
	opts, err := goredis.ParseURL(raw)
	if err != nil {
		return nil, fmt.Errorf("--redis %s: %w", broker.Redact(raw), broker.RedactError(err, raw))
	}
	if files.IsZero() {
		return opts, nil
	}
	if opts.TLSConfig == nil {
		return nil, fmt.Errorf("--redis %s: --redis-ca, --redis-cert and --redis-key need a rediss:// URL", broker.Redact(raw))
	}
	cfg, err := files.Config(opts.TLSConfig.ServerName)
	if err != nil {
		return nil, fmt.Errorf("--redis TLS: %w", err)
	}
	cfg.InsecureSkipVerify = opts.TLSConfig.InsecureSkipVerify // the URL's skip_verify
	opts.TLSConfig = cfg
	return opts, nil
}

// amqpTLS is the TLS configuration of --amqp-ca, --amqp-cert and --amqp-key; nil without
// them, which leaves an amqps:// URL to the system's CAs and the URL's own parameters.
func amqpTLS(files broker.TLSFiles) (*tls.Config, error) {
	if files.IsZero() {
		return nil, nil
	}
	cfg, err := files.Config("") // the URL's host, filled in at each dial
	if err != nil {
		return nil, fmt.Errorf("--amqp TLS: %w", err)
	}
	return cfg, nil
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
		b.urls = append(b.urls, redisURL)
		opts, err := redisOptions(redisURL, o.redisTLS)
		if err != nil {
			b.close()
			return nil, err
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
			logger.Warn("redis is not answering yet; streams wait for it",
				"redis", broker.Redact(redisURL), "error", broker.RedactError(err, redisURL))
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
		b.urls = append(b.urls, amqpURL)
		cfg, err := amqpTLS(o.amqpTLS)
		if err != nil {
			b.close()
			return nil, err
		}
		q, err := amqp.Dial(amqpURL, amqp.Options{Logger: logger, Name: "edgefn " + o.nodeID, TLS: cfg})
		if err != nil {
			b.close()
			return nil, fmt.Errorf("--amqp: %w", broker.RedactError(err, amqpURL))
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
			msg := err.Error()
			for _, u := range b.urls {
				msg = broker.RedactString(msg, u)
			}
			out = append(out, name+": "+msg)
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
