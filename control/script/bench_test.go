package script

import (
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"
)

// script10k is an import of 10,000 items into one menu.
func script10k() string {
	var b strings.Builder
	b.WriteString("/system script\n")
	for i := 0; i < 10000; i++ {
		fmt.Fprintf(&b, "add name=s%d source=\":put %d\" comment=\"item %d\"\n", i, i, i)
	}
	return b.String()
}

// BenchmarkImport10k runs a 10,000-line script (one add per line) into a fresh store;
// target: at most 3 s per import.
func BenchmarkImport10k(b *testing.B) {
	src := script10k()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		in, c := newInterp(b)
		b.StartTimer()
		if err := in.Run(b.Context(), c, src, io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPrint10k prints 10,000 items as the console renders them; target: at most
// 100 ms.
func BenchmarkPrint10k(b *testing.B) {
	in, c := newInterp(b)
	if err := in.Run(b.Context(), c, script10k(), io.Discard); err != nil {
		b.Fatal(err)
	}
	var ms runtime.MemStats
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := in.Run(b.Context(), c, "/system script print", io.Discard); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "heap-MiB")
}

// firewall10k is the import of control/firewall's TestBenchImport10k: 10,000 filter
// rules with addresses, protocols and ports (no engine here: the console, the generic
// add with its schema checks, and the store).
func firewall10k() string {
	var b strings.Builder
	b.WriteString("/ip firewall filter\n")
	for i := 0; i < 10000; i++ {
		fmt.Fprintf(&b, "add chain=forward action=%s src-address=10.%d.%d.0/24 protocol=tcp dst-port=%d\n",
			[]string{"accept", "drop"}[i%2], byte(i>>8), byte(i), 1000+i%5000)
	}
	return b.String()
}

// BenchmarkFirewallImport10k runs firewall10k into a fresh store.
func BenchmarkFirewallImport10k(b *testing.B) {
	src := firewall10k()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		in, c := newInterp(b)
		b.StartTimer()
		if err := in.Run(b.Context(), c, src, io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}
