package sdnotify

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// listen opens a unixgram socket at name and points NOTIFY_SOCKET at it.
func listen(t *testing.T, name string) *net.UnixConn {
	t.Helper()
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	t.Setenv("NOTIFY_SOCKET", name)
	return conn
}

func recv(t *testing.T, conn *net.UnixConn) string {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 4096)
	n, err := conn.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	return string(buf[:n])
}

func TestNotifyPathSocket(t *testing.T) {
	conn := listen(t, filepath.Join(t.TempDir(), "notify.sock"))
	sent, err := Notify("READY=1")
	if err != nil || !sent {
		t.Fatalf("Notify = %v, %v", sent, err)
	}
	if got := recv(t, conn); got != "READY=1" {
		t.Fatalf("received %q", got)
	}
	if _, err := Notify("STATUS=ready\nMAINPID=1"); err != nil {
		t.Fatal(err)
	}
	if got := recv(t, conn); got != "STATUS=ready\nMAINPID=1" {
		t.Fatalf("received %q", got)
	}
}

func TestNotifyAbstractSocket(t *testing.T) {
	conn := listen(t, fmt.Sprintf("@routerd-sdnotify-test-%d-%d", os.Getpid(), time.Now().UnixNano()))
	if sent, err := Notify("READY=1"); err != nil || !sent {
		t.Fatalf("Notify = %v, %v", sent, err)
	}
	if got := recv(t, conn); got != "READY=1" {
		t.Fatalf("received %q", got)
	}
}

func TestNotifyNotUnderSystemd(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	if sent, err := Notify("READY=1"); sent || err != nil {
		t.Fatalf("Notify = %v, %v; want false, nil", sent, err)
	}
}

func TestNotifyErrors(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "vsock:2:1234")
	if sent, err := Notify("READY=1"); sent || err == nil {
		t.Fatalf("unsupported address: Notify = %v, %v", sent, err)
	}
	t.Setenv("NOTIFY_SOCKET", filepath.Join(t.TempDir(), "missing.sock"))
	if sent, err := Notify("READY=1"); sent || err == nil {
		t.Fatalf("missing socket: Notify = %v, %v", sent, err)
	}
}

func TestWatchdogInterval(t *testing.T) {
	self := strconv.Itoa(os.Getpid())
	tests := []struct {
		usec, pid string
		want      time.Duration
		ok        bool
	}{
		{"", "", 0, false},
		{"30000000", "", 30 * time.Second, true},
		{"30000000", self, 30 * time.Second, true},
		{"30000000", strconv.Itoa(os.Getpid() + 1), 0, false},
		{"30000000", "abc", 0, false},
		{"0", "", 0, false},
		{"-5", "", 0, false},
		{"1.5", "", 0, false},
		{"1", "", time.Microsecond, true},
		{"18446744073709551615", "", 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.usec+"/"+tc.pid, func(t *testing.T) {
			t.Setenv("WATCHDOG_USEC", tc.usec)
			t.Setenv("WATCHDOG_PID", tc.pid)
			got, ok := WatchdogInterval()
			if got != tc.want || ok != tc.ok {
				t.Fatalf("WatchdogInterval() = %v, %v; want %v, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestRunWatchdog(t *testing.T) {
	conn := listen(t, filepath.Join(t.TempDir(), "notify.sock"))
	t.Setenv("WATCHDOG_USEC", "20000")
	t.Setenv("WATCHDOG_PID", strconv.Itoa(os.Getpid()))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		RunWatchdog(ctx)
		close(done)
	}()
	for range 3 {
		if got := recv(t, conn); got != "WATCHDOG=1" {
			t.Fatalf("received %q", got)
		}
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("RunWatchdog did not return after cancel")
	}
}

func TestRunWatchdogDisabled(t *testing.T) {
	t.Setenv("WATCHDOG_USEC", "")
	done := make(chan struct{})
	go func() {
		RunWatchdog(context.Background())
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("RunWatchdog without a watchdog did not return")
	}
}
