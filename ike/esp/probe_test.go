package esp

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"testing"
)

func TestProbe(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("probe needs root (network namespace)")
	}
	r := Probe()
	t.Logf("probe: %s (%s)", r.Kind, r.Reason)
	if r.Kind != KindUserspace && r.Kind != KindKernel {
		t.Fatalf("kind %q", r.Kind)
	}
	if hasKernelESP() && r.Kind != KindKernel {
		t.Fatalf("kernel has ESP but probe picked %s", r.Kind)
	}
	if !hasKernelESP() && r.Kind != KindUserspace {
		t.Fatalf("kernel lacks ESP but probe picked %s", r.Kind)
	}
}

// hasKernelESP reads the kernel config independently of the probe.
func hasKernelESP() bool {
	f, err := os.Open("/proc/config.gz")
	if err != nil {
		return false
	}
	defer f.Close()
	z, err := gzip.NewReader(f)
	if err != nil {
		return false
	}
	b, _ := io.ReadAll(z)
	return bytes.Contains(b, []byte("\nCONFIG_INET_ESP=y")) && bytes.Contains(b, []byte("\nCONFIG_CRYPTO_GCM=y"))
}
