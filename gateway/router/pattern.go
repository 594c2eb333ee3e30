package router

import (
	"errors"
	"fmt"
	"strings"
)

// segment is one parsed segment of a pattern: a literal, or a parameter with its name.
type segment struct {
	text    string
	isParam bool
}

// parsePattern splits a pattern into segments and returns the parameter names in order.
func parsePattern(pattern string) (segs []segment, names []string, err error) {
	if !strings.HasPrefix(pattern, "/") {
		return nil, nil, errors.New("must start with /")
	}
	if pattern == "/" {
		return nil, nil, nil
	}
	for i, s := range strings.Split(pattern[1:], "/") {
		seg, err := parseSegment(s)
		if err != nil {
			return nil, nil, fmt.Errorf("segment %d %q: %w", i+1, s, err)
		}
		if seg.isParam {
			for _, n := range names {
				if n == seg.text {
					return nil, nil, fmt.Errorf("segment %d: parameter {%s} repeated", i+1, n)
				}
			}
			if len(names) == MaxParams {
				return nil, nil, fmt.Errorf("more than %d parameters", MaxParams)
			}
			names = append(names, seg.text)
		}
		segs = append(segs, seg)
	}
	return segs, names, nil
}

func parseSegment(s string) (segment, error) {
	if s == "" {
		return segment{}, errors.New("empty segment (trailing or double slash)")
	}
	if !strings.HasPrefix(s, "{") {
		if strings.ContainsAny(s, "{}") {
			return segment{}, errors.New("a parameter must be the whole segment")
		}
		return segment{text: s}, nil
	}
	if !strings.HasSuffix(s, "}") {
		return segment{}, errors.New("a parameter must be the whole segment")
	}
	name := s[1 : len(s)-1]
	if !validParamName(name) {
		return segment{}, errors.New("parameter name must match [A-Za-z_][A-Za-z0-9_]*")
	}
	return segment{text: name, isParam: true}, nil
}

func validParamName(name string) bool {
	if name == "" {
		return false
	}
	for i, c := range []byte(name) {
		switch {
		case c == '_', 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case '0' <= c && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}
