package wire

import (
	"encoding/binary"
	"unsafe"

	"google.golang.org/protobuf/encoding/protowire"
)

// Helpers for the protobuf payloads of frames, which both sides write and read with protowire
// directly rather than through generated types. Zero values are left out, as proto3 does.

// appendString appends a string field unless s is empty.
func appendString(b []byte, num protowire.Number, s string) []byte {
	if s == "" {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}

// appendBytes appends a bytes (or embedded message) field unless v is empty.
func appendBytes(b []byte, num protowire.Number, v []byte) []byte {
	if len(v) == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, v)
}

// appendMessage appends an embedded message field, even an empty one (its presence counts).
func appendMessage(b []byte, num protowire.Number, m []byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, m)
}

// appendVarint appends a varint field unless v is zero.
func appendVarint(b []byte, num protowire.Number, v uint64) []byte {
	if v == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

// appendMap appends a map<string, string> field: one entry message per pair.
func appendMap(b []byte, num protowire.Number, m map[string]string) []byte {
	for k, v := range m {
		n := protowire.SizeTag(1) + protowire.SizeBytes(len(k)) + protowire.SizeTag(2) + protowire.SizeBytes(len(v))
		b = protowire.AppendTag(b, num, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(n))
		b = protowire.AppendTag(b, 1, protowire.BytesType)
		b = protowire.AppendString(b, k)
		b = protowire.AppendTag(b, 2, protowire.BytesType)
		b = protowire.AppendString(b, v)
	}
	return b
}

// fields calls f for each field of the message b. f consumes the field's value from its b and
// returns how many bytes it took, 0 to have the field skipped, or a negative protowire error.
func fields(b []byte, f func(num protowire.Number, typ protowire.Type, b []byte) int) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		m := f(num, typ, b)
		if m == 0 {
			m = protowire.ConsumeFieldValue(num, typ, b)
		}
		if m < 0 {
			return protowire.ParseError(m)
		}
		b = b[m:]
	}
	return nil
}

// takeBytes reads a length-delimited value into *dst as a copy (frame memory is reused).
func takeBytes(typ protowire.Type, b []byte, dst *[]byte) int {
	var v []byte
	n := takeBytesShared(typ, b, &v)
	if typ == protowire.BytesType && n >= 0 {
		*dst = append([]byte(nil), v...)
	}
	return n
}

// takeBytesShared reads a length-delimited value into *dst without copying it: for a payload
// whose memory the caller owns and keeps unchanged while *dst is in use.
func takeBytesShared(typ protowire.Type, b []byte, dst *[]byte) int {
	if typ != protowire.BytesType {
		return 0
	}
	v, n := protowire.ConsumeBytes(b)
	if n >= 0 {
		*dst = v[:len(v):len(v)] // an append to *dst must not write over what follows
	}
	return n
}

// takeString reads a string value into *dst.
func takeString(typ protowire.Type, b []byte, dst *string) int {
	return takeStringAs(typ, b, dst, copied)
}

// takeStringShared reads a string value into *dst without copying it: the string points into
// b, so the caller must own b's memory and never change it while the string is in use.
func takeStringShared(typ protowire.Type, b []byte, dst *string) int {
	return takeStringAs(typ, b, dst, shared)
}

func takeStringAs(typ protowire.Type, b []byte, dst *string, str func([]byte) string) int {
	if typ != protowire.BytesType {
		return 0
	}
	v, n := protowire.ConsumeBytes(b)
	if n >= 0 {
		*dst = str(v)
	}
	return n
}

// takeVarint reads a varint value into *dst.
func takeVarint(typ protowire.Type, b []byte, dst *int64) int {
	if typ != protowire.VarintType {
		return 0
	}
	v, n := protowire.ConsumeVarint(b)
	if n >= 0 {
		*dst = int64(v)
	}
	return n
}

// takeMessage hands an embedded message's bytes (not a copy) to decode.
func takeMessage(typ protowire.Type, b []byte, decode func([]byte) error) int {
	if typ != protowire.BytesType {
		return 0
	}
	v, n := protowire.ConsumeBytes(b)
	if n < 0 {
		return n
	}
	if decode(v) != nil {
		return -1
	}
	return n
}

// takeMapEntry reads one map<string, string> entry into *m, making the map when nil.
func takeMapEntry(typ protowire.Type, b []byte, m *map[string]string) int {
	return takeMapEntryAs(typ, b, m, common)
}

// takeMapEntryShared is takeMapEntry with the key and value pointing into b, as
// takeStringShared reads strings.
func takeMapEntryShared(typ protowire.Type, b []byte, m *map[string]string) int {
	return takeMapEntryAs(typ, b, m, shared)
}

func takeMapEntryAs(typ protowire.Type, b []byte, m *map[string]string, str func([]byte) string) int {
	var k, v string
	n := takeMessage(typ, b, func(entry []byte) error {
		return fields(entry, func(num protowire.Number, typ protowire.Type, b []byte) int {
			if typ != protowire.BytesType || (num != 1 && num != 2) {
				return 0
			}
			s, n := protowire.ConsumeBytes(b)
			if n >= 0 && num == 1 {
				k = str(s)
			} else if n >= 0 {
				v = str(s)
			}
			return n
		})
	})
	if n > 0 {
		if *m == nil {
			*m = make(map[string]string)
		}
		(*m)[k] = v
	}
	return n
}

// copied returns a copy of b as a string.
func copied(b []byte) string { return string(b) }

// shared returns b as a string that points into b.
func shared(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// common returns b as a string, without allocating for the header names and values most
// answers carry.
func common(b []byte) string {
	switch string(b) {
	case "Content-Type":
		return "Content-Type"
	case "application/json":
		return "application/json"
	case "text/plain; charset=utf-8":
		return "text/plain; charset=utf-8"
	case "application/octet-stream":
		return "application/octet-stream"
	case "Cache-Control":
		return "Cache-Control"
	case "no-store":
		return "no-store"
	case "Location":
		return "Location"
	}
	return string(b)
}

// lenRoom is the room beginMessage keeps for an embedded message's length: the longest varint.
const lenRoom = binary.MaxVarintLen64

// beginMessage appends the tag of an embedded message field and room for its length, and
// returns where that room starts. The caller appends the message's fields right after and
// then calls endMessage: the message is written in place, with no buffer of its own.
func beginMessage(b []byte, num protowire.Number) ([]byte, int) {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	mark := len(b)
	return append(b, make([]byte, lenRoom)...), mark
}

// endMessage writes the length of the message begun at mark and closes up the room its
// length did not need.
func endMessage(b []byte, mark int) []byte {
	n := uint64(len(b) - mark - lenRoom)
	size := protowire.SizeVarint(n)
	protowire.AppendVarint(b[mark:mark], n)
	copy(b[mark+size:], b[mark+lenRoom:])
	return b[:len(b)-lenRoom+size]
}
