package fntest_test

import (
	"context"
	"errors"
	"testing"

	"github.com/edgefn/edgefn/runtime/fn"
	"github.com/edgefn/edgefn/runtime/fn/fntest"
)

func TestInvokeFillsEventAndCollectsEffects(t *testing.T) {
	h := fn.HandlerFunc(func(ctx context.Context, ev *fn.Event) (*fn.Result, error) {
		var order struct {
			ID     string
			Amount float64
		}
		if err := ev.Decode(&order); err != nil {
			return nil, fn.Errorf(400, "bad order: %v", err)
		}
		fn.Logger(ctx).Info("creating", "id", order.ID, "attempt", ev.Attempt)
		return fn.JSON(201, order).
			Emit(fn.ToStream("order-events", "OrderCreated", order)).
			Notify("orders."+order.ID, map[string]any{"status": "created"}), nil
	})
	res, err := fntest.Invoke(t, h, fntest.HTTP("POST", "/orders?x=1", nil, map[string]any{"ID": "42", "Amount": 9.5}), 0)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != 201 || string(res.Body) != `{"ID":"42","Amount":9.5}` {
		t.Fatalf("result = %d %s", res.Status, res.Body)
	}
	if len(res.Emitted) != 1 || res.Emitted[0].Target != "order-events" || res.Emitted[0].Type != "OrderCreated" || res.Emitted[0].Queue {
		t.Fatalf("emitted = %+v", res.Emitted)
	}
	if len(res.Notified) != 1 || res.Notified[0].Topic != "orders.42" || string(res.Notified[0].Data) != `{"status":"created"}` {
		t.Fatalf("notified = %+v", res.Notified)
	}

	_, err = fntest.Invoke(t, h, fntest.HTTP("POST", "/orders", nil, "not json"), 0)
	var fe *fn.Error
	if !errors.As(err, &fe) || fe.Status != 400 {
		t.Fatalf("err = %v, want a 400 fn.Error", err)
	}
}

func TestInvokeRecoversPanicAndEncodeErrors(t *testing.T) {
	panics := fn.HandlerFunc(func(context.Context, *fn.Event) (*fn.Result, error) { panic("boom") })
	if _, err := fntest.Invoke(t, panics, &fn.Event{}, 0); err == nil {
		t.Fatal("a panic must surface as an error")
	}
	badJSON := fn.HandlerFunc(func(context.Context, *fn.Event) (*fn.Result, error) {
		return fn.JSON(200, map[string]any{"f": func() {}}), nil
	})
	if _, err := fntest.Invoke(t, badJSON, &fn.Event{}, 0); err == nil {
		t.Fatal("a result that does not encode must fail")
	}
}
