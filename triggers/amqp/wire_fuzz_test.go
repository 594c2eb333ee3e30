package amqp

import (
	"math"
	"testing"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"
)

// headerValue turns fuzz input into one of the value types an AMQP table may carry.
func headerValue(kind uint8, s string, n int64) any {
	switch kind % 12 {
	case 0:
		return s
	case 1:
		return []byte(s)
	case 2:
		return n
	case 3:
		return int32(n)
	case 4:
		return int16(n)
	case 5:
		return uint8(n)
	case 6:
		return float64(n) / 3
	case 7:
		return n%2 == 0
	case 8:
		return time.Unix(n%math.MaxInt32, 0)
	case 9:
		return amqp091.Decimal{Scale: uint8(n), Value: int32(n)}
	case 10:
		return amqp091.Table{s: n}
	}
	return nil
}

// FuzzFromDelivery decodes deliveries with arbitrary properties and header tables (another
// producer's, or a hostile one's): fromDelivery and deadMessage never panic, the attempt is at
// least 1, the body is kept, and scalar headers that are not edgefn's own survive as strings.
func FuzzFromDelivery(f *testing.F) {
	f.Add("id", "type", []byte(`{"a":1}`), "x-edgefn-attempt", uint8(0), "3", int64(3), false)
	f.Add("", "", []byte{0xff}, "x-edgefn-attempt", uint8(2), "", int64(-5), true)
	f.Add("m", "t", []byte(nil), "x-death", uint8(10), "q", int64(1), true)
	f.Add("m", "t", []byte("x"), "x-edgefn-error", uint8(0), "boom", int64(0), false)
	f.Add("m", "t", []byte("x"), "custom", uint8(9), "", int64(math.MinInt64), false)
	f.Fuzz(func(t *testing.T, msgID, typ string, body []byte, key string, kind uint8, s string, n int64, redelivered bool) {
		v := headerValue(kind, s, n)
		d := &amqp091.Delivery{
			MessageId: msgID, Type: typ, Body: body, Redelivered: redelivered, Priority: uint8(n),
			Headers: amqp091.Table{key: v, "x-edgefn-attempts": s},
		}
		m, attempt := fromDelivery(d)
		if attempt < 1 {
			t.Fatalf("attempt %d", attempt)
		}
		if string(m.Data) != string(body) || m.ID != msgID || m.Type != typ {
			t.Fatalf("message %+v lost the delivery's id, type or body", m)
		}
		if _, scalar := headerString(v); scalar && !isBrokerHeader(key) && key != headerTraceparent &&
			key != headerSubject && key != headerSource && key != headerAttempt {
			if _, ok := m.Headers[key]; !ok {
				t.Fatalf("scalar header %q = %#v lost", key, v)
			}
		}
		dm := deadMessage(d)
		if _, left := dm.Headers[headerError]; left {
			t.Fatal("the error header was left among the headers of a dead message")
		}
		_ = republishing(d)
	})
}
