package manifest

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Error is one problem in a manifest.
type Error struct {
	// File is the file name as given to Parse or found by LoadPaths.
	File string
	// Line is the 1-based line of the offending value (or key, for an
	// unknown field); 0 when the problem has no line, such as an unreadable file.
	Line int
	// Path is the field path, such as "triggers[1].queue.retries"; "" for
	// problems with a whole document or file.
	Path string
	// Msg says what is wrong, such as "must be >= 0".
	Msg string
}

// Error formats e as FILE:LINE: PATH: MSG, leaving out an empty part.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(e.Line))
	}
	b.WriteString(": ")
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// ErrorList is every problem found, sorted by file, then line. Parse,
// LoadPaths and CheckConflicts return one; find it with errors.As.
type ErrorList []*Error

// Error returns one error per line.
func (l ErrorList) Error() string {
	lines := make([]string, len(l))
	for i, e := range l {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// sort orders l by file, then line, keeping the order of errors on one line.
func (l ErrorList) sort() {
	slices.SortStableFunc(l, func(a, b *Error) int {
		return cmp.Or(cmp.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line))
	})
}

// err returns l sorted, or nil when it is empty, so that a nil ErrorList
// never hides inside a non-nil error.
func (l ErrorList) err() error {
	if len(l) == 0 {
		return nil
	}
	l.sort()
	return l
}

// add records a problem.
func (l *ErrorList) add(file string, line int, path, format string, args ...any) {
	*l = append(*l, &Error{File: file, Line: line, Path: path, Msg: fmt.Sprintf(format, args...)})
}
