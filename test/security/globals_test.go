package security

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// Globals made over the API: the one a /system script run makes stays after the
// connection ends, as RouterOS keeps globals until a reboot; the one the connection's
// own import makes goes with it; a script run is bounded in how many it may make.
// Driven by python3-librouteros, a real RouterOS API client.
func TestAPIGlobalsEndWithConnection(t *testing.T) {
	if _, err := os.Stat("/usr/lib/python3/dist-packages/librouteros"); err != nil {
		t.Skip("python3-librouteros not installed (see .ci/run)")
	}
	r := newRouter(t, []string{"api"})
	r.addUser("w", "write", "w-password-1")
	cmd := exec.Command("/usr/bin/python3", "testdata/globals_api.py", "127.0.0.1", fmt.Sprint(r.ports["api"]), "w", "w-password-1")
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if strings.TrimSpace(line) != "OK" {
		t.Fatalf("librouteros: %q %v\n%s", line, err, stderr.String())
	}
	const both = ":global apiKept; :global apiMine; :put ([:typeof $apiKept].\",\".[:typeof $apiMine])"
	if out := strings.TrimSpace(r.must(both)); out != "str,str" {
		t.Errorf("while the API client is connected: %q, want str,str", out)
	}
	stdin.Write([]byte("\n"))
	if err := cmd.Wait(); err != nil {
		t.Fatalf("librouteros: %v\n%s", err, stderr.String())
	}
	deadline := time.Now().Add(20 * time.Second)
	out := ""
	for ; time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if out = strings.TrimSpace(r.must(both)); out == "str,nothing" {
			break
		}
	}
	if out != "str,nothing" {
		t.Errorf("after the API client left: %q, want str,nothing (the script run's global kept, the import's dropped)", out)
	}
	r.alive()
}
