package manifest

import "bytes"

// segment is the raw text of one YAML document of a file.
type segment struct {
	line int    // line of the file on which the segment starts
	data []byte // the text, with its "---" and "..." markers
}

// lastLine is the line of the file on which the segment's text ends.
func (s segment) lastLine() int {
	return s.line + bytes.Count(bytes.TrimSuffix(s.data, []byte("\n")), []byte("\n"))
}

// splitDocuments cuts a YAML stream into its documents, so that each is
// parsed on its own: a syntax error in one document then hides no error of
// the others, and every function gets its own Source. YAML forbids document
// markers at the start of a line inside content, so cutting at them is exact.
// Directives (%YAML) stay with the document they introduce.
func splitDocuments(data []byte) []segment {
	var segs []segment
	start, startLine := 0, 1
	// trivia: the current segment has only comments, blank lines and
	// directives so far; directive: at least one directive among them.
	trivia, directive := true, false
	cut := func(end, nextLine int) {
		if end > start {
			segs = append(segs, segment{line: startLine, data: data[start:end]})
		}
		start, startLine, trivia, directive = end, nextLine, true, false
	}
	for off, line := 0, 1; off < len(data); line++ {
		next := len(data)
		if i := bytes.IndexByte(data[off:], '\n'); i >= 0 {
			next = off + i + 1
		}
		text := bytes.TrimRight(data[off:next], "\r\n")
		switch {
		case isMarker(text, "---"):
			if !trivia || !directive {
				cut(off, line)
			}
			trivia = false
		case isMarker(text, "...") && trivia:
			start, startLine = next, line+1 // an end marker with no document: drop it
		case isMarker(text, "..."):
			cut(next, line+1)
		case len(text) > 0 && text[0] == '%' && trivia:
			directive = true
		case len(bytes.TrimSpace(text)) == 0 || text[0] == '#':
		default:
			trivia = false
		}
		off = next
	}
	cut(len(data), 0)
	return segs
}

// isMarker reports whether line is the document marker m, alone or followed
// by a space or tab (and maybe content, as in "--- |").
func isMarker(line []byte, m string) bool {
	return bytes.HasPrefix(line, []byte(m)) && (len(line) == len(m) || line[len(m)] == ' ' || line[len(m)] == '\t')
}
