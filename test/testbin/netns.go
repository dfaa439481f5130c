package testbin

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// Need skips the test unless it runs as root (network namespaces) with ip, nsenter and
// the named tools installed (CI installs every one .ci/run lists).
func Need(t testing.TB, tools ...string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (network namespaces)")
	}
	for _, tool := range append([]string{"ip", "nsenter"}, tools...) {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s", tool)
		}
	}
}

// Run runs a command and fails the test when it fails; it returns the combined output.
func Run(t testing.TB, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// In is a command run inside namespace ns.
func In(ns string, args ...string) *exec.Cmd {
	return exec.Command("nsenter", append([]string{"--net=/run/netns/" + ns}, args...)...)
}

// RunIn runs a command inside namespace ns and fails the test when it fails.
func RunIn(t testing.TB, ns string, args ...string) string {
	t.Helper()
	out, err := In(ns, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("in %s: %s: %v\n%s", ns, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// Netns makes a namespace named prefix, this process's id and tag (unique beside other
// engineers' runs), with lo up; it is deleted at cleanup.
func Netns(t testing.TB, prefix, tag string) string {
	t.Helper()
	name := fmt.Sprintf("%s%d%s", prefix, os.Getpid(), tag)
	exec.Command("ip", "netns", "del", name).Run() // left over by a killed run of this pid
	Run(t, "ip", "netns", "add", name)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
	Run(t, "ip", "-n", name, "link", "set", "lo", "up")
	return name
}

// Veth joins namespace a (link an) and namespace b (link bn); with up, both ends are set
// up (else routerd, or the test, brings them up).
func Veth(t testing.TB, a, an, b, bn string, up bool) {
	t.Helper()
	Run(t, "ip", "link", "add", an, "netns", a, "type", "veth", "peer", "name", bn, "netns", b)
	if up {
		Run(t, "ip", "-n", a, "link", "set", an, "up")
		Run(t, "ip", "-n", b, "link", "set", bn, "up")
	}
}

// WaitTimeout is how long Eventually waits by default: about liveness, not speed.
const WaitTimeout = 30 * time.Second

// Eventually polls cond until it holds and fails the test with what, and the last thing
// cond said, after timeout (WaitTimeout when 0). Engines apply asynchronously: tests wait
// for the condition instead of sleeping before they assert.
func Eventually(t testing.TB, what string, timeout time.Duration, cond func() (bool, string)) {
	t.Helper()
	if timeout == 0 {
		timeout = WaitTimeout
	}
	deadline := time.Now().Add(timeout)
	for {
		ok, last := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s; last: %s", timeout, what, last)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Repeat runs try every pace (after each try) until the returned stop is called, which
// waits for the try under way and says how many ran and how many returned true: a probe
// of something that must not happen over a span (traffic leaking while routerd starts).
func Repeat(pace time.Duration, try func() bool) (stop func() (tries, hits int64)) {
	var n, hit int64
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			n++
			if try() {
				hit++
			}
			select {
			case <-quit:
				return
			case <-time.After(pace):
			}
		}
	}()
	return func() (int64, int64) {
		close(quit)
		<-done
		return n, hit
	}
}
