package rest

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"testing"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/api"
)

// BenchmarkPrint compares a REST GET of 1000 items (HTTP, Basic login, JSON) with the
// same print through api.Exec in-process, the floor REST adds its cost to.
func BenchmarkPrint(b *testing.B) {
	r := newRig(b)
	sess := &control.Session{}
	for i := 0; i < 1000; i++ {
		api.Exec(context.Background(), r.ex, sess, api.Request{Command: "/system/script/add",
			Attrs: []api.Attr{{Name: "name", Value: fmt.Sprintf("s%d", i)}, {Name: "source", Value: ":put 1"}}})
	}
	b.Run("api.Exec", func(b *testing.B) {
		for b.Loop() {
			if out := api.Exec(context.Background(), r.ex, sess, api.Request{Command: "/system/script/print"}); len(out) != 1001 {
				b.Fatalf("%d replies", len(out))
			}
		}
	})
	b.Run("REST", func(b *testing.B) {
		for b.Loop() {
			req, _ := http.NewRequest("GET", r.url+"/rest/system/script", nil)
			req.SetBasicAuth("admin", adminPW)
			resp, err := http.DefaultClient.Do(req)
			if err != nil || resp.StatusCode != 200 {
				b.Fatalf("%v %v", err, resp)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
	b.Run("REST-login-only", func(b *testing.B) {
		for b.Loop() {
			req, _ := http.NewRequest("GET", r.url+"/rest/system/identity", nil)
			req.SetBasicAuth("admin", adminPW)
			resp, err := http.DefaultClient.Do(req)
			if err != nil || resp.StatusCode != 200 {
				b.Fatalf("%v %v", err, resp)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
}
