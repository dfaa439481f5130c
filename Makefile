# routerd: `make` builds bin/routerd and bin/routerctl with only Go installed (generated
# BPF objects are committed). `sudo make run` starts routerd on the embedded defaults;
# `sudo make test` runs the whole suite.

GO       ?= go
PREFIX   ?= /usr/local
DATA_DIR ?= /var/lib/routerd
SOCKET   ?= /run/routerd/routerd.sock
VERSION  ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -X github.com/routerd/routerd/control.Version=$(VERSION)

.PHONY: all build run test test-race lint check-bpf test-short fuzz bench install uninstall clean

all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/routerd ./cmd/routerd
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/routerctl ./cmd/routerctl

run: build
	mkdir -p $(dir $(SOCKET))
	./bin/routerd --data-dir $(DATA_DIR) --socket $(SOCKET)

test: build lint check-bpf test-race
	# One package at a time: the namespace tests measure locking and keepalives, which a
	# second package loading both cores would make flaky. The packages of test-race are
	# not run again: each of their tests has just run under the detector (no test skips
	# under -race), and running them twice cost ~5.5 of the suite's ~41 minutes.
	pkgs=$$($(GO) list ./... | grep -vxF "$$($(GO) list $(RACE_PKGS))") && [ -n "$$pkgs" ] && \
		$(GO) test -count=1 -p 1 -timeout 30m $$pkgs

# The packages with concurrency (executor, store, the engine host, the engines, the IKE
# daemon and the front ends) under the race detector. Not here: ./control/ipsec and
# ./ike/esp, whose tests assert traffic through the userspace ESP path (no loss across
# rekeys, pings within seconds): under the detector's 5-10x slowdown those measure the
# detector. The daemon they drive is ./ike, here; they themselves are run under -race by hand.
# Every other package that starts goroutines outside its tests is here; the test/ packages,
# test/testbin and tools/ drive routerd as a separate process, third_party is vendored.
# ./ike/ comes first: go test starts packages in this order, two at a time, and ./ike/
# (~195 s) is half the pass; listed 27th it started late and ran on after the rest.
RACE_PKGS ?= ./ike/ ./control/ ./control/store/ ./control/engine/ ./control/scheduler/ ./control/tftp/ \
	./control/service/ ./control/link/ ./control/ipcfg/ ./control/tunnel/ ./ptp/node/ ./radius/ \
	./control/certificate/ ./control/arp/ ./control/nd/ ./control/routing/ ./control/queue/ \
	./control/ipsettings/ ./control/dns/ ./control/eventlog/ ./control/email/ \
	./control/usermanager/ ./ptp/engine/ ./control/hostname/ \
	./control/firewall/ ./control/fastpath/ ./control/radius/ \
	./control/apiserver/ ./control/rest/ ./control/console/ ./control/sshd/ \
	./control/script/ ./control/metrics/ ./control/terminal/ ./eap/ ./ptp/ts/ ./cmd/routerd/ ./cmd/routerctl/
test-race:
	$(GO) test -count=1 -race $(RACE_PKGS)

STATICCHECK ?= $(shell command -v staticcheck || echo $$($(GO) env GOPATH)/bin/staticcheck)
lint:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt -w these files:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(STATICCHECK) ./...

# The committed BPF objects must be what their sources compile to (bpf2go with Debian's
# clang 14, see dataplane/gen.go): regenerate and compare byte for byte.
check-bpf:
	$(GO) generate ./dataplane/... ./ptp/steer/... ./tools/trafficgen/...
	@if [ -n "$$(git status --porcelain -- dataplane ptp/steer tools/trafficgen)" ]; then \
		git status --short -- dataplane ptp/steer tools/trafficgen; \
		echo "go generate changed the committed BPF objects: commit what it generates"; exit 1; fi

test-short:
	$(GO) test -short ./...

# Each parser of untrusted bytes has a fuzz target; this runs every one, FUZZTIME each.
FUZZTIME ?= 30s
fuzz:
	@for pkg in $$($(GO) list ./...); do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
			echo "== $$pkg $$f"; \
			$(GO) test $$pkg -run XXX -fuzz "^$$f\$$" -fuzztime $(FUZZTIME) || exit 1; \
		done; \
	done

# The figures of docs/perf.md; each section there gives its own command too.
bench:
	$(GO) test -run XXX -bench . -benchtime 5x -benchmem ./control/script ./control/apiserver
	$(GO) test -run XXX -bench RouteImport10k -benchtime 3x ./test/netlink
	$(GO) test -run XXX -bench BenchmarkRun -benchtime 5000x ./control/scheduler

install: build
	install -D -m 0755 bin/routerd $(DESTDIR)$(PREFIX)/sbin/routerd
	install -D -m 0755 bin/routerctl $(DESTDIR)$(PREFIX)/bin/routerctl
	install -D -m 0644 cmd/routerd/routerd.service $(DESTDIR)/etc/systemd/system/routerd.service
	@if [ -z "$(DESTDIR)" ] && command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then \
		systemctl daemon-reload; echo "enable with: systemctl enable --now routerd"; fi

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/sbin/routerd $(DESTDIR)$(PREFIX)/bin/routerctl \
		$(DESTDIR)/etc/systemd/system/routerd.service

clean:
	rm -rf bin
