package amqp

import (
	"reflect"
	"strings"
	"testing"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"
)

func TestRetryBucket(t *testing.T) {
	for _, c := range []struct{ delay, want time.Duration }{
		{time.Nanosecond, 100 * time.Millisecond},
		{100 * time.Millisecond, 100 * time.Millisecond},
		{101 * time.Millisecond, 200 * time.Millisecond},
		{700 * time.Millisecond, 800 * time.Millisecond},
		{time.Second, 1600 * time.Millisecond},
		{30 * time.Second, 51200 * time.Millisecond},
		{54*time.Minute + 36800*time.Millisecond, 54*time.Minute + 36800*time.Millisecond},
		{55 * time.Minute, time.Hour},
		{time.Hour, time.Hour},
		{time.Hour + time.Nanosecond, 2 * time.Hour},
		{5*time.Hour + time.Minute, 6 * time.Hour},
	} {
		got := retryBucket(c.delay)
		if got != c.want {
			t.Errorf("retryBucket(%s) = %s, want %s", c.delay, got, c.want)
		}
		if got < c.delay {
			t.Errorf("retryBucket(%s) = %s is early", c.delay, got)
		}
	}
}

func TestDelaySpec(t *testing.T) {
	s := delaySpec("orders", 800*time.Millisecond)
	want := &queueSpec{
		name: "orders.retry.800",
		args: amqp091.Table{
			"x-message-ttl": int64(800), "x-dead-letter-exchange": "", "x-dead-letter-routing-key": "orders",
			"x-expires": int64(61600),
		},
		delay: true,
	}
	if !reflect.DeepEqual(s, want) {
		t.Fatalf("%+v, want %+v", s, want)
	}
	if err := s.args.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestBackoffIsCappedAndJittered(t *testing.T) {
	o := Options{}
	o.setDefaults()
	seen := map[time.Duration]bool{}
	for n := range 100 {
		d := o.backoff(n)
		ceil := min(o.MinBackoff<<min(n, 30), o.MaxBackoff)
		if d < ceil/2 || d > ceil {
			t.Fatalf("backoff(%d) = %s, want within [%s, %s]", n, d, ceil/2, ceil)
		}
		if n > 20 {
			seen[d] = true
		}
	}
	if len(seen) < 10 {
		t.Fatalf("capped backoffs are not jittered: %v", seen)
	}
}

func TestOptionsValidate(t *testing.T) {
	o := Options{MinBackoff: -1, MaxBackoff: -1, DialTimeout: -1, Heartbeat: -1, PublishChannels: -1}
	err := o.Validate()
	if err == nil {
		t.Fatal("invalid options accepted")
	}
	for _, f := range []string{"minBackoff", "maxBackoff", "dialTimeout", "heartbeat", "publishChannels"} {
		if !containsLine(err.Error(), f) {
			t.Errorf("error %q does not name %s", err, f)
		}
	}
	if _, err := Dial("amqp://x", Options{MinBackoff: 2 * time.Second, MaxBackoff: time.Second}); err == nil {
		t.Fatal("dial accepted maxBackoff < minBackoff")
	}
	if _, err := Dial("http://nope", Options{}); err == nil {
		t.Fatal("dial accepted a non-AMQP URL")
	}
}

func containsLine(s, prefix string) bool {
	for _, line := range strings.Split(s, "\n") {
		if strings.HasPrefix(line, prefix) {
			return true
		}
	}
	return false
}
