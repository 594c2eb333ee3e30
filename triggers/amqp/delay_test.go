package amqp

import (
	"strings"
	"testing"
	"time"
)

// The rungs a routing key names add up to its seconds, and each rung's binding takes exactly
// the keys whose word for it is 1.
func TestDelayKeyNamesTheRungs(t *testing.T) {
	for _, secs := range []int64{0, 1, 2, 5, 30, 3600, 1<<delayLevels - 1} {
		words := strings.Split(delayKey(secs), ".")
		if len(words) != delayLevels {
			t.Fatalf("%d s: %d words, want %d", secs, len(words), delayLevels)
		}
		var sum int64
		for l := range delayLevels {
			w := words[delayLevels-1-l]
			if w == "1" {
				sum += 1 << l
			}
			if p := strings.Split(levelPattern(l, w[0]), ".")[delayLevels-1-l]; p != w {
				t.Fatalf("%d s, level %d: the binding's word %q does not take %q", secs, l, p, w)
			}
		}
		if sum != secs {
			t.Fatalf("%s: the rungs add up to %d s, want %d", delayKey(secs), sum, secs)
		}
	}
}

func TestTheLadderFitsOlderBrokers(t *testing.T) {
	top := rungSpec(delayLevels - 1).args["x-message-ttl"].(int64)
	if top >= 1<<32 || tombstoneExpiry.Milliseconds() >= 1<<32 {
		t.Fatalf("the top rung's TTL %d ms or the tombstone expiry %v reaches 2^32 ms", top, tombstoneExpiry)
	}
	if maxDelay != time.Duration(2*top-1000)*time.Millisecond {
		t.Fatalf("maxDelay %v is not the sum of the rungs", maxDelay)
	}
	if rung(0) != "edgefn.delay.1s" || rung(21) != "edgefn.delay.2097152s" {
		t.Fatalf("rung names %s, %s", rung(0), rung(21))
	}
}
