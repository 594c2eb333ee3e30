package filter

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/expr-lang/expr/file"
)

func TestCompile(t *testing.T) {
	tests := []struct {
		src     string
		wantErr string // substring; "" means it compiles
	}{
		{src: `event.data.amount > 0`},
		{src: `event.type == "OrderCreated" && event.attempt < 3`},
		{src: `event.headers["x-tenant"] == "acme"`},
		{src: `event.time.Year() >= 2024`},
		{src: `event.correlationId != ""`},
		{src: `event.tpye == "x"`, wantErr: "event has no field tpye (1:7)"},
		{src: `evnt.id == "x"`, wantErr: "unknown name evnt (1:1)"},
		{src: `event.attempt + 1`, wantErr: "expected bool, but got int"},
		{src: `event.id`, wantErr: "expected bool, but got string"},
		{src: `event.id ==`, wantErr: "unexpected token EOF (1:11)"},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			f, err := Compile(tt.src)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Compile(%q): %v", tt.src, err)
				}
				if f.String() != tt.src {
					t.Errorf("String() = %q, want %q", f.String(), tt.src)
				}
				return
			}
			if err == nil {
				t.Fatalf("Compile(%q) compiled, want error %q", tt.src, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error = %q, want it to contain %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error spans several lines: %q", err)
			}
		})
	}
}

func TestFilterMatch(t *testing.T) {
	ev := &Event{
		ID:      "1",
		Type:    "OrderCreated",
		Time:    time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC),
		Attempt: 1,
		Headers: map[string]string{"x-tenant": "acme"},
		Data:    map[string]any{"amount": 5.0, "items": []any{"a", "b"}},
	}
	tests := []struct {
		src  string
		want bool
	}{
		{`event.data.amount > 0`, true},
		{`event.data.amount > 10`, false},
		{`event.type == "OrderCreated"`, true},
		{`event.headers["x-tenant"] == "acme"`, true},
		{`len(event.data.items) == 2`, true},
		{`event.attempt > 1`, false},
		{`event.time.Year() == 2025`, true},
	}
	for _, tt := range tests {
		f, err := Compile(tt.src)
		if err != nil {
			t.Fatalf("Compile(%q): %v", tt.src, err)
		}
		got, err := f.Match(ev)
		if err != nil {
			t.Fatalf("Match(%q): %v", tt.src, err)
		}
		if got != tt.want {
			t.Errorf("Match(%q) = %v, want %v", tt.src, got, tt.want)
		}
	}
}

func TestCompileErrorWrapsExprError(t *testing.T) {
	_, err := Compile(`evnt.id == "x"`)
	var fe *file.Error
	if !errors.As(err, &fe) || fe.Line != 1 || fe.Column != 0 {
		t.Fatalf("error %v does not wrap expr's *file.Error at 1:1", err)
	}
}

func TestFilterMatchRuntimeError(t *testing.T) {
	f, err := Compile(`event.data.amount > 0`)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.Match(&Event{Data: "not an object"})
	if err == nil {
		t.Fatal("Match on a string payload succeeded, want a run-time error")
	}
	if !strings.HasPrefix(err.Error(), `filter "event.data.amount > 0": `) || strings.Contains(err.Error(), "\n") {
		t.Errorf("error = %q, want one line naming the filter", err)
	}
}

func TestNilFilterMatchesEverything(t *testing.T) {
	var f *Filter
	ok, err := f.Match(&Event{})
	if !ok || err != nil {
		t.Fatalf("nil filter Match = %v, %v; want true, nil", ok, err)
	}
	if f.String() != "" {
		t.Errorf("nil filter String() = %q", f.String())
	}
}

func TestFilterConcurrentUse(t *testing.T) {
	f, err := Compile(`event.data.amount > 0`)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	for i := 0; i < 8; i++ {
		go func() {
			defer func() { done <- struct{}{} }()
			for j := 0; j < 100; j++ {
				if ok, err := f.Match(&Event{Data: map[string]any{"amount": float64(j + 1)}}); !ok || err != nil {
					t.Errorf("Match = %v, %v", ok, err)
					return
				}
			}
		}()
	}
	for i := 0; i < 8; i++ {
		<-done
	}
}
