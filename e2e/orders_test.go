package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgefn/edgefn/internal/testkit"
)

// TestOrderWorkflow runs the order workflow of examples/orders (the showcase users copy)
// through the real binary, its real plugins and its shipped manifest, on the embedded
// backends and on Redis and RabbitMQ: an order is paid, reserved and confirmed; a declined
// payment cancels the order and releases its stock; an order with no stock is cancelled and
// its payment refunded or never taken; an async POST gets the gateway's 202 and its reply; a
// poison message on the stock queue ends in the dead-letter queue; urgent orders waiting in
// the stock queue are reserved first; and a read model rebuilt in a new consumer group replays
// the event history. Each step is checked where a user sees
// it: the HTTP answers, the read model (GET /orders/{id}), the WebSocket topic orders.{id},
// the stock levels and `edgefn dlq list`.
func TestOrderWorkflow(t *testing.T) {
	eachBackend(t, func(t *testing.T, args []string) {
		a := startOrders(t, args...)
		var happy string

		t.Run("happy path", func(t *testing.T) {
			before := a.stock(t)["widget"]
			happy = newOrderID()
			feed := a.follow(t, happy)
			r := a.post(t, happy, "ada", "widget", 2, 19.90, true)
			if r.Status != 201 || r.Header.Get("Location") != "/orders/"+happy {
				t.Fatalf("POST /orders: %d %s", r.Status, r.Body)
			}
			feed.waitFor(t, "order:created", "payment:paid", "stock:reserved", "order:confirmed")
			v := a.waitView(t, happy, "confirmed", func(v orderView) bool { return v.Status == "confirmed" })
			if v.Payment != "paid" || v.Stock != "reserved" || v.Customer != "ada" || v.Amount != 19.90 || !v.Urgent || len(v.Events) != 4 {
				t.Fatalf("view %+v (%s)", v, v.types())
			}
			if got := a.stock(t)["widget"]; got != before-2 {
				t.Fatalf("widgets %d, want %d", got, before-2)
			}
		})

		t.Run("declined payment", func(t *testing.T) {
			before := a.stock(t)["widget"]
			id := newOrderID()
			feed := a.follow(t, id)
			a.post(t, id, "bo", "widget", 3, 13.13, false) // DECLINE_AMOUNTS in the manifest
			feed.waitFor(t, "order:created", "payment:declined", "stock:released", "order:cancelled")
			v := a.waitView(t, id, "cancelled with its stock released", func(v orderView) bool {
				return v.Status == "cancelled" && v.Stock == "released"
			})
			if v.Payment != "declined" || !strings.HasPrefix(v.Reason, "payment declined") {
				t.Fatalf("view %+v (%s)", v, v.types())
			}
			// Released whether the reservation came before the decline or after it.
			if got := a.stock(t)["widget"]; got != before {
				t.Fatalf("widgets %d after the release, want %d", got, before)
			}
			if feed.has("order:confirmed") {
				t.Fatalf("a declined order was confirmed: %v", feed.seen)
			}
		})

		t.Run("no stock", func(t *testing.T) {
			id := newOrderID()
			feed := a.follow(t, id)
			a.post(t, id, "cy", "gizmo", 1, 5, false) // STOCK says gizmo=0
			feed.waitFor(t, "order:created", "stock:out_of_stock", "order:cancelled")
			// Payment runs in parallel with the reservation: it was taken and is refunded, or
			// the cancellation reached payments first and it is never taken.
			v := a.waitView(t, id, "cancelled with its payment refunded or never taken", func(v orderView) bool {
				return v.Status == "cancelled" && (v.Payment == "refunded" || v.Payment == "cancelled")
			})
			if v.Stock != "out_of_stock" || !strings.HasPrefix(v.Reason, "out of stock: gizmo") {
				t.Fatalf("view %+v (%s)", v, v.types())
			}
			feed.waitFor(t, "payment:"+v.Payment)
		})

		t.Run("async", func(t *testing.T) {
			id := newOrderID()
			r := a.post(t, id, "di", "widget", 1, 4.5, false, "Prefer", "respond-async")
			loc := r.Header.Get("Location")
			if r.Status != 202 || !strings.HasPrefix(loc, "/requests/") {
				t.Fatalf("async POST /orders: %d %s", r.Status, r.Body)
			}
			reply := do(t, "GET", a.g.URL+loc+"?wait=20s", nil)
			var created struct{ OrderID, Status string }
			reply.JSON(t, &created)
			if reply.Status != 201 || created.OrderID != id {
				t.Fatalf("reply %d %s", reply.Status, reply.Body)
			}
			a.waitView(t, id, "confirmed", func(v orderView) bool { return v.Status == "confirmed" })
		})

		t.Run("bad orders get 400", func(t *testing.T) {
			for body, want := range map[string]string{
				`{"customer":"ada","items":[{"sku":"widget","qty":0}],"amount":1}`: "items[0].qty: between 1 and 1000",
				`{"customer":"ada","items":[],"amount":1}`:                         "items: between 1 and 20",
				`{"customer":"ada","items":[{"sku":"widget","qty":1}]}`:            "amount: above 0",
				`{"customer":"ada","item":"widget"}`:                               `unknown field "item"`,
				`not json`:                                                         "an order is JSON like",
			} {
				r := do(t, "POST", a.g.URL+"/orders", []byte(body), "Content-Type", "application/json")
				var e struct {
					Error struct{ Code, Message string }
				}
				r.JSON(t, &e)
				if r.Status != 400 || !strings.Contains(e.Error.Message, want) {
					t.Fatalf("%s: %d %s, want 400 saying %q", body, r.Status, r.Body, want)
				}
			}
			if r := do(t, "GET", a.g.URL+"/orders/e2e-never-placed", nil); r.Status != 404 {
				t.Fatalf("GET an unknown order: %d %s", r.Status, r.Body)
			}
		})

		t.Run("poison message", func(t *testing.T) {
			poison := "poison-" + newOrderID()
			mustCLI(t, a.g, "publish", "--queue", a.queue, "--type", "ReserveStock", "--id", poison, "--data", `"not an order"`)
			var out string
			testkit.Eventually(t, 30*time.Second, "the poison message in the dead-letter queue", func() bool {
				out, _, _ = cli(t, a.g, "dlq", "list", a.queue)
				return strings.Contains(out, poison)
			})
			for _, line := range strings.Split(out, "\n") {
				if strings.Contains(line, poison) && (!strings.Contains(line, "ReserveStock") || !strings.Contains(line, " 4 ") ||
					!strings.Contains(line, "not a stock command")) {
					t.Fatalf("dlq list:\n%s\nwant %s with 4 attempts and the inventory's error", out, poison)
				}
			}
			// The queue still works behind it.
			id := a.place(t, "ed", "widget", 1, 2, false)
			a.waitView(t, id, "confirmed", func(v orderView) bool { return v.Status == "confirmed" })
		})

		t.Run("urgent orders first", func(t *testing.T) {
			// Reservations queue up while the inventory is away: five normal orders of a
			// gadget, then an urgent one, for the five gadgets in stock. The inventory comes
			// back taking one message at a time, and the urgent order, queued last with a higher
			// priority, is among the ones that get a gadget.
			mustCLI(t, a.g, "delete", "inventory")
			waitFunctionsReady(t, a.g) // ready again once the inventory's consumer has stopped
			var normal []string
			for range 5 {
				normal = append(normal, a.place(t, "fe", "gadget", 1, 3, false))
			}
			urgent := a.place(t, "gi", "gadget", 1, 3, true)
			doc := a.manifestDoc(t, "inventory")
			one := strings.Replace(doc, "prefetch: 16", "prefetch: 1", 1)
			if one == doc {
				t.Fatal("inventory's manifest has no `prefetch: 16`")
			}
			path := filepath.Join(t.TempDir(), "inventory.yaml")
			if err := os.WriteFile(path, []byte(one), 0o600); err != nil {
				t.Fatal(err)
			}
			mustCLI(t, a.g, "deploy", path)
			v := a.waitView(t, urgent, "confirmed", func(v orderView) bool { return v.Status != "created" && v.Status != "pending" })
			if v.Status != "confirmed" || v.Stock != "reserved" {
				t.Fatalf("the urgent order: %+v (%s)", v, v.types())
			}
			out := 0
			for _, id := range normal {
				v := a.waitView(t, id, "decided", func(v orderView) bool { return v.Status == "confirmed" || v.Status == "cancelled" })
				if v.Stock == "out_of_stock" {
					out++
				}
			}
			if out != 1 {
				t.Fatalf("%d normal orders out of stock, want 1 (the urgent one took a gadget first)", out)
			}
		})

		t.Run("read model rebuilt from the events", func(t *testing.T) {
			if happy == "" {
				t.Skip("the happy path did not run")
			}
			// A new version of order-view in a new consumer group: a fresh process with an empty
			// projection, which replays order-events from the oldest entry.
			doc := a.manifestDoc(t, "order-view")
			rebuilt := strings.Replace(doc, "group: order-view ", "group: order-view-rebuilt ", 1)
			if rebuilt == doc {
				t.Fatal("order-view's manifest has no `group: order-view `")
			}
			path := filepath.Join(t.TempDir(), "order-view.yaml")
			if err := os.WriteFile(path, []byte(rebuilt), 0o600); err != nil {
				t.Fatal(err)
			}
			if out := mustCLI(t, a.g, "deploy", path); !strings.Contains(out, "order-view version 2") {
				t.Fatalf("deploy said %q", out)
			}
			v := a.waitView(t, happy, "replayed", func(v orderView) bool { return v.Status == "confirmed" && len(v.Events) == 4 })
			if v.Payment != "paid" || v.Stock != "reserved" || v.Customer != "ada" {
				t.Fatalf("replayed view %+v (%s)", v, v.types())
			}
		})
	})
}
