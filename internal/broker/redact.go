package broker

import (
	"net/url"
	"slices"
	"strings"
)

// Mask replaces a password wherever it is shown.
const Mask = "xxxxx"

// Redact returns raw with its password masked ("redis://app:xxxxx@host:6379/0"). It masks
// URLs that do not parse as well: whatever lies between "://" and the last "@" of the
// authority after the user name is taken for a password.
func Redact(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		return u.Redacted()
	}
	pass, start, ok := userinfo(raw)
	if !ok || pass == "" {
		return raw
	}
	return raw[:start] + Mask + raw[start+len(pass):]
}

// RedactError returns err with every form of the password of raw in its text masked: the
// client libraries put the whole URL in some errors (a URL that does not parse) and a
// password could show up in others. It keeps err's chain for errors.Is and errors.As. A nil
// err stays nil; an err without the password is returned as it is.
func RedactError(err error, raw string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	clean := RedactString(msg, raw)
	if clean == msg {
		return err
	}
	return &redactedError{msg: clean, err: err}
}

// RedactString masks every form of the password of raw in s.
func RedactString(s, raw string) string {
	for _, p := range passwords(raw) {
		s = strings.ReplaceAll(s, p, Mask)
	}
	return s
}

// passwords are the forms the password of raw may take in a message: as written in the URL,
// decoded, and encoded again by net/url. Forms shorter than 3 bytes are left alone: masking
// them would mask unrelated text and hide little.
func passwords(raw string) []string {
	var out []string
	add := func(p string) {
		if len(p) >= 3 && !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	if u, err := url.Parse(raw); err == nil {
		if p, ok := u.User.Password(); ok {
			add(p)
			add(strings.TrimPrefix(url.UserPassword("", p).String(), ":"))
		}
		return out
	}
	if pass, _, ok := userinfo(raw); ok {
		add(pass)
		if p, err := url.PathUnescape(pass); err == nil {
			add(p)
		}
	}
	return out
}

// userinfo finds the password of a URL net/url rejects, erring on the side of masking too
// much: the user information runs from "://" to the last "@", and the password from its
// first ":". start is the password's offset in raw.
func userinfo(raw string) (pass string, start int, ok bool) {
	i := strings.Index(raw, "://")
	if i < 0 {
		return "", 0, false
	}
	rest := raw[i+3:]
	at := strings.LastIndex(rest, "@")
	if at < 0 {
		return "", 0, false
	}
	user, pass, found := strings.Cut(rest[:at], ":")
	if !found {
		return "", 0, false
	}
	return pass, i + 3 + len(user) + 1, true
}

// redactedError is an error whose text had a password masked.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }

// Unwrap keeps errors.Is and errors.As working. The wrapped error still holds the password:
// code that prints a wrapped error must print this one.
func (e *redactedError) Unwrap() error { return e.err }
