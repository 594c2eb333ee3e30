package main

import (
	"context"

	"github.com/edgefn/edgefn/bench/internal/harness"
)

// machine describes where the numbers were taken, the brokers included.
type machine struct {
	harness.Machine
	redisVersion, rabbitMQ string
}

func describeMachine(ctx context.Context, b *bench) machine {
	m := machine{Machine: harness.DescribeMachine(ctx), redisVersion: "—", rabbitMQ: "—"}
	if b.redis != nil {
		m.redisVersion = b.redis.version(ctx)
	}
	if b.rabbit != nil {
		m.rabbitMQ = b.rabbit.version()
	}
	return m
}
