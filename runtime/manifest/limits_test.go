package manifest

import (
	"fmt"
	"strings"
	"testing"
)

// TestNameLengthLimits: a function name may have 63 bytes and a broker name 255, not one more.
func TestNameLengthLimits(t *testing.T) {
	doc := func(name, group string) []byte {
		return fmt.Appendf(nil, "name: %s\nhandler: bin/f\ntriggers:\n  - stream: {name: s, group: %s}\n", name, group)
	}
	name63, group255 := "a"+strings.Repeat("b", 62), strings.Repeat("g", 255)
	if _, err := Parse("ok.yaml", doc(name63, group255)); err != nil {
		t.Fatalf("a 63-byte name and a 255-byte group: %v", err)
	}
	_, err := Parse("long.yaml", doc(name63+"c", group255+"g"))
	want := "long.yaml:1: name: must match [a-z][a-z0-9-]{0,62}\n" +
		"long.yaml:4: triggers[0].stream.group: must match [A-Za-z0-9_.:-]{1,255}"
	if err == nil || err.Error() != want {
		t.Fatalf("a 64-byte name and a 256-byte group: got\n%v\nwant\n%s", err, want)
	}
}
