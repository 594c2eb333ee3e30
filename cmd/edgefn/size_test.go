package main

import "testing"

func TestParseSize(t *testing.T) {
	good := map[string]int{"4MiB": 4 << 20, "512KiB": 512 << 10, "10MB": 10_000_000, "1048576": 1 << 20, "2 MiB": 2 << 20}
	for in, want := range good {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "MiB", "-1MiB", "4XB", "1.5MiB", "0"} {
		if _, err := parseSize(in); err == nil {
			t.Errorf("parseSize(%q) succeeded", in)
		}
	}
}
