package manifest

import (
	"fmt"
	"path/filepath"
	"slices"
	"time"

	"gopkg.in/yaml.v3"
)

// decoder walks the yaml.Node tree of one document and records every problem
// it meets instead of stopping at the first.
type decoder struct {
	file   string     // as given by the caller, for messages
	dir    string     // absolute folder of file, for relative paths
	offset int        // lines of the file before this document's segment
	errs   *ErrorList // shared by every document of the file

	routes map[*HTTPTrigger]position // where each route of the document is
}

// line is the line of n in the file.
func (d *decoder) line(n *yaml.Node) int { return n.Line + d.offset }

// errorf records a problem at n.
func (d *decoder) errorf(n *yaml.Node, path, format string, args ...any) {
	d.errs.add(d.file, d.line(n), path, format, args...)
}

// join appends a mapping key to a field path.
func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// index appends a list index to a field path.
func index(path string, i int) string { return fmt.Sprintf("%s[%d]", path, i) }

// resolve follows an alias to the node it names. The bound guards against
// pathological input; YAML itself has no alias of an alias.
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; i < 8 && n != nil && n.Kind == yaml.AliasNode && n.Alias != nil; i++ {
		n = n.Alias
	}
	return n
}

// isNull reports whether n is an explicit or empty YAML null, which counts
// as "not set".
func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// key returns the name of mapping key k, reporting keys that are not plain
// scalars.
func (d *decoder) key(k *yaml.Node, path string) (string, bool) {
	k = resolve(k)
	switch {
	case k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge":
		d.errorf(k, path, "merge keys (<<) are not supported")
		return "", false
	case k.Kind != yaml.ScalarNode:
		d.errorf(k, path, "keys must be strings")
		return "", false
	}
	return k.Value, true
}

// fields checks that n is a mapping whose keys are all in known, reporting
// unknown and repeated keys, and returns the value of each known key that is
// set to something other than null. ok is false when n is not a mapping.
func (d *decoder) fields(n *yaml.Node, path string, known ...string) (m map[string]*yaml.Node, ok bool) {
	n = resolve(n)
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, "must be a mapping")
		return nil, false
	}
	m = make(map[string]*yaml.Node, len(n.Content)/2)
	seen := make(map[string]bool, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], resolve(n.Content[i+1])
		name, ok := d.key(k, path)
		switch {
		case !ok:
			continue
		case !slices.Contains(known, name):
			d.errorf(k, path, "unknown field %q", name)
			continue
		case seen[name]:
			d.errorf(k, path, "duplicate field %q", name)
			continue
		}
		seen[name] = true
		if !isNull(v) {
			m[name] = v
		}
	}
	return m, true
}

// list checks that n, when set, is a sequence and returns its items.
func (d *decoder) list(n *yaml.Node, path string) []*yaml.Node {
	if n == nil {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		d.errorf(n, path, "must be a list")
		return nil
	}
	items := make([]*yaml.Node, len(n.Content))
	for i, it := range n.Content {
		items[i] = resolve(it)
	}
	return items
}

// str decodes a string. Any scalar is accepted as its text, as YAML users
// expect `sha256: 0123...` to work unquoted. ok is false when n is unset or
// invalid.
func (d *decoder) str(n *yaml.Node, path string) (s string, ok bool) {
	if n == nil {
		return "", false
	}
	if n.Kind != yaml.ScalarNode {
		d.errorf(n, path, "must be a string")
		return "", false
	}
	return n.Value, true
}

// nonEmpty decodes a string that, when set, must not be empty.
func (d *decoder) nonEmpty(n *yaml.Node, path string) (string, bool) {
	s, ok := d.str(n, path)
	if ok && s == "" {
		d.errorf(n, path, "must not be empty")
		return "", false
	}
	return s, ok
}

// integer decodes a YAML integer.
func (d *decoder) integer(n *yaml.Node, path string) (int, bool) {
	if n == nil {
		return 0, false
	}
	var v int
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || n.Decode(&v) != nil {
		d.errorf(n, path, "must be an integer")
		return 0, false
	}
	return v, true
}

// intAtLeast decodes an integer that must be >= lo, returning def when unset.
func (d *decoder) intAtLeast(n *yaml.Node, path string, lo, def int) int {
	v, ok := d.integer(n, path)
	if !ok {
		return def
	}
	if v < lo {
		d.errorf(n, path, "must be >= %d", lo)
		return def
	}
	return v
}

// intBetween decodes an integer that must be within [lo, hi], returning def
// when unset.
func (d *decoder) intBetween(n *yaml.Node, path string, lo, hi, def int) int {
	v, ok := d.integer(n, path)
	if !ok {
		return def
	}
	if v < lo || v > hi {
		d.errorf(n, path, "must be between %d and %d", lo, hi)
		return def
	}
	return v
}

// duration decodes a Go duration string such as "5s" or "1m30s" that must be
// positive, returning def when unset. A bare number is refused: its unit
// would be a guess.
func (d *decoder) duration(n *yaml.Node, path string, def time.Duration) time.Duration {
	if n == nil {
		return def
	}
	if n.Kind != yaml.ScalarNode {
		d.errorf(n, path, "must be a duration such as 5s")
		return def
	}
	v, err := time.ParseDuration(n.Value)
	if n.ShortTag() != "!!str" || err != nil {
		d.errorf(n, path, "invalid duration %q", n.Value)
		return def
	}
	if v <= 0 {
		d.errorf(n, path, "must be > 0")
		return def
	}
	return v
}

// oneOf decodes a string that must be one of allowed, returning def when
// unset. msg is the complaint for any other value.
func (d *decoder) oneOf(n *yaml.Node, path, def, msg string, allowed ...string) string {
	s, ok := d.str(n, path)
	if !ok {
		return def
	}
	if !slices.Contains(allowed, s) {
		d.errorf(n, path, "%s", msg)
		return def
	}
	return s
}

// filePath decodes a path, resolving a relative one against the folder of
// the manifest file.
func (d *decoder) filePath(n *yaml.Node, path string) (string, bool) {
	s, ok := d.nonEmpty(n, path)
	if !ok {
		return "", false
	}
	if filepath.IsAbs(s) {
		return filepath.Clean(s), true
	}
	return filepath.Join(d.dir, s), true
}
