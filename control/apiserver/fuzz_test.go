package apiserver

import (
	"bytes"
	"context"
	"net"
	"testing"
	"time"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/api"
)

// FuzzConn feeds arbitrary bytes to a logged-in connection: the server must
// answer or close, never hang or crash, whatever arrives.
func FuzzConn(f *testing.F) {
	r := newRig(f)
	f.Add(api.EncodeSentence("/system/script/print", "?name=x", "?#|!"))
	f.Add(api.EncodeSentence("/system/script/listen", ".tag=1"))
	f.Add(append(api.EncodeSentence("/cancel"), api.EncodeSentence("/system/identity/print", ".proplist=name")...))
	f.Add(api.EncodeSentence("/system/script/add", "=name=a", "=source=:put 1", ".tag=x"))
	f.Add([]byte{0xF8, 1, 2})
	f.Fuzz(func(t *testing.T, data []byte) {
		a, b := net.Pipe()
		done := make(chan struct{})
		sess := &control.Session{User: "admin"}
		go func() { r.srv.serve(context.Background(), b, "api", sess); close(done) }()
		a.SetDeadline(time.Now().Add(10 * time.Second))
		rd := api.NewReader(a)
		go func() {
			// Drain replies so the server never blocks writing.
			for {
				if _, err := rd.ReadSentence(); err != nil {
					return
				}
			}
		}()
		a.Write(data)
		// Whatever the data started, a /quit after it (if the stream is still in
		// step) or the close ends the connection.
		a.Write(api.EncodeSentence("/quit"))
		a.Close()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("server did not end the connection after %q", bytes.TrimSpace(data))
		}
	})
}
