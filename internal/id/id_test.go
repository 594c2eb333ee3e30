package id

import (
	"regexp"
	"testing"
)

func TestIDsAre128BitsInHexAndDistinct(t *testing.T) {
	hex32 := regexp.MustCompile(`^[0-9a-f]{32}$`)
	for name, gen := range map[string]func() string{"New": New, "Unique": Unique} {
		seen := map[string]bool{}
		for range 10000 {
			s := gen()
			if !hex32.MatchString(s) {
				t.Fatalf("%s() = %q, want 32 hex digits", name, s)
			}
			if seen[s] {
				t.Fatalf("%s() repeated %q", name, s)
			}
			seen[s] = true
		}
	}
}

func BenchmarkNew(b *testing.B) {
	for b.Loop() {
		New()
	}
}

func BenchmarkUnique(b *testing.B) {
	for b.Loop() {
		Unique()
	}
}
