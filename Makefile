# rtvirtio — build, test, demo, bench, install. Run as root on Debian 12.
SHELL        := /bin/bash
SWIFT        ?= swift
CONFIG       ?= release
PREFIX       ?= /usr/local
ETC          ?= /etc/rtvirtio
BIN           = .build/$(CONFIG)/rtvirtio
# Debian packages each target needs; installed only when missing.
BUILD_PKGS   := pkg-config libsystemd-dev libcgroup-dev libfuse3-dev libbpf-dev systemd
RUNTIME_PKGS := fio util-linux jq
# real QEMU guests (make e2e, the e2e smoke and the cgroup v2 guest in make test); scripts/e2e-image.sh builds their image
E2E_PKGS     := qemu-system-x86 busybox-static cpio
# promtool, for the metrics test (the package's server is not started without systemd)
TEST_PKGS    := prometheus
# a real libvirtd for LiveLibvirtTests (started and stopped by the test when none runs;
# -system brings the libvirt-qemu user the QEMU driver needs, without it the driver fails to start)
LIBVIRT_PKGS := libvirt-daemon-system libvirt-daemon-driver-qemu libvirt-clients
APT_STAMP    := /tmp/.rtvirtio-apt-updated

.PHONY: all deps build test test-v2 demo e2e bench bench-quick bench-full install uninstall clean

all: build

# Installs only what `dpkg -s` says is missing; `apt-get update` once per boot.
define apt_need
	@missing=""; for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  [ -f $(APT_STAMP) ] || { apt-get update -qq && touch $(APT_STAMP); }; \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi
endef

deps:
	$(call apt_need,$(BUILD_PKGS) $(RUNTIME_PKGS))

# The Swift runtime and Foundation linked in: the installed binary needs no
# toolchain on the host, and maps ~5 MB less (only the pages it uses).
build: deps
	$(SWIFT) build -c $(CONFIG) --static-swift-stdlib

test: deps
	$(call apt_need,$(E2E_PKGS) $(TEST_PKGS) $(LIBVIRT_PKGS))
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build --no-parallel

# cgroup v2 for real: a QEMU guest with the unified hierarchy only plays the KVM host
# (about 3 minutes with the host's live suites run inside it; make test runs it too, as CgroupV2GuestTests)
test-v2: deps
	$(call apt_need,$(E2E_PKGS) $(RUNTIME_PKGS))
	$(SWIFT) build --build-tests
	@set -o pipefail; log=$$(mktemp); trap 'rm -f "$$log"' EXIT; \
	$(SWIFT) test --skip-build --filter CgroupV2GuestTests 2>&1 | tee "$$log" || exit 1; \
	grep '^cgroup v2 live:' "$$log" | tail -1; grep -q '^cgroup v2 live:' "$$log"

demo: build
	./scripts/demo.sh $(BIN)

# three real libvirt domains (TCG) on one bfq loop device: p99.99 inside them under the device's own
# scheduler, bfq's defaults, after apply and under the daemon (Tests/RTVirtIOHostTests/E2E*.swift;
# the guests' image is built by scripts/e2e-image.sh)
e2e: deps
	$(call apt_need,$(E2E_PKGS) $(LIBVIRT_PKGS))
	$(SWIFT) build --build-tests
	RTVIRTIO_E2E=full $(SWIFT) test --skip-build --no-parallel --filter 'E2ESmokeTests|E2EFullTests'

bench: build
	mkdir -p out && $(BIN) lab bench-planner --format json | tee out/bench-planner.json

# The schemes an operator weighs: the device's own schedulers, the one-line
# udev rule (bfq, slice_idle 0), bfq's defaults, and rtvirtio (default model).
OPERATOR_SCHEMES = none,mq-deadline,bfq-noidle,default,rtvirtio
# bench-quick: 3 fast cases and 3 contended ones (79 %, 107 %, 130 % of the
# device's capacity) under the operator's schemes, 10 s per run (5 min 34 s measured; root)
QUICK_FAST       = g1-MH,g2-LMH,g4-LMH
QUICK_CONTENDED  = g3-LM,g2-LMH,g4-LMH
bench-quick: build
	$(BIN) bench --cases bench/cases/paper24.yaml --only $(QUICK_FAST) --schemes $(OPERATOR_SCHEMES) --duration-s 10 --repeat 1 --out out/bench-quick/fast
	$(BIN) bench --cases bench/cases/contended24.yaml --only $(QUICK_CONTENDED) --schemes $(OPERATOR_SCHEMES) --duration-s 10 --repeat 1 --out out/bench-quick/contended

# all 24 cases of both regimes, every scheme, 3 repeats (hours; root)
bench-full: build
	$(BIN) bench --cases bench/cases/contended24.yaml --duration-s 10 --repeat 3 --out out/bench-full/contended
	$(BIN) bench --cases bench/cases/paper24.yaml --duration-s 10 --repeat 3 --out out/bench-full/fast

install: build
	install -D -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/rtvirtio
	install -d $(DESTDIR)$(ETC)/models
	install -m 0644 $(filter-out %.check.json,$(wildcard config/models/*)) $(DESTDIR)$(ETC)/models/
	# an operator's edited targets file is never overwritten
	[ -e $(DESTDIR)$(ETC)/targets.yaml ] || install -m 0644 config/targets.example.yaml $(DESTDIR)$(ETC)/targets.yaml
	install -D -m 0644 systemd/rtvirtio.service $(DESTDIR)/etc/systemd/system/rtvirtio.service
	install -D -m 0644 README.md $(DESTDIR)$(PREFIX)/share/doc/rtvirtio/README.md
	@echo "installed; edit $(ETC)/targets.yaml, then: systemctl daemon-reload && systemctl enable --now rtvirtio"

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/rtvirtio $(DESTDIR)/etc/systemd/system/rtvirtio.service

clean:
	rm -rf .build
