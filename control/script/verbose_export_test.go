package script

import (
	"strings"
	"testing"
)

// TestVerboseExportBuiltins: lines of a RouterOS 6.48 `export verbose` (published in a
// public repository) that set built-in items by RouterOS's numbers, with its units and
// v6 properties, load: the name= says which built-in item a number means (RouterOS's
// numbering differs from routerd's and between versions), pcq limits carry KiB, and
// mode-config's use-responder-dns is stored.
func TestVerboseExportBuiltins(t *testing.T) {
	in, c := newInterp(t)
	src := `/queue type
set 0 kind=pfifo name=default pfifo-limit=50
set 1 kind=pfifo name=ethernet-default pfifo-limit=50
set 2 kind=sfq name=wireless-default sfq-allot=1514 sfq-perturb=5
set 3 kind=red name=synchronous-default red-avg-packet=1000 red-burst=20 red-limit=60 red-max-threshold=50 red-min-threshold=10
set 4 kind=sfq name=hotspot-default sfq-allot=1514 sfq-perturb=5
add kind=sfq name=sfq-default sfq-allot=1514 sfq-perturb=5
set 6 kind=pcq name=pcq-upload-default pcq-burst-rate=0 pcq-burst-threshold=0 pcq-burst-time=10s pcq-classifier=src-address pcq-dst-address-mask=32 pcq-dst-address6-mask=128 pcq-limit=50KiB pcq-rate=0 pcq-src-address-mask=32 \
    pcq-src-address6-mask=128 pcq-total-limit=2000KiB
set 7 kind=pcq name=pcq-download-default pcq-burst-rate=0 pcq-burst-threshold=0 pcq-burst-time=10s pcq-classifier=dst-address pcq-dst-address-mask=32 pcq-dst-address6-mask=128 pcq-limit=50KiB pcq-rate=0 pcq-src-address-mask=32 \
    pcq-src-address6-mask=128 pcq-total-limit=2000KiB
set 8 kind=none name=only-hardware-queue
set 9 kind=mq-pfifo mq-pfifo-limit=50 name=multi-queue-ethernet-default
set 10 kind=pfifo name=default-small pfifo-limit=10
/ip ipsec mode-config
set [ find default=yes ] name=request-only responder=no use-responder-dns=exclusively
`
	if out, err := runSrc(t, in, c, src); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	out, err := runSrc(t, in, c, `:put [:len [/queue type find]]; :put [/queue type get [find name=pcq-upload-default] pcq-classifier]; :put [/queue type get [find name=default-small] pfifo-limit]; :put [/queue type get [find name=pcq-download-default] pcq-total-limit]`)
	if err != nil || out != "11\nsrc-address\n10\n2000\n" {
		t.Errorf("after the import: %q %v", out, err)
	}
	// A number that names no item and a name that is no built-in item stay errors.
	if _, err := runSrc(t, in, c, `/queue type set 50 name=nosuch`); err == nil || !strings.Contains(err.Error(), "no such item") {
		t.Errorf("set 50: %v", err)
	}
	if _, err := runSrc(t, in, c, `/queue type set 0 name=sfq-default`); err == nil {
		t.Error("renaming a built-in item to a configured one's name succeeded")
	}
}
