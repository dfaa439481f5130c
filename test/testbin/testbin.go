// Package testbin builds routerd and routerctl once for a test package that runs them as
// processes (integration, netns and interop tests).
package testbin

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
)

// Main is a TestMain body: it builds both binaries into a temporary folder, sets *dir to
// it, runs the tests and removes the folder, returning the exit code:
//
//	func TestMain(m *testing.M) { os.Exit(testbin.Main(m, &binDir)) }
func Main(m *testing.M, dir *string) int {
	tmp, err := os.MkdirTemp("", "routerd-test-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)
	// The module root is two folders above this file.
	_, self, _, _ := runtime.Caller(0)
	build := exec.Command("go", "build", "-o", tmp+string(os.PathSeparator), "./cmd/routerd", "./cmd/routerctl")
	build.Dir = filepath.Join(filepath.Dir(self), "..", "..")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building routerd and routerctl:", err)
		return 1
	}
	*dir = tmp
	return m.Run()
}

// privateEnv names, in a test binary MainInNetns re-ran, the namespace it runs in.
const privateEnv = "ROUTERD_TEST_PRIVATE_NETNS"

// MainInNetns is Main for a package whose tests run routerd in the test's own network
// namespace (Options.Netns "") and talk to it over 127.0.0.1 (the management services'
// clients): as root, the test binary runs again inside a namespace of its own (lo up,
// deleted after), so routerd's engines (nftables tables, router advertisements, XDP on
// the Ethernet ports) never touch the machine's own network.
func MainInNetns(m *testing.M, dir *string) int {
	if os.Geteuid() != 0 || os.Getenv(privateEnv) != "" {
		return Main(m, dir)
	}
	name := fmt.Sprintf("rtest%d", os.Getpid())
	exec.Command("ip", "netns", "del", name).Run() // left over by a killed run of this pid
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "ip netns add %s: %v %s\n", name, err, out)
		return 1
	}
	defer exec.Command("ip", "netns", "del", name).Run()
	if out, err := exec.Command("ip", "-n", name, "link", "set", "lo", "up").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "lo up in %s: %v %s\n", name, err, out)
		return 1
	}
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	cmd := exec.Command("ip", append([]string{"netns", "exec", name, self}, os.Args[1:]...)...)
	cmd.Env = append(os.Environ(), privateEnv+"="+name)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	// ip execs the test binary in its place: it goes when this one is killed (go
	// test's timeout), and the namespace with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Run(); err != nil {
		if x, ok := err.(*exec.ExitError); ok {
			return x.ExitCode()
		}
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// inMachineNetns reports whether this process is in the network namespace of PID 1.
func inMachineNetns() bool {
	self, err1 := os.Readlink("/proc/self/ns/net")
	pid1, err2 := os.Readlink("/proc/1/ns/net")
	return err1 == nil && err2 == nil && self == pid1
}
