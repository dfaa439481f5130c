package api

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"sync"
)

// Limits on what a Reader accepts. The API listens before login, so every
// length on the wire is attacker-chosen; these bound the memory one
// connection can pin. Writers enforce the same limits so that anything
// routerd sends, routerd can read back.
const (
	// MaxWordLen is the longest word accepted, in bytes. The wire format
	// allows up to 4 GiB; nothing RouterOS sends (script sources, file
	// contents) comes near 16 MiB.
	MaxWordLen = 16 << 20
	// MaxWords is the most words one sentence may hold.
	MaxWords = 65536
	// MaxSentenceLen bounds the sum of word lengths in one sentence, so
	// MaxWords words of MaxWordLen each cannot add up to a terabyte.
	MaxSentenceLen = 2 * MaxWordLen
)

var (
	// ErrWordTooLong reports a word longer than MaxWordLen.
	ErrWordTooLong = errors.New("api: word too long")
	// ErrTooManyWords reports a sentence with more than MaxWords words.
	ErrTooManyWords = errors.New("api: too many words in sentence")
	// ErrSentenceTooLong reports a sentence whose words add up to more
	// than MaxSentenceLen bytes.
	ErrSentenceTooLong = errors.New("api: sentence too long")
	// ErrBadLength reports a length prefix starting with a reserved
	// control byte (0xF8..0xFF).
	ErrBadLength = errors.New("api: reserved control byte in word length")
	// ErrBadWord reports a word that cannot appear where it was found:
	// an empty word inside a sentence to be written, or a request word
	// that is not a command, attribute, API attribute or query.
	ErrBadWord = errors.New("api: malformed word")
)

// appendLength appends the RouterOS encoding of n in its shortest form,
// the only one the protocol table describes and so the only one every
// client can be trusted to read.
func appendLength(b []byte, n uint64) []byte {
	switch {
	case n < 0x80:
		return append(b, byte(n))
	case n < 0x4000:
		return append(b, byte(n>>8)|0x80, byte(n))
	case n < 0x200000:
		return append(b, byte(n>>16)|0xC0, byte(n>>8), byte(n))
	case n < 0x10000000:
		return append(b, byte(n>>24)|0xE0, byte(n>>16), byte(n>>8), byte(n))
	case n <= 0xFFFFFFFF:
		return append(b, 0xF0, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	panic(fmt.Sprintf("api: word length %d does not fit the wire format", n))
}

// AppendWord appends w, with its length prefix, to b. AppendWord(b, "")
// appends the zero-length word that ends a sentence. It panics if w is
// longer than the 4 GiB the wire format can express.
func AppendWord(b []byte, w string) []byte {
	b = appendLength(b, uint64(len(w)))
	return append(b, w...)
}

// EncodeSentence returns words framed as one sentence, terminator
// included. It is for fixed sentences and tests: it panics on an empty
// word, because that would end the sentence early and desynchronise the
// peer. Use Writer.WriteSentence for words built from input.
func EncodeSentence(words ...string) []byte {
	n := 1
	for _, w := range words {
		if w == "" {
			panic("api: EncodeSentence: empty word inside a sentence")
		}
		n += 5 + len(w)
	}
	b := make([]byte, 0, n)
	for _, w := range words {
		b = AppendWord(b, w)
	}
	return append(b, 0)
}

// smallWord is the size up to which a word is read straight into a reused
// buffer. Larger words grow with the bytes that actually arrive, so a
// forged 16 MiB length backed by nothing costs no 16 MiB allocation.
const smallWord = 64 << 10

// Reader reads sentences from a stream. It is not safe for concurrent use;
// a connection has one reading goroutine.
type Reader struct {
	br      *bufio.Reader
	scratch []byte
	// maxWord and maxSentence are the limits in force (0: MaxWordLen and
	// MaxSentenceLen); a server lowers them until the client has logged in.
	maxWord, maxSentence int
	// skip: a sentence past the limits is read through to its end without keeping
	// what is over (SkippedError) instead of failing the stream.
	skip bool
}

// SkippedError is ReadSentence's answer to a sentence past the limits when the reader
// skips (SetSkip): the words over the limits were read and thrown away, the stream is
// still in step, and the words that fit are returned beside it (a .tag among them
// names the reply).
type SkippedError struct{ Err error }

func (e *SkippedError) Error() string { return e.Err.Error() }
func (e *SkippedError) Unwrap() error { return e.Err }

// SetSkip makes the reader skip sentences past its limits (see SkippedError) rather
// than fail: for a client that has logged in, whose one oversized command should be
// refused without closing the connection.
func (r *Reader) SetSkip(skip bool) { r.skip = skip }

// SetLimits sets the longest word and sentence accepted from now on (0: the protocol's
// maximums). A server keeps them small before login, so that strangers cannot make it
// buffer megabytes per connection.
func (r *Reader) SetLimits(word, sentence int) {
	r.maxWord, r.maxSentence = word, sentence
}

// NewReader returns a Reader reading from r.
func NewReader(r io.Reader) *Reader {
	return &Reader{br: bufio.NewReader(r)}
}

// ReadSentence reads the next sentence and returns its words without the
// terminator. A lone terminator yields an empty, non-nil sentence, which
// RouterOS ignores and callers should too.
//
// It returns io.EOF only when the stream ends exactly between sentences,
// and io.ErrUnexpectedEOF when it ends inside one. After any error the
// stream position is unknown and the connection should be closed.
func (r *Reader) ReadSentence() ([]string, error) {
	words := []string{}
	total := 0
	var skipped error
	for {
		n, err := r.readLength()
		if err != nil {
			if err == io.EOF && (len(words) > 0 || skipped != nil) {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		if n == 0 {
			if skipped != nil {
				return words, &SkippedError{skipped}
			}
			return words, nil
		}
		maxWord, maxSentence := MaxWordLen, MaxSentenceLen
		if r.maxWord > 0 {
			maxWord = r.maxWord
		}
		if r.maxSentence > 0 {
			maxSentence = r.maxSentence
		}
		var over error
		switch {
		case len(words) == MaxWords:
			over = ErrTooManyWords
		case n > uint32(maxWord):
			over = fmt.Errorf("%w: %d bytes, at most %d", ErrWordTooLong, n, maxWord)
		case total+int(n) > maxSentence:
			over = fmt.Errorf("%w: over %d bytes", ErrSentenceTooLong, maxSentence)
		}
		if over != nil {
			if !r.skip {
				return nil, over
			}
			if skipped == nil {
				skipped = over
			}
			// Read through, keeping nothing: the bytes pass through a small buffer.
			if _, err := io.CopyN(io.Discard, r.br, int64(n)); err != nil {
				return nil, noEOF(err)
			}
			continue
		}
		total += int(n)
		w, err := r.readWord(int(n))
		if err != nil {
			return nil, err
		}
		words = append(words, w)
	}
}

// readLength decodes one length prefix. It returns io.EOF only if the
// stream ended before the prefix's first byte.
func (r *Reader) readLength() (uint32, error) {
	c, err := r.br.ReadByte()
	if err != nil {
		return 0, err
	}
	var extra int
	switch {
	case c < 0x80:
		return uint32(c), nil
	case c < 0xC0:
		extra, c = 1, c&0x3F
	case c < 0xE0:
		extra, c = 2, c&0x1F
	case c < 0xF0:
		extra, c = 3, c&0x0F
	case c < 0xF8:
		// 0xF1..0xF7 are read like 0xF0, as go-routeros reads them:
		// only 0xF8 and up are reserved as control bytes.
		extra, c = 4, 0
	default:
		return 0, fmt.Errorf("%w: 0x%02X", ErrBadLength, c)
	}
	var buf [4]byte
	if _, err := io.ReadFull(r.br, buf[:extra]); err != nil {
		return 0, noEOF(err)
	}
	n := uint32(c)
	for _, b := range buf[:extra] {
		n = n<<8 | uint32(b)
	}
	return n, nil
}

func (r *Reader) readWord(n int) (string, error) {
	if n <= smallWord {
		if cap(r.scratch) < n {
			r.scratch = make([]byte, max(n, 512))
		}
		buf := r.scratch[:n]
		if _, err := io.ReadFull(r.br, buf); err != nil {
			return "", noEOF(err)
		}
		return string(buf), nil
	}
	buf := make([]byte, 0, smallWord)
	for len(buf) < n {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, min(len(buf), n-len(buf)))
		}
		end := min(cap(buf), n)
		k, err := io.ReadFull(r.br, buf[len(buf):end])
		buf = buf[:len(buf)+k]
		if err != nil {
			return "", noEOF(err)
		}
	}
	return string(buf), nil
}

// noEOF turns an end of stream inside a sentence into io.ErrUnexpectedEOF,
// so that io.EOF keeps meaning "clean end between sentences".
func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// Writer writes sentences to a stream. It is safe for concurrent use:
// replies to tagged requests, listen streams and !fatal may come from
// different goroutines, and each sentence goes out whole.
type Writer struct {
	mu  sync.Mutex
	bw  *bufio.Writer
	hdr []byte
}

// NewWriter returns a Writer writing to w.
func NewWriter(w io.Writer) *Writer {
	return &Writer{bw: bufio.NewWriter(w), hdr: make([]byte, 0, 5)}
}

// WriteSentence writes words as one sentence and flushes it. It checks the
// words against the Reader's limits first and writes nothing if they fail,
// so a bad reply cannot leave half a sentence on the wire. Once a write to
// the underlying stream fails, every later call returns that error.
func (w *Writer) WriteSentence(words ...string) error {
	if err := checkSentence(words); err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, word := range words {
		w.hdr = appendLength(w.hdr[:0], uint64(len(word)))
		w.bw.Write(w.hdr)
		w.bw.WriteString(word)
	}
	w.bw.WriteByte(0)
	return w.bw.Flush()
}

func checkSentence(words []string) error {
	if len(words) > MaxWords {
		return fmt.Errorf("%w: %d words", ErrTooManyWords, len(words))
	}
	total := 0
	for i, word := range words {
		switch {
		case word == "":
			return fmt.Errorf("%w: word %d is empty and would end the sentence", ErrBadWord, i)
		case len(word) > MaxWordLen:
			return fmt.Errorf("%w: word %d has %d bytes", ErrWordTooLong, i, len(word))
		}
		total += len(word)
	}
	if total > MaxSentenceLen {
		return fmt.Errorf("%w: %d bytes", ErrSentenceTooLong, total)
	}
	return nil
}

// Attr is one =name=value attribute word.
type Attr struct{ Name, Value string }

// Request is a request sentence split by word kind.
type Request struct {
	// Command is the first word, a menu path such as /interface/gre/add.
	Command string
	// Attrs are the =name=value words in the order sent. Names may start
	// with '.', as in =.id=*1 or =.proplist=name; see Get.
	Attrs []Attr
	// API holds the API attribute words (.tag=N, .proplist=a,b), keyed by
	// name including the leading '.'. Nil when there are none. When a
	// name repeats, the last word wins.
	API map[string]string
	// Queries are the ?-words in order, without the '?'. Their order is
	// significant: they drive a stack.
	Queries []string
}

// ParseRequest splits a request sentence. Every word after the command
// must be an attribute (=name=value, with a non-empty name and the second
// '=' present even when the value is empty), an API attribute
// (.name=value) or a query (?...); anything else is ErrBadWord.
func ParseRequest(words []string) (Request, error) {
	var req Request
	if len(words) == 0 {
		return req, fmt.Errorf("%w: empty sentence", ErrBadWord)
	}
	if !strings.HasPrefix(words[0], "/") {
		return req, badWord(words[0], "command must start with '/'")
	}
	req.Command = words[0]
	for _, w := range words[1:] {
		switch {
		case strings.HasPrefix(w, "="):
			name, value, ok := strings.Cut(w[1:], "=")
			if !ok {
				return Request{}, badWord(w, "attribute needs =name=value")
			}
			if name == "" {
				return Request{}, badWord(w, "attribute name is empty")
			}
			req.Attrs = append(req.Attrs, Attr{Name: name, Value: value})
		case strings.HasPrefix(w, "."):
			name, value, ok := strings.Cut(w, "=")
			if !ok {
				return Request{}, badWord(w, "API attribute needs .name=value")
			}
			if name == "." {
				return Request{}, badWord(w, "API attribute name is empty")
			}
			if req.API == nil {
				req.API = make(map[string]string)
			}
			req.API[name] = value
		case strings.HasPrefix(w, "?"):
			if len(w) == 1 {
				return Request{}, badWord(w, "empty query")
			}
			req.Queries = append(req.Queries, w[1:])
		default:
			return Request{}, badWord(w, "expected =attribute, .api-attribute or ?query")
		}
	}
	return req, nil
}

func badWord(w, why string) error {
	// Words can be megabytes long; an error message needs only the start.
	const clip = 64
	if len(w) > clip {
		w = w[:clip] + "..."
	}
	return fmt.Errorf("%w %q: %s", ErrBadWord, w, why)
}

// Words encodes r back into a sentence: the command, the attributes in
// order, the API attributes sorted by name, then the queries in order.
// For a Request from ParseRequest, ParseRequest(r.Words()) gives r back.
// It does not validate a hand-built Request.
func (r Request) Words() []string {
	words := make([]string, 0, 1+len(r.Attrs)+len(r.API)+len(r.Queries))
	words = append(words, r.Command)
	for _, a := range r.Attrs {
		words = append(words, "="+a.Name+"="+a.Value)
	}
	names := make([]string, 0, len(r.API))
	for name := range r.API {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		words = append(words, name+"="+r.API[name])
	}
	for _, q := range r.Queries {
		words = append(words, "?"+q)
	}
	return words
}

// Get returns the value of the named attribute. Clients send some API
// attributes in either form (librouteros sends =.proplist=, others
// .proplist=), and RouterOS accepts both; Get looks at the last matching
// attribute word, then at the API attributes.
func (r Request) Get(name string) (string, bool) {
	for i := len(r.Attrs) - 1; i >= 0; i-- {
		if r.Attrs[i].Name == name {
			return r.Attrs[i].Value, true
		}
	}
	v, ok := r.API[name]
	return v, ok
}
