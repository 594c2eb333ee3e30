package memory

import "testing"

func TestRing(t *testing.T) {
	var r ring[int]
	var model []int
	check := func() {
		t.Helper()
		if r.len() != len(model) {
			t.Fatalf("len %d, want %d", r.len(), len(model))
		}
		for i, v := range model {
			if r.at(i) != v {
				t.Fatalf("at(%d) = %d, want %d", i, r.at(i), v)
			}
		}
	}
	for i := range 1000 {
		switch i % 7 {
		case 0, 3:
			r.pushFront(i)
			model = append([]int{i}, model...)
		default:
			r.pushBack(i)
			model = append(model, i)
		}
		check()
	}
	for len(model) > 0 {
		if v := r.popFront(); v != model[0] {
			t.Fatalf("popFront %d, want %d", v, model[0])
		}
		model = model[1:]
		check()
	}
	if len(r.buf) > minRing {
		t.Fatalf("an empty ring keeps %d slots", len(r.buf))
	}
}
