package manifest

import (
	"bytes"
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Set is everything loaded from one or more manifest files.
type Set struct {
	// Functions are the function documents, in file and document order.
	Functions []*Function
	// Topics are the rules of every `kind: topics` document, in file and
	// document order.
	Topics []*TopicRule
}

// Parse decodes and validates the manifest file named file, whose content is
// data. file appears in messages and locates relative paths; they are made
// absolute. Parse also checks the file's functions against each other
// (names, routes). When anything is invalid it returns a nil Set and an
// [ErrorList] of every problem.
func Parse(file string, data []byte) (*Set, error) {
	set, errs := parseFile(file, data)
	errs = append(errs, checkConflicts(set.Functions)...)
	if err := errs.err(); err != nil {
		return nil, err
	}
	return set, nil
}

// parseFile decodes every document of one file without checking its
// functions against each other. It returns what it could decode even when
// there are errors, so that LoadPaths can still check names and routes
// across files.
func parseFile(file string, data []byte) (*Set, ErrorList) {
	dir, err := filepath.Abs(filepath.Dir(file))
	if err != nil {
		dir = filepath.Dir(file)
	}
	set := &Set{}
	var errs ErrorList
	for _, seg := range splitDocuments(data) {
		root, err := parseDocument(seg.data)
		if err != nil {
			// A problem found at the end of the text belongs to its last line,
			// not to the next document's first.
			line, msg := yamlError(err)
			errs.add(file, min(seg.line+line-1, seg.lastLine()), "", "yaml: %s", msg)
			continue
		}
		if root == nil {
			continue // an empty document
		}
		d := &decoder{file: file, dir: dir, offset: seg.line - 1, errs: &errs, routes: map[*HTTPTrigger]position{}}
		if root.Kind != yaml.MappingNode {
			d.errorf(root, "", "a document must be a mapping")
			continue
		}
		switch kind := d.kind(root); kind {
		case "", "function":
			set.Functions = append(set.Functions, d.function(root, bytes.Clone(seg.data)))
		case "topics":
			set.Topics = append(set.Topics, d.topics(root)...)
		}
	}
	return set, errs
}

// kind returns the document's `kind`, "" when unset, or "?" after reporting
// an unknown one.
func (d *decoder) kind(root *yaml.Node) string {
	for i := 0; i+1 < len(root.Content); i += 2 {
		if k := resolve(root.Content[i]); k.Kind != yaml.ScalarNode || k.Value != "kind" {
			continue
		}
		v := resolve(root.Content[i+1])
		if isNull(v) {
			return ""
		}
		s, ok := d.str(v, "kind")
		if !ok {
			return "?"
		}
		if s != "function" && s != "topics" {
			d.errorf(v, "kind", `unknown kind %q: must be "function" or "topics"`, s)
			return "?"
		}
		return s
	}
	return ""
}

// parseDocument parses one document into a node tree; root is nil for an
// empty document.
func parseDocument(data []byte) (root *yaml.Node, err error) {
	defer func() {
		// yaml.v3 has panicked on hostile input before; a manifest must never
		// take the process down.
		if r := recover(); r != nil {
			root, err = nil, fmt.Errorf("yaml: cannot parse document: %v", r)
		}
	}()
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil, nil
	}
	root = resolve(doc.Content[0])
	if isNull(root) {
		return nil, nil
	}
	return root, nil
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): `)

// yamlParserProblems are the messages of yaml.v3's parser, as opposed to its
// scanner. yaml.v3 reports the line of a parser problem 0-based and of a
// scanner problem 1-based, and leaves the line out when it is 0; yamlError
// undoes that.
var yamlParserProblems = map[string]bool{
	"did not find expected <stream-start>":   true,
	"did not find expected <document start>": true,
	"found undefined tag handle":             true,
	"did not find expected node content":     true,
	"did not find expected '-' indicator":    true,
	"did not find expected key":              true,
	"did not find expected ',' or ']'":       true,
	"did not find expected ',' or '}'":       true,
	"found duplicate %YAML directive":        true,
	"found incompatible YAML document":       true,
	"found duplicate %TAG directive":         true,
}

// yamlError splits a yaml.v3 error into the 1-based line it is about and its
// message.
func yamlError(err error) (line int, msg string) {
	text := err.Error()
	m := yamlLineRE.FindStringSubmatch(text)
	if m == nil {
		return 1, strings.TrimPrefix(text, "yaml: ")
	}
	line, _ = strconv.Atoi(m[1])
	msg = text[len(m[0]):]
	if yamlParserProblems[msg] {
		line++
	}
	return max(line, 1), msg
}
