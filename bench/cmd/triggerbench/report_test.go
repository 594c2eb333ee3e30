package main

import (
	"testing"
)

func TestRatioOfPairWithoutBaseline(t *testing.T) {
	if got := (pair{}).ratio(); got != 0 {
		t.Errorf("ratio of empty pair = %v, want 0", got)
	}
}
