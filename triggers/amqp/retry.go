package amqp

import (
	"strconv"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"
)

// Retry delay buckets; see the package comment. They are part of the wire contract
// between edgefn nodes: every node must name and declare delay queues the same way.
const (
	minRetryBucket = 100 * time.Millisecond
	maxRetryBucket = time.Hour
)

// retryBucket returns the smallest bucket that is at least delay (delay > 0):
// 100ms·2^k up to 1h, and whole hours beyond.
func retryBucket(delay time.Duration) time.Duration {
	if delay > maxRetryBucket {
		return (delay + time.Hour - 1).Truncate(time.Hour)
	}
	b := minRetryBucket
	for b < delay {
		b *= 2
	}
	return min(b, maxRetryBucket)
}

// delaySpec is the delay queue of queue for a bucket: its messages expire after the bucket
// and the broker then dead-letters them back to queue through the default exchange.
func delaySpec(queue string, bucket time.Duration) *queueSpec {
	ms := bucket.Milliseconds()
	return &queueSpec{
		name: queue + ".retry." + strconv.FormatInt(ms, 10),
		args: amqp091.Table{
			"x-message-ttl":             ms,
			"x-dead-letter-exchange":    "",
			"x-dead-letter-routing-key": queue,
			"x-expires":                 delayExpiry(bucket).Milliseconds(),
		},
		delay: true,
	}
}

// delayExpiry is the x-expires of a delay queue: unused (not declared) for twice its TTL
// and a minute, the broker deletes it.
func delayExpiry(bucket time.Duration) time.Duration { return 2*bucket + time.Minute }

// delayRefresh is how long after declaring a delay queue a retry declares it again. A copy
// published at most that long after the declaration leaves the queue, a TTL later, at
// least (TTL + 1m)/2 before the queue expires. (A publish does not renew x-expires; a
// declaration does.)
func delayRefresh(s *queueSpec) time.Duration {
	ttl := time.Duration(s.args["x-message-ttl"].(int64)) * time.Millisecond
	return (delayExpiry(ttl) - ttl) / 2
}
