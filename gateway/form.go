package gateway

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"mime"
	"net/textproto"
)

// formReader reads the parts of a multipart/form-data body (RFC 2046 section 5.1.1, RFC
// 7578) from a bufio.Reader; readUpload uses it for deploys. mime/multipart finds the
// delimiter that ends a part by scanning back from the end of what it has buffered, one byte
// at a time, up to the last CR: through the long runs without one in a plugin binary, that
// took about 12 ms of a core for the 19.8 MB hello plugin, a third of the gateway's work in a
// deploy's upload. This reader searches forward with bytes.Index over everything buffered.
type formReader struct {
	br       *bufio.Reader
	boundary string
	delim    []byte // "\r\n--" + boundary ("\n--" in a body whose lines end in LF only)
	cur      *formPart
	begun    bool // the first delimiter line was read
	closed   bool // the closing delimiter was read
}

// Bounds of what a part's header may take.
const (
	maxPartHeaderBytes = 64 << 10
	maxPartHeaders     = 32
)

var errMalformedForm = errors.New("malformed multipart body")

func newFormReader(br *bufio.Reader, boundary string) *formReader {
	return &formReader{br: br, boundary: boundary, delim: []byte("\r\n--" + boundary)}
}

// next returns the next part, having skipped what is left of the current one, or io.EOF after
// the closing delimiter.
func (r *formReader) next() (*formPart, error) {
	if r.cur != nil {
		if _, err := io.Copy(io.Discard, r.cur); err != nil {
			return nil, err
		}
		r.cur = nil
	}
	if r.closed {
		return nil, io.EOF
	}
	if !r.begun {
		if err := r.skipPreamble(); err != nil {
			return nil, err
		}
		r.begun = true
		if r.closed { // the body has no part at all
			return nil, io.EOF
		}
	} else {
		// The rest of the delimiter line: "--" closes the body, else optional white space.
		line, err := r.line()
		if err != nil {
			return nil, err
		}
		if bytes.HasPrefix(line, []byte("--")) {
			r.closed = true
			return nil, io.EOF
		}
		if len(bytes.TrimRight(line, " \t")) != 0 {
			return nil, errMalformedForm
		}
	}
	header := make(textproto.MIMEHeader)
	size, count := 0, 0
	for {
		line, err := r.line()
		if err != nil {
			return nil, err
		}
		if len(line) == 0 {
			break
		}
		size += len(line)
		count++
		if size > maxPartHeaderBytes || count > maxPartHeaders {
			return nil, errors.New("multipart: a part's header is too large")
		}
		k, v, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return nil, errMalformedForm
		}
		header.Add(textproto.CanonicalMIMEHeaderKey(string(bytes.TrimSpace(k))), string(bytes.TrimSpace(v)))
	}
	r.cur = &formPart{Header: header, r: r}
	if disposition, params, err := mime.ParseMediaType(header.Get("Content-Disposition")); err == nil {
		if disposition == "form-data" {
			r.cur.name = params["name"]
		}
		r.cur.filename = params["filename"]
	}
	return r.cur, nil
}

// skipPreamble reads up to and including the first delimiter line, "--boundary".
func (r *formReader) skipPreamble() error {
	dash, closing := []byte("--"+r.boundary), []byte("--"+r.boundary+"--")
	for {
		raw, err := r.br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			continue // a long preamble line: not the delimiter
		}
		if err != nil && (err != io.EOF || len(raw) == 0) {
			if err == io.EOF {
				return io.ErrUnexpectedEOF
			}
			return err
		}
		line := bytes.TrimRight(raw, " \t\r\n")
		switch {
		case bytes.Equal(line, dash):
			if !bytes.HasSuffix(raw, []byte("\r\n")) {
				r.delim = r.delim[1:] // lines end in LF alone
			}
			return nil
		case bytes.Equal(line, closing):
			r.closed = true
			return nil
		case err == io.EOF:
			return io.ErrUnexpectedEOF
		}
	}
}

// line reads a line of at most the buffer's size and returns it without its line end; the
// body's last line may have none.
func (r *formReader) line() ([]byte, error) {
	raw, err := r.br.ReadSlice('\n')
	switch {
	case err == bufio.ErrBufferFull:
		return nil, errors.New("multipart: a line is too long")
	case err == io.EOF && len(raw) == 0:
		return nil, io.ErrUnexpectedEOF
	case err != nil && err != io.EOF:
		return nil, err
	}
	raw = bytes.TrimSuffix(raw, []byte("\n"))
	return bytes.TrimSuffix(raw, []byte("\r")), nil
}

// formPart is one part: its header, and its body as an io.Reader.
type formPart struct {
	Header textproto.MIMEHeader
	// name and filename are from its Content-Disposition (name only for form-data).
	name, filename string
	r              *formReader
	avail          int  // bytes buffered in r.br that are body, known from the last scan
	atEnd          bool // the delimiter follows those bytes
	done           bool
}

func (p *formPart) Read(b []byte) (int, error) {
	if p.done {
		return 0, io.EOF
	}
	for p.avail == 0 && !p.atEnd {
		if err := p.scan(); err != nil {
			return 0, err
		}
	}
	if p.avail == 0 {
		_, _ = p.r.br.Discard(len(p.r.delim)) // buffered: the scan saw it
		p.done = true
		return 0, io.EOF
	}
	n, _ := p.r.br.Read(b[:min(len(b), p.avail)]) // buffered: no read from the connection
	p.avail -= n
	return n, nil
}

// scan looks through what the reader has buffered: the bytes before the delimiter, or before
// a tail too short to tell, are body. With too little buffered to tell, it reads more.
func (p *formPart) scan() error {
	br, delim := p.r.br, p.r.delim
	buf, _ := br.Peek(br.Buffered())
	from := 0
	for {
		i := bytes.Index(buf[from:], delim)
		if i < 0 {
			break
		}
		i += from
		after := i + len(delim)
		if after == len(buf) {
			// The byte after it tells whether it is the delimiter. With the buffer full,
			// what comes before it goes first to make room; then read more.
			if len(buf) == br.Size() {
				if i == 0 {
					return errors.New("multipart: the reader's buffer is no longer than the delimiter")
				}
				p.avail = i
				return nil
			}
			return p.more(len(buf))
		}
		switch buf[after] {
		case '-', ' ', '\t', '\r', '\n':
			p.avail, p.atEnd = i, true
			return nil
		}
		from = i + 1 // the boundary followed by other text is body
	}
	if safe := len(buf) - len(delim); safe > 0 {
		p.avail = safe
		return nil
	}
	return p.more(len(buf))
}

// more has the reader buffer more than n bytes.
func (p *formPart) more(n int) error {
	if _, err := p.r.br.Peek(n + 1); err != nil {
		if err == io.EOF {
			return io.ErrUnexpectedEOF
		}
		return err
	}
	return nil
}

// FormName is the part's form field name ("" when it is not form-data).
func (p *formPart) FormName() string { return p.name }

// FileName is the part's filename as the client sent it, folders included: manifest errors
// name the path the user typed. "" when there is none.
func (p *formPart) FileName() string { return p.filename }
