package tftp

import (
	"bufio"
	"io"
)

// netasciiReader turns a local file into netascii (RFC 764): LF becomes CR LF and a bare
// CR becomes CR NUL.
type netasciiReader struct {
	r       *bufio.Reader
	pending int // byte still to emit after a CR: '\n' or 0; -1 when none
}

func newNetasciiReader(r io.Reader) *netasciiReader {
	return &netasciiReader{r: bufio.NewReader(r), pending: -1}
}

func (n *netasciiReader) Read(p []byte) (int, error) {
	i := 0
	for i < len(p) {
		if n.pending >= 0 {
			p[i] = byte(n.pending)
			n.pending = -1
			i++
			continue
		}
		c, err := n.r.ReadByte()
		if err != nil {
			if i > 0 {
				return i, nil
			}
			return 0, err
		}
		switch c {
		case '\n':
			p[i], n.pending = '\r', '\n'
		case '\r':
			p[i], n.pending = '\r', 0
		default:
			p[i] = c
		}
		i++
	}
	return i, nil
}

// netasciiWriter undoes netasciiReader: CR LF becomes LF and CR NUL becomes CR. A CR at
// the end of one block waits for the first byte of the next.
type netasciiWriter struct {
	w  *bufio.Writer
	cr bool
}

func newNetasciiWriter(w io.Writer) *netasciiWriter {
	return &netasciiWriter{w: bufio.NewWriter(w)}
}

func (n *netasciiWriter) Write(p []byte) (int, error) {
	for _, c := range p {
		if n.cr {
			n.cr = false
			switch c {
			case '\n':
				if err := n.w.WriteByte('\n'); err != nil {
					return 0, err
				}
				continue
			case 0:
				if err := n.w.WriteByte('\r'); err != nil {
					return 0, err
				}
				continue
			}
			// A CR followed by anything else is not netascii; keep both bytes.
			if err := n.w.WriteByte('\r'); err != nil {
				return 0, err
			}
		}
		if c == '\r' {
			n.cr = true
			continue
		}
		if err := n.w.WriteByte(c); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// Flush writes what is buffered, including a CR left at the very end.
func (n *netasciiWriter) Flush() error {
	if n.cr {
		n.cr = false
		if err := n.w.WriteByte('\r'); err != nil {
			return err
		}
	}
	return n.w.Flush()
}
