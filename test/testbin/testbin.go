// Package testbin builds routerd and routerctl once for a test package that runs them as
// processes (integration, netns and interop tests).
package testbin

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
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
