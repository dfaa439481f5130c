package email

import (
	"bytes"
	"encoding/base64"
	"io"
)

// newB64 decodes base64 with line breaks.
func newB64(raw []byte) io.Reader {
	return base64.NewDecoder(base64.StdEncoding, bytes.NewReader(bytes.Join(bytes.Fields(raw), nil)))
}
