package user

import (
	"context"
	"net/netip"
	"strings"
	"testing"

	"github.com/routerd/routerd/control/script"
)

// TestActiveAndPassword: a login shows in /user active until its session ends; a user
// with only read,write,password changes their own password with /password, which asks
// for the old one and a matching confirmation.
func TestActiveAndPassword(t *testing.T) {
	r := newRig(t)
	r.run(t, `/user group add name=ops policy=read,write,password,api
/user add name=op group=ops password=first-pass-1`)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sess, err := r.auth.Login(ctx, "op", "first-pass-1", netip.MustParseAddr("198.18.0.9"), "api")
	if err != nil {
		t.Fatal(err)
	}
	out := r.run(t, "/user active print")
	if !strings.Contains(out, "op") || !strings.Contains(out, "198.18.0.9") || !strings.Contains(out, "api") || !strings.Contains(out, "ops") {
		t.Fatalf("/user active:\n%s", out)
	}
	con := &script.Console{Sess: sess}
	run := func(src string) error {
		var b strings.Builder
		return r.in.Run(context.Background(), con, src, &b)
	}
	if err := run(`/password old-password=wrong new-password=second-pass-2 confirm-new-password=second-pass-2`); err == nil || !strings.Contains(err.Error(), "old password") {
		t.Fatalf("wrong old password: %v", err)
	}
	if err := run(`/password old-password=first-pass-1 new-password=a confirm-new-password=b`); err == nil || !strings.Contains(err.Error(), "do not match") {
		t.Fatalf("mismatch: %v", err)
	}
	if err := run(`/password old-password=first-pass-1 new-password=second-pass-2 confirm-new-password=second-pass-2`); err != nil {
		t.Fatal(err)
	}
	if _, err := r.auth.Login(ctx, "op", "second-pass-2", netip.Addr{}, "api"); err != nil {
		t.Fatalf("new password: %v", err)
	}
	if _, err := r.auth.Login(ctx, "op", "first-pass-1", netip.Addr{}, "api"); err == nil {
		t.Fatal("old password still works")
	}
	sess.End()
	cancel()
	if out := r.run(t, "/user active print"); strings.Contains(out, "198.18.0.9") {
		t.Fatalf("ended session still listed:\n%s", out)
	}
}
