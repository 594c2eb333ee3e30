package main

import (
	"context"
)

// versions names the brokers' versions for the report: "Redis 7.2.4", "RabbitMQ 3.13.0", "—"
// for a broker the run does not use.
func (b *bench) versions(ctx context.Context) []string {
	redis, rabbit := "—", "—"
	if b.redis != nil {
		redis = b.redis.version(ctx)
	}
	if b.rabbit != nil {
		rabbit = b.rabbit.version()
	}
	return []string{"Redis " + redis, "RabbitMQ " + rabbit}
}
