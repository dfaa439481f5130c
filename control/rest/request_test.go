package rest

import (
	"errors"
	"net/http"
	"runtime"
	"strings"
	"testing"

	"github.com/routerd/routerd/control/menu"
)

func TestParse(t *testing.T) {
	tree := menu.Default()
	for _, c := range []struct {
		method, path, query, body string
		op                        op
		menu, cmd, ref            string
		status                    int // 0: parses
	}{
		{method: "GET", path: "/rest/ip/service", op: opPrint, menu: "/ip/service"},
		{method: "GET", path: "/rest/ip/service/", op: opPrint, menu: "/ip/service"},
		{method: "GET", path: "/rest/ip/service/*3", op: opGetOne, menu: "/ip/service", ref: "*3"},
		{method: "GET", path: "/rest/ip/service/www", query: "port=80", op: opGetOne, menu: "/ip/service", ref: "www"},
		{method: "PUT", path: "/rest/system/script", body: `{"name":"a"}`, op: opAdd, menu: "/system/script"},
		{method: "PATCH", path: "/rest/system/script/*1", body: `{"name":"a"}`, op: opSet, menu: "/system/script", ref: "*1"},
		{method: "PATCH", path: "/rest/system/identity", body: `{"name":"a"}`, op: opSet, menu: "/system/identity"},
		{method: "DELETE", path: "/rest/system/script/*1", op: opRemove, menu: "/system/script", ref: "*1"},
		{method: "POST", path: "/rest/system/script/run", body: `{".id":"*1"}`, op: opCommand, menu: "/system/script", cmd: "run"},
		{method: "POST", path: "/rest/ip/service/print", op: opCommand, menu: "/ip/service", cmd: "print"},
		{method: "GET", path: "/rest", status: 400},
		{method: "GET", path: "/restx", status: 404},
		{method: "GET", path: "/rest/ip//service", status: 400},
		{method: "GET", path: "/rest/system/identity/x", status: 400},
		{method: "GET", path: "/rest/ip/service", query: "a=%zz", status: 400},
		{method: "GET", path: "/rest/ip/service", query: ".tag=1", status: 400},
		{method: "PUT", path: "/rest/system/script/*1", body: `{}`, status: 400},
		{method: "PATCH", path: "/rest/system/script", body: `{}`, status: 400},
		{method: "DELETE", path: "/rest/system/script", status: 400},
		{method: "PUT", path: "/rest/system/script", body: `{"a":null}`, status: 400},
		{method: "PUT", path: "/rest/system/script", body: `{"a":1e3}`, status: 400},
		{method: "PUT", path: "/rest/system/script", body: `{"a":"b"} {}`, status: 400},
		{method: "PUT", path: "/rest/system/script", query: "a=b", body: `{}`, status: 400},
		{method: "POST", path: "/rest/ip/service/print", body: `{".query":[1]}`, status: 400},
		{method: "HEAD", path: "/rest/ip/service", status: 405},
	} {
		got, err := parse(tree, c.method, c.path, c.query, []byte(c.body))
		if c.status != 0 {
			var re *reqError
			if !errors.As(err, &re) || re.status != c.status {
				t.Errorf("%s %s %s: got %v, want status %d", c.method, c.path, c.body, err, c.status)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s %s: %v", c.method, c.path, err)
			continue
		}
		if got.op != c.op || got.menu.Path != c.menu || got.cmd != c.cmd || got.ref != c.ref {
			t.Errorf("%s %s: got op %d menu %s cmd %q ref %q", c.method, c.path, got.op, got.menu.Path, got.cmd, got.ref)
		}
	}
}

// FuzzParse feeds arbitrary requests to the REST parser: it must not panic, and what it
// accepts must name a menu and carry only well-formed arguments.
func FuzzParse(f *testing.F) {
	tree := menu.Default()
	f.Add("GET", "/rest/ip/service", "name=www&.proplist=name,port", "")
	f.Add("PUT", "/rest/system/script", "", `{"name":"a","source":":put 1","n":5,"b":true}`)
	f.Add("PATCH", "/rest/ip/service/www", "", `{"port":"8080"}`)
	f.Add("POST", "/rest/ip/service/print", "", `{".proplist":"name",".query":["port=22","#|!"]}`)
	f.Add("DELETE", "/rest/system/script/*1", "", "")
	f.Add("PUT", "/rest/system/script", "", `{"name":`+strings.Repeat("[", 20000)+`}`)
	f.Fuzz(func(t *testing.T, method, path, query, body string) {
		var c *call
		var err error
		var a, b runtime.MemStats
		runtime.ReadMemStats(&a)
		c, err = parse(tree, method, path, query, []byte(body))
		runtime.ReadMemStats(&b)
		// Parsing costs in proportion to the request, however deeply its JSON nests.
		if n, size := b.TotalAlloc-a.TotalAlloc, uint64(len(method)+len(path)+len(query)+len(body)); n > 64*size+1<<20 {
			t.Fatalf("parsing a %d-byte request allocated %d bytes", size, n)
		}
		if err != nil {
			var re *reqError
			if !errors.As(err, &re) || re.status < 400 || re.status > 499 || http.StatusText(re.status) == "" {
				t.Fatalf("error %v is not a client error", err)
			}
			return
		}
		if c.menu == nil {
			t.Fatal("accepted without a menu")
		}
		if _, ok := tree.Get(c.menu.Path); !ok {
			t.Fatalf("menu %q not in the tree", c.menu.Path)
		}
		for _, a := range c.attrs {
			if a.Name == "" {
				t.Fatalf("empty argument name in %q", body)
			}
		}
		if (c.op == opGetOne || c.op == opRemove) && c.ref == "" {
			t.Fatal("item operation without an item")
		}
	})
}
