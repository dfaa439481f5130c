// Package sdnotify speaks the systemd service notification protocol
// (sd_notify(3)) in pure Go, so that routerd can be Type=notify and run
// under WatchdogSec= without linking libsystemd through cgo.
package sdnotify

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"
)

// Notify sends state (for example "READY=1", "STOPPING=1" or
// "STATUS=...") to the socket named by $NOTIFY_SOCKET. It returns false
// and no error when that variable is unset, which is how a daemon started
// outside systemd, or under a unit that is not Type=notify, looks.
func Notify(state string) (bool, error) {
	path := os.Getenv("NOTIFY_SOCKET")
	if path == "" {
		return false, nil
	}
	// systemd hands out either a filesystem path or an abstract socket
	// written with a leading '@'; Go's sockaddr conversion already maps
	// '@' to the abstract namespace's leading NUL. Anything else (such as
	// the vsock: form used for VMs) is not for a daemon on the host.
	if path[0] != '/' && path[0] != '@' {
		return false, fmt.Errorf("sdnotify: unsupported NOTIFY_SOCKET %q", path)
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return false, fmt.Errorf("sdnotify: %w", err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(state)); err != nil {
		return false, fmt.Errorf("sdnotify: send %q: %w", state, err)
	}
	return true, nil
}

// WatchdogInterval returns the watchdog timeout systemd expects this
// process to honour, from $WATCHDOG_USEC. It reports false when the
// watchdog is off, the value is malformed, or $WATCHDOG_PID names another
// process (the variables leaked into a child, which must not ping on the
// service's behalf).
func WatchdogInterval() (time.Duration, bool) {
	usec, err := strconv.ParseUint(os.Getenv("WATCHDOG_USEC"), 10, 64)
	if err != nil || usec == 0 || usec > uint64(time.Duration(1<<63-1)/time.Microsecond) {
		return 0, false
	}
	if s := os.Getenv("WATCHDOG_PID"); s != "" {
		pid, err := strconv.Atoi(s)
		if err != nil || pid != os.Getpid() {
			return 0, false
		}
	}
	return time.Duration(usec) * time.Microsecond, true
}

// RunWatchdog sends WATCHDOG=1 at half the watchdog interval, as
// sd_watchdog_enabled(3) recommends, until ctx ends. It returns at once if
// the watchdog is off. Send errors are ignored: the remedy for a watchdog
// that cannot be reached is the restart systemd performs anyway.
//
// Run it from the goroutine tree whose health it vouches for and cancel
// ctx when that work wedges; a ping that outlives a stuck daemon defeats
// the watchdog.
func RunWatchdog(ctx context.Context) {
	interval, ok := WatchdogInterval()
	if !ok {
		return
	}
	// Ping once at start: startup may already have used much of the
	// first interval.
	Notify("WATCHDOG=1")
	// A nonsense WATCHDOG_USEC=1 must not turn this into a busy loop.
	t := time.NewTicker(max(interval/2, time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			Notify("WATCHDOG=1")
		}
	}
}
