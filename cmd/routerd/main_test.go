package main

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestListenConsole(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "run", "routerd.sock")

	ln, err := listenConsole(sock)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(sock)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("socket mode %v, want 0600", fi.Mode().Perm())
	}
	// A second routerd on the same socket must not steal it.
	if _, err := listenConsole(sock); err == nil || !strings.Contains(err.Error(), "another routerd") {
		t.Errorf("second listen: %v", err)
	}
	// A crashed routerd leaves the file behind; the next start replaces it.
	ln.Close()
	if _, err := os.Stat(sock); err != nil {
		t.Fatalf("socket file gone after Close: %v", err)
	}
	ln, err = listenConsole(sock)
	if err != nil {
		t.Fatalf("stale socket: %v", err)
	}
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	ln.Close()

	// A regular file is not ours to remove.
	file := filepath.Join(dir, "file")
	os.WriteFile(file, nil, 0o600)
	if _, err := listenConsole(file); err == nil {
		t.Error("listened over a regular file")
	}
}
