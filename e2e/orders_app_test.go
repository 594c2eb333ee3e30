package e2e

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgefn/edgefn/internal/testkit"
)

// The helpers of orders_test.go and orders_browser_test.go: examples/orders served by the real
// binary with its real plugins and its real manifest, under stream and queue names of its own.

// ordersFunctions are the functions of examples/orders, one folder each.
var ordersFunctions = []string{"create-order", "payments", "inventory", "order-saga", "order-view"}

var ordersBuild struct {
	once sync.Once
	dir  string
	err  error
}

// ordersPlugins builds the functions of examples/orders once and returns their folder.
func ordersPlugins(t testing.TB) string {
	t.Helper()
	ordersBuild.once.Do(func() {
		dir := filepath.Join(bins.dir, "orders")
		args := []string{"build", "-o", dir + string(filepath.Separator)}
		for _, f := range ordersFunctions {
			args = append(args, "./examples/orders/"+f)
		}
		cmd := exec.Command("go", args...)
		cmd.Dir = bins.repoDir
		if out, err := cmd.CombinedOutput(); err != nil {
			ordersBuild.err = fmt.Errorf("build examples/orders: %v\n%s", err, out)
		}
		ordersBuild.dir = dir
	})
	if ordersBuild.err != nil {
		t.Fatal(ordersBuild.err)
	}
	return ordersBuild.dir
}

// ordersApp is a gateway serving examples/orders/manifests and examples/orders/web.
type ordersApp struct {
	g *gateway
	// events and queue are this run's names for order-events and stock-reservations.
	events, queue string
	// manifest is the manifest as served: the shipped one with this run's handlers and names.
	manifest string
}

// startOrders serves examples/orders with the serve flags args (the backends).
func startOrders(t *testing.T, args ...string) *ordersApp {
	t.Helper()
	run := time.Now().UnixNano()
	a := &ordersApp{events: fmt.Sprintf("order-events-e2e-%d", run), queue: fmt.Sprintf("stock-reservations-e2e-%d", run)}
	a.manifest = ordersManifest(t, a.events, a.queue)
	path := filepath.Join(t.TempDir(), "orders.yaml")
	if err := os.WriteFile(path, []byte(a.manifest), 0o600); err != nil {
		t.Fatal(err)
	}
	a.g = startGateway(t, "", append(args, "--manifests", path,
		"--static", filepath.Join(bins.repoDir, "examples", "orders", "web"))...)
	waitFunctionsReady(t, a.g)
	return a
}

// ordersManifest is examples/orders/manifests/orders.yaml with the plugins this test run built
// and the stream and queue renamed, so that runs against one Redis and RabbitMQ do not see
// each other's messages.
func ordersManifest(t testing.TB, events, queue string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(bins.repoDir, "examples", "orders", "manifests", "orders.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	src := string(b)
	for _, must := range []string{"handler: ../../../bin/orders/", "order-events", "stock-reservations"} {
		if !strings.Contains(src, must) {
			t.Fatalf("examples/orders/manifests/orders.yaml no longer says %q: update the e2e test", must)
		}
	}
	return strings.NewReplacer(
		"handler: ../../../bin/orders/", "handler: "+ordersPlugins(t)+string(filepath.Separator),
		"order-events", events,
		"stock-reservations", queue,
	).Replace(src)
}

// manifestDoc returns the document of the function name in the served manifest.
func (a *ordersApp) manifestDoc(t testing.TB, name string) string {
	t.Helper()
	for _, doc := range strings.Split(a.manifest, "\n---\n") {
		if strings.Contains(doc, "\nname: "+name+"\n") || strings.HasPrefix(doc, "name: "+name+"\n") {
			return doc
		}
	}
	t.Fatalf("no function %s in the manifest", name)
	return ""
}

// newOrderID is an order ID chosen by the client, as the page does.
func newOrderID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "e2e-" + hex.EncodeToString(b[:])
}

// orderView is GET /orders/{id}.
type orderView struct {
	OrderID  string
	Customer string
	Amount   float64
	Urgent   bool
	Status   string
	Payment  string
	Stock    string
	Reason   string
	Events   []struct{ ID, Type string }
}

func (v orderView) types() string {
	var out []string
	for _, e := range v.Events {
		out = append(out, e.Type)
	}
	return strings.Join(out, ",")
}

// place POSTs an order under a new ID and checks the 201.
func (a *ordersApp) place(t *testing.T, customer, sku string, qty int, amount float64, urgent bool) string {
	t.Helper()
	id := newOrderID()
	r := a.post(t, id, customer, sku, qty, amount, urgent)
	var created struct {
		OrderID, Status string
	}
	r.JSON(t, &created)
	if r.Status != 201 || created.OrderID != id || created.Status != "created" || r.Header.Get("Location") != "/orders/"+id {
		t.Fatalf("POST /orders: %d %s (Location %q)", r.Status, r.Body, r.Header.Get("Location"))
	}
	return id
}

func (a *ordersApp) post(t *testing.T, id, customer, sku string, qty int, amount float64, urgent bool, headers ...string) response {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"orderId": id, "customer": customer,
		"items": []map[string]any{{"sku": sku, "qty": qty}}, "amount": amount, "urgent": urgent})
	return do(t, "POST", a.g.URL+"/orders", body, append([]string{"Content-Type", "application/json"}, headers...)...)
}

// waitView polls the read model until the order's view satisfies done.
func (a *ordersApp) waitView(t *testing.T, id, what string, done func(v orderView) bool) orderView {
	t.Helper()
	var v orderView
	var last response
	testkit.Eventually(t, 30*time.Second, "order "+id+" "+what+" in the read model", func() bool {
		last = do(t, "GET", a.g.URL+"/orders/"+id, nil)
		if last.Status != 200 {
			return false
		}
		v = orderView{}
		last.JSON(t, &v)
		return done(v)
	})
	return v
}

// stock is GET /stock.
func (a *ordersApp) stock(t *testing.T) map[string]int {
	t.Helper()
	r := do(t, "GET", a.g.URL+"/stock", nil)
	var levels map[string]int
	r.JSON(t, &levels)
	if r.Status != 200 {
		t.Fatalf("GET /stock: %d %s", r.Status, r.Body)
	}
	return levels
}

// orderFeed is a WebSocket client subscribed to orders.{id}.
type orderFeed struct {
	c  *wsClient
	id string
	// seen lists the updates notified, as "step:status" ("payment:paid"), with their offsets.
	seen []string
}

// follow subscribes to orders.{id} before the order exists, as the page does.
func (a *ordersApp) follow(t *testing.T, id string) *orderFeed {
	t.Helper()
	c := dialWS(t, wsURL(a.g, ""), nil)
	c.mustOK(map[string]any{"op": "subscribe", "topic": "orders." + id})
	return &orderFeed{c: c, id: id}
}

// waitFor reads updates until every one of want ("step:status") has been notified.
func (f *orderFeed) waitFor(t *testing.T, want ...string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !f.has(want...) {
		left := time.Until(deadline)
		if left <= 0 {
			t.Fatalf("orders.%s: notified %v, want %v", f.id, f.seen, want)
		}
		p := f.c.publication(left)
		var u struct{ OrderID, Event, Step, Status string }
		if err := json.Unmarshal(p.Data, &u); err != nil || p.Topic != "orders."+f.id || u.OrderID != f.id {
			t.Fatalf("publication on %s: %s (%v)", p.Topic, p.Data, err)
		}
		f.seen = append(f.seen, u.Step+":"+u.Status+"@"+p.Offset)
	}
}

// has reports whether every one of want ("step:status") has been notified.
func (f *orderFeed) has(want ...string) bool {
	for _, w := range want {
		found := false
		for _, s := range f.seen {
			found = found || strings.HasPrefix(s, w+"@")
		}
		if !found {
			return false
		}
	}
	return true
}
