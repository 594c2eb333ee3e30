package ws

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"github.com/edgefn/edgefn/gateway/ws/presence"
	"github.com/edgefn/edgefn/internal/testkit"
	"github.com/edgefn/edgefn/runtime/dispatch"
	"github.com/edgefn/edgefn/runtime/event"
	"github.com/edgefn/edgefn/runtime/manifest"
)

// presenceHub is a hub whose connect function names each client after its cookie (the sub)
// and gives it an info, with chat.* keeping presence and join/leave, quiet.* presence only,
// and plain.* neither.
func presenceHub(t *testing.T) (*Hub, *presence.Memory, string) {
	t.Helper()
	store := presence.NewMemory()
	h, url := newTestHubConfig(t, Config{MaxConnsPerIP: -1, MaxConns: -1, Presence: store, PresenceRefresh: 50 * time.Millisecond, AuthWait: 10 * time.Millisecond})
	chat, quiet := rule(t, "chat.*", "true", "false"), rule(t, "quiet.*", "true", "false")
	chat.Presence, chat.JoinLeave, quiet.Presence = true, true, true
	h.SetRules([]*manifest.TopicRule{chat, quiet, rule(t, "plain.*", "true", "false")})
	h.SetFunctions([]dispatch.Function{newFakeFn("c", func(ctx context.Context, ev *event.Event) (*event.Result, error) {
		name := strings.TrimPrefix(ev.Headers["Cookie"], "u=")
		b, _ := json.Marshal(map[string]any{"claims": map[string]any{"sub": name}, "info": map[string]string{"name": strings.ToUpper(name)}})
		return &event.Result{Body: b}, nil
	}, "connect")})
	if err := h.StartPresence(t.Context()); err != nil {
		t.Fatal(err)
	}
	return h, store, url
}

// presenceClient is a connection of presenceHub, named user, and its connection ID.
func presenceClient(t *testing.T, url, user string) (*websocket.Conn, string) {
	t.Helper()
	c, _, err := websocket.DefaultDialer.Dial(url, http.Header{"Cookie": {"u=" + user}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	var f struct {
		Connected struct{ Client string } `json:"connected"`
	}
	if err := json.Unmarshal([]byte(readFrame(t, c)), &f); err != nil || f.Connected.Client == "" {
		t.Fatalf("no connected frame: %v", err)
	}
	return c, f.Connected.Client
}

func send(t *testing.T, c *websocket.Conn, frame string) {
	t.Helper()
	if err := c.WriteMessage(websocket.TextMessage, []byte(frame)); err != nil {
		t.Fatal(err)
	}
}

func expectFrame(t *testing.T, c *websocket.Conn, want string) {
	t.Helper()
	if got := readFrame(t, c); got != want {
		t.Fatalf("frame\n %s\nwant\n %s", got, want)
	}
}

func memberJSON(client, sub string) string {
	return fmt.Sprintf(`{"client":%q,"sub":%q,"info":{"name":%q}}`, client, sub, strings.ToUpper(sub))
}

func TestPresenceOpsAndJoinLeave(t *testing.T) {
	_, _, url := presenceHub(t)
	ann, annID := presenceClient(t, url, "ann")
	bob, bobID := presenceClient(t, url, "bob")
	ann2, ann2ID := presenceClient(t, url, "ann")

	send(t, ann, `{"id":1,"op":"subscribe","topic":"chat.room1"}`)
	if f := readFrame(t, ann); !strings.HasPrefix(f, `{"id":1,"ok":true`) {
		t.Fatalf("subscribe: %s", f)
	}
	expectFrame(t, ann, `{"topic":"chat.room1","join":`+memberJSON(annID, "ann")+`}`)
	send(t, bob, `{"id":1,"op":"subscribe","topic":"chat.room1"}`)
	if f := readFrame(t, bob); !strings.HasPrefix(f, `{"id":1,"ok":true`) {
		t.Fatalf("subscribe: %s", f)
	}
	expectFrame(t, bob, `{"topic":"chat.room1","join":`+memberJSON(bobID, "bob")+`}`)
	expectFrame(t, ann, `{"topic":"chat.room1","join":`+memberJSON(bobID, "bob")+`}`)

	// Anyone the rule lets subscribe reads the presence, subscribed or not.
	first, second := memberJSON(annID, "ann"), memberJSON(bobID, "bob")
	if bobID < annID {
		first, second = second, first
	}
	send(t, ann2, `{"id":"p","op":"presence","topic":"chat.room1"}`)
	expectFrame(t, ann2, `{"id":"p","ok":true,"members":[`+first+`,`+second+`]}`)
	send(t, ann2, `{"id":"s","op":"presence_stats","topic":"chat.room1"}`)
	expectFrame(t, ann2, `{"id":"s","ok":true,"clients":2,"users":2}`)

	send(t, ann2, `{"id":2,"op":"subscribe","topic":"chat.room1"}`)
	readFrame(t, ann2) // the reply
	expectFrame(t, ann2, `{"topic":"chat.room1","join":`+memberJSON(ann2ID, "ann")+`}`)
	expectFrame(t, ann, `{"topic":"chat.room1","join":`+memberJSON(ann2ID, "ann")+`}`)
	expectFrame(t, bob, `{"topic":"chat.room1","join":`+memberJSON(ann2ID, "ann")+`}`)
	send(t, bob, `{"id":"s","op":"presence_stats","topic":"chat.room1"}`)
	expectFrame(t, bob, `{"id":"s","ok":true,"clients":3,"users":2}`)

	// An unsubscribe and a disconnect are leaves.
	send(t, bob, `{"id":3,"op":"unsubscribe","topic":"chat.room1"}`)
	expectFrame(t, bob, `{"id":3,"ok":true}`)
	expectFrame(t, ann, `{"topic":"chat.room1","leave":`+memberJSON(bobID, "bob")+`}`)
	ann2.Close()
	expectFrame(t, ann, `{"topic":"chat.room1","leave":`+memberJSON(ann2ID, "ann")+`}`)
	send(t, bob, `{"id":"s","op":"presence_stats","topic":"chat.room1"}`)
	expectFrame(t, bob, `{"id":"s","ok":true,"clients":1,"users":1}`)

	// quiet.* keeps presence without join and leave frames; plain.* has none.
	send(t, bob, `{"id":4,"op":"subscribe","topic":"quiet.x"}`)
	readFrame(t, bob)
	send(t, bob, `{"id":5,"op":"ping"}`)
	expectFrame(t, bob, `{"id":5,"ok":true}`) // no join frame came before
	send(t, ann, `{"id":"q","op":"presence","topic":"quiet.x"}`)
	expectFrame(t, ann, `{"id":"q","ok":true,"members":[`+memberJSON(bobID, "bob")+`]}`)
	send(t, ann, `{"id":"n","op":"presence","topic":"plain.x"}`)
	expectFrame(t, ann, `{"id":"n","ok":false,"error":{"code":"forbidden","message":"no presence on plain.x: its topic rule does not set presence"}}`)
	send(t, ann, `{"id":"n","op":"presence_stats","topic":"secret.x"}`)
	expectFrame(t, ann, `{"id":"n","ok":false,"error":{"code":"forbidden","message":"not allowed to subscribe to secret.x: no topic rule matches it"}}`)
	send(t, ann, `{"id":"n","op":"presence","topic":"chat.room1","cursor":"`+strings.Repeat("x", 200)+`"}`)
	expectFrame(t, ann, `{"id":"n","ok":false,"error":{"code":"bad_request","message":"bad presence cursor: longer than 128 bytes"}}`)
}

// A presence reply holds at most PresencePage clients, and its cursor reads the next page.
func TestPresencePages(t *testing.T) {
	h, store, url := presenceHub(t)
	ctx := testkit.Context(t, 10*time.Second)
	const n = 2*PresencePage + 50
	for i := range n {
		if err := store.Join(ctx, "chat.big", presence.Member{Client: fmt.Sprintf("c%04d", i), Sub: fmt.Sprintf("u%d", i%7)}); err != nil {
			t.Fatal(err)
		}
	}
	c, _ := presenceClient(t, url, "ann")
	seen, cursor := 0, ""
	for page := 0; ; page++ {
		req := `{"id":1,"op":"presence","topic":"chat.big"}`
		if cursor != "" {
			req = `{"id":1,"op":"presence","topic":"chat.big","cursor":"` + cursor + `"}`
		}
		send(t, c, req)
		var rep struct {
			OK      bool              `json:"ok"`
			Members []presence.Member `json:"members"`
			Cursor  string            `json:"cursor"`
		}
		if err := json.Unmarshal([]byte(readFrame(t, c)), &rep); err != nil || !rep.OK {
			t.Fatalf("page %d: %+v %v", page, rep, err)
		}
		if len(rep.Members) > PresencePage {
			t.Fatalf("page %d holds %d clients", page, len(rep.Members))
		}
		for i, m := range rep.Members {
			if want := fmt.Sprintf("c%04d", seen+i); m.Client != want {
				t.Fatalf("page %d, client %d: %s, want %s", page, i, m.Client, want)
			}
		}
		seen += len(rep.Members)
		if cursor = rep.Cursor; cursor == "" {
			break
		}
	}
	if seen != n {
		t.Fatalf("pages held %d clients, want %d", seen, n)
	}
	v, err := h.Presence(ctx, "chat.big", "", 1000)
	if err != nil || len(v.Members) != n || v.Cursor != "" || v.Stats.Clients != n || v.Stats.Users != 7 {
		t.Fatalf("admin view: %d clients, cursor %q, stats %+v, %v", len(v.Members), v.Cursor, v.Stats, err)
	}
}

// The refresh of a node adds back the members its store lost.
func TestPresenceRefreshAddsBack(t *testing.T) {
	_, store, url := presenceHub(t)
	c, id := presenceClient(t, url, "ann")
	send(t, c, `{"id":1,"op":"subscribe","topic":"quiet.r"}`)
	readFrame(t, c)
	ctx := testkit.Context(t, 10*time.Second)
	if err := store.Leave(ctx, "quiet.r", id); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 5*time.Second, "the refresh to add the member back", func() bool {
		n, _, err := store.Stats(ctx, "quiet.r")
		return err == nil && n == 1
	})
}

// A function's presence read (fn.Presence) is answered by HostCall.
func TestPresenceHostCall(t *testing.T) {
	h, store, _ := presenceHub(t)
	ctx := testkit.Context(t, 10*time.Second)
	for i := range MaxAdminPresencePage + 1 {
		if err := store.Join(ctx, "quiet.h", presence.Member{Client: fmt.Sprintf("c%04d", i), Sub: "ann"}); err != nil {
			t.Fatal(err)
		}
	}
	var page struct {
		Members []presence.Member
		Cursor  string
	}
	if err := json.Unmarshal(h.HostCall(ctx, "f", []byte(`{"op":"presence","topic":"quiet.h"}`)), &page); err != nil {
		t.Fatal(err)
	}
	if len(page.Members) != MaxAdminPresencePage || page.Cursor != fmt.Sprintf("c%04d", MaxAdminPresencePage-1) {
		t.Fatalf("first page: %d members, cursor %q", len(page.Members), page.Cursor)
	}
	for req, want := range map[string]string{
		`{"op":"presence","topic":"quiet.h","cursor":"c0999"}`: `{"members":[{"client":"c1000","sub":"ann"}]}`,
		`{"op":"presence_stats","topic":"quiet.h"}`:            `{"clients":1001,"users":1}`,
		`{"op":"presence_stats","topic":"bad..topic"}`:         `{"error":"invalid topic \"bad..topic\": dot-separated segments of [A-Za-z0-9_-]"}`,
		`{"op":"shout"}`: `{"error":"unknown host call \"shout\""}`,
		`not json`:       `{"error":"bad host call: invalid character 'o' in literal null (expecting 'u')"}`,
	} {
		if got := string(h.HostCall(ctx, "f", []byte(req))); got != want {
			t.Errorf("HostCall(%s) = %s, want %s", req, got, want)
		}
	}
}

// The info a connection keeps is compacted, and none when null or over MaxInfo.
func TestKeptInfo(t *testing.T) {
	h, _ := newTestHub(t)
	c := &conn{hub: h, id: "c", connect: &wsFunc{fn: newFakeFn("f", nil)}}
	for in, want := range map[string]string{
		"":                     "",
		"null":                 "",
		` { "name" : "Ann" } `: `{"name":"Ann"}`,
		`"` + strings.Repeat("x", MaxInfo-2) + `"`: `"` + strings.Repeat("x", MaxInfo-2) + `"`,
		`"` + strings.Repeat("x", MaxInfo-1) + `"`: "",
	} {
		if got := string(c.keptInfo(json.RawMessage(in))); got != want {
			t.Errorf("keptInfo(%.40q) = %.40q, want %.40q", in, got, want)
		}
	}
}

// When the rules change, a subscription they no longer allow ends with an unsubscribed frame
// and leaves the topic's presence; one they still allow goes on.
func TestNewRulesEndForbiddenSubscriptions(t *testing.T) {
	h, store, url := presenceHub(t)
	ann, annID := presenceClient(t, url, "ann")
	for i, topic := range []string{"quiet.x", "plain.y"} {
		send(t, ann, fmt.Sprintf(`{"id":%d,"op":"subscribe","topic":%q}`, i, topic))
		if f := readFrame(t, ann); !strings.HasPrefix(f, fmt.Sprintf(`{"id":%d,"ok":true`, i)) {
			t.Fatalf("subscribe %s: %s", topic, f)
		}
	}
	if members, _, err := store.Page(context.Background(), "quiet.x", "", 10); err != nil || len(members) != 1 || members[0].Client != annID {
		t.Fatalf("presence of quiet.x: %+v %v", members, err)
	}

	// quiet.* now allows bob alone; plain.* everyone still.
	quiet := rule(t, "quiet.*", `claims.sub == "bob"`, "false")
	quiet.Presence = true
	h.SetRules([]*manifest.TopicRule{quiet, rule(t, "plain.*", "true", "false")})
	expectFrame(t, ann, `{"topic":"quiet.x","unsubscribed":{"code":"forbidden","message":"not allowed to subscribe to quiet.x"}}`)
	if members, _, err := store.Page(context.Background(), "quiet.x", "", 10); err != nil || len(members) != 0 {
		t.Errorf("presence of quiet.x after ann's subscription ended: %+v %v", members, err)
	}
	// plain.y goes on: a notification reaches ann.
	if err := h.Notify(context.Background(), "plain.y", []byte(`{"n":1}`)); err != nil {
		t.Fatal(err)
	}
	if f := readFrame(t, ann); !strings.HasPrefix(f, `{"topic":"plain.y","offset":"1"`) {
		t.Fatalf("after the new rules, plain.y's notification: %s", f)
	}
	// And quiet.x is refused to ann from now on.
	send(t, ann, `{"id":3,"op":"subscribe","topic":"quiet.x"}`)
	expectFrame(t, ann, `{"id":3,"ok":false,"error":{"code":"forbidden","message":"not allowed to subscribe to quiet.x"}}`)
}
