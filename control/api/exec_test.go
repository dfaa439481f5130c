package api

import (
	"context"
	"reflect"
	"testing"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/controltest"
)

func newExecutor(t *testing.T) *control.Executor {
	t.Helper()
	ex := controltest.New(t)
	return ex
}

func call(t *testing.T, ex *control.Executor, words ...string) [][]string {
	t.Helper()
	req, err := ParseRequest(words)
	if err != nil {
		t.Fatal(err)
	}
	return Exec(context.Background(), ex, &control.Session{}, req)
}

func TestExecSentences(t *testing.T) {
	ex := newExecutor(t)
	got := call(t, ex, "/interface/gre/add", "=name=gre1", "=remote-address=10.0.0.2", ".tag=7")
	if want := [][]string{{"!done", ".tag=7", "=ret=*1"}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("add: %q", got)
	}
	call(t, ex, "/interface/gre/add", "=name=gre2", "=remote-address=10.0.0.3", "=disabled=yes")

	got = call(t, ex, "/interface/gre/print", "?name=gre2", "=.proplist=.id,name,disabled")
	if want := [][]string{{"!re", "=.id=*2", "=name=gre2", "=disabled=true"}, {"!done"}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("print query: %q", got)
	}
	got = call(t, ex, "/interface/gre/print", "?name=gre1", "?name=gre2", "?#|", ".proplist=name")
	if len(got) != 3 {
		t.Fatalf("print or-query: %q", got)
	}
	got = call(t, ex, "/interface/gre/print", "?name=none")
	if want := [][]string{{"!empty"}, {"!done"}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("empty print: %q", got)
	}
	got = call(t, ex, "/interface/gre/set", "=.id=*1", "=mtu=1400")
	if want := [][]string{{"!done"}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("set: %q", got)
	}
	got = call(t, ex, "/interface/gre/get", "=.id=*1", "=value-name=mtu")
	if want := [][]string{{"!done", "=ret=1400"}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("get: %q", got)
	}
	got = call(t, ex, "/interface/gre/set", "=.id=*1", "=mtu=99999")
	if want := [][]string{{"!trap", "=category=1", "=message=value of mtu out of range (0..65536)"}, {"!done"}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("bad set: %q", got)
	}
	got = call(t, ex, "/interface/gre/remove", "=.id=*2")
	if want := [][]string{{"!done"}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("remove: %q", got)
	}
	got = call(t, ex, "/interface/nosuch/print")
	if got[0][0] != "!trap" {
		t.Fatalf("unknown menu: %q", got)
	}
	got = call(t, ex, "/system/identity/print")
	if want := [][]string{{"!re", "=.id=*1", "=name=MikroTik"}, {"!done"}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("identity: %q", got)
	}
}

// TestExecUnsetWord: =!name= unsets a property, as the console's !name and Ansible's
// community.routeros (remove_as_much_as_possible, '!prop' in data) send it.
func TestExecUnsetWord(t *testing.T) {
	ex := newExecutor(t)
	call(t, ex, "/interface/gre/add", "=name=gre1", "=remote-address=10.0.0.2", "=mtu=1400", "=comment=c")
	if got := call(t, ex, "/interface/gre/set", "=.id=*1", "=!mtu=", "=!comment="); !reflect.DeepEqual(got, [][]string{{"!done"}}) {
		t.Fatalf("set !mtu: %q", got)
	}
	// mtu back at its default (auto, shown as the MTU it gives), no comment.
	got := call(t, ex, "/interface/gre/print", "=.proplist=mtu,comment")
	if want := [][]string{{"!re", "=mtu=1476"}, {"!done"}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("after unset: %q", got)
	}
	got = call(t, ex, "/interface/gre/set", "=.id=*1", "=!mtu=1400")
	if got[0][0] != "!trap" {
		t.Fatalf("=!mtu=1400 accepted: %q", got)
	}
}
