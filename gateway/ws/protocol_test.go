package ws

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/edgefn/edgefn/triggers"
)

func TestDecodeRequest(t *testing.T) {
	cases := []struct {
		frame   string
		op, id  string
		errCode string
	}{
		{frame: `{"id":1,"op":"ping"}`, op: "ping", id: "1"},
		{frame: `{"id":"a-1","op":"subscribe","topic":"x.y","epoch":"e","since":"3"}`, op: "subscribe", id: `"a-1"`},
		{frame: `{"op":"ping","extra":true}`, op: "ping"}, // unknown fields are ignored
		{frame: `not json`, errCode: codeBadRequest},
		{frame: `[1]`, errCode: codeBadRequest},
		{frame: `{"id":{"a":1},"op":"ping"}`, errCode: codeBadRequest},
		{frame: `{"id":"` + strings.Repeat("x", 80) + `","op":"ping"}`, errCode: codeBadRequest},
		{frame: `{"id":1,"op":"publish","data":}`, errCode: codeBadRequest},
		{frame: `{"id":1,"op":5}`, errCode: codeBadRequest},
	}
	for _, c := range cases {
		r, err := decodeRequest([]byte(c.frame))
		if c.errCode != "" {
			if err == nil || err.code != c.errCode {
				t.Errorf("%s: error %v, want %s", c.frame, err, c.errCode)
			}
			if r != nil && r.ID != nil {
				t.Errorf("%s: a refused id %s would be echoed", c.frame, r.ID)
			}
			continue
		}
		if err != nil || r.Op != c.op || string(r.ID) != c.id {
			t.Errorf("%s: op %q id %s err %v, want op %q id %s", c.frame, r.Op, r.ID, err, c.op, c.id)
		}
	}
}

func TestEncodeReply(t *testing.T) {
	yes, no := true, false
	pos := &triggers.Position{Epoch: "k3x9", Offset: 21}
	cases := []struct {
		id   string
		r    reply
		want string
	}{
		{"1", reply{ok: true}, `{"id":1,"ok":true}`},
		{"", reply{err: errReply(codeForbidden, `not "allowed"`)}, `{"ok":false,"error":{"code":"forbidden","message":"not \"allowed\""}}`},
		{`"x"`, reply{ok: true, pos: pos}, `{"id":"x","ok":true,"epoch":"k3x9","offset":"21"}`},
		{"3", reply{ok: true, pos: pos, recovered: &no}, `{"id":3,"ok":true,"epoch":"k3x9","offset":"21","recovered":false}`},
		{"3", reply{ok: true, pos: pos, recovered: &yes, pubs: []*triggers.Publication{
			{Position: triggers.Position{Offset: 20}, Data: []byte(`{"a":1}`)},
			{Position: triggers.Position{Offset: 21}, Data: nil},
		}}, `{"id":3,"ok":true,"epoch":"k3x9","offset":"21","recovered":true,"publications":[{"offset":"20","data":{"a":1}},{"offset":"21","data":null}]}`},
		{"3", reply{ok: true, pos: pos, recovered: &yes, pubs: []*triggers.Publication{}},
			`{"id":3,"ok":true,"epoch":"k3x9","offset":"21","recovered":true,"publications":[]}`},
	}
	for _, c := range cases {
		var id json.RawMessage
		if c.id != "" {
			id = json.RawMessage(c.id)
		}
		got := string(encodeReply(id, c.r))
		if got != c.want {
			t.Errorf("got  %s\nwant %s", got, c.want)
		}
		if !json.Valid([]byte(got)) {
			t.Errorf("not JSON: %s", got)
		}
	}
	p := &triggers.Publication{Topic: "orders.42", Position: triggers.Position{Epoch: "e", Offset: 18}, Data: []byte(`{"status":"paid"}`)}
	if got := string(encodePublication(p)); got != `{"topic":"orders.42","offset":"18","data":{"status":"paid"}}` {
		t.Errorf("publication: %s", got)
	}
}

// FuzzDecodeRequest feeds arbitrary frames to the decoder: it never panics, and whatever
// reply the frame gets is valid JSON.
func FuzzDecodeRequest(f *testing.F) {
	for _, s := range []string{`{"id":1,"op":"ping"}`, `{"id":"x","op":"subscribe","topic":"a.b","epoch":"e","since":"1"}`,
		`{"op":"publish","topic":"a","data":{"x":[1,2,{"y":null}]}}`, `[`, `{"id":-1e400}`, "\xff\xfe", `{"id":"\u0000"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		r, rerr := decodeRequest(frame)
		var id json.RawMessage
		if r != nil {
			id = r.ID
		}
		rep := reply{ok: true}
		if rerr != nil {
			rep = reply{err: rerr}
		}
		out := encodeReply(id, rep)
		if !json.Valid(out) {
			t.Fatalf("reply to %q is not JSON: %s", frame, out)
		}
		if r != nil && len(r.Data) > 0 {
			pub := encodePublication(&triggers.Publication{Topic: "t", Data: r.Data})
			if !json.Valid(pub) {
				t.Fatalf("publication of %q is not JSON: %s", r.Data, pub)
			}
		}
	})
}
