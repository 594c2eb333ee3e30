package clistart

import "testing"

func TestShortLived(t *testing.T) {
	tests := []struct {
		args []string
		want bool
	}{
		{nil, true},
		{[]string{"version"}, true},
		{[]string{"deploy", "fn.yaml", "--server", "127.0.0.1:8080"}, true},
		{[]string{"--server", "http://h:8080", "list"}, true},
		{[]string{"logs", "greet", "--follow"}, true},
		{[]string{"serve"}, false},
		{[]string{"serve", "--listen", ":8080", "--manifests", "manifests/"}, false},
		{[]string{"--log-level", "warn", "serve"}, false},
		{[]string{"dev", "functions/greet/greet.yaml"}, false},
		{[]string{"deploy", "serve"}, false}, // a manifest named serve: a start without huge pages
	}
	for _, tt := range tests {
		if got := shortLived(tt.args); got != tt.want {
			t.Errorf("shortLived(%q) = %v, want %v", tt.args, got, tt.want)
		}
	}
}
