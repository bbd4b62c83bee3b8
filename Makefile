# Warden — the two commands that matter: `make run` and `make test`.
SWIFT ?= swift
BIN := .build/debug/warden

.PHONY: setup build release symbol-order test fuzz soak run history bench bench-full bench-baseline docs install uninstall deb clean

# Installation layout (`make install PREFIX=/usr/local DESTDIR=/tmp/stage`).
PREFIX ?= /usr
DESTDIR ?=
BINDIR := $(PREFIX)/bin
DATADIR := $(PREFIX)/share/warden
DOCDIR := $(PREFIX)/share/doc/warden
SYSCONFDIR ?= /etc
UNITDIR ?= /lib/systemd/system
VERSION := $(shell sed -n 's/.*current = "\(.*\)".*/\1/p' Sources/WardenEngine/WardenVersion.swift)

setup:
	@scripts/setup.sh

build: setup
	$(SWIFT) build

# Swift's runtime is linked in statically: the installed binary needs only Debian's libraries.
# Position-dependent and exporting no symbols: a PIE's ~160,000 relative relocations dirtied
# ~500 pages at every start and dladdr scanned 59,000 exported symbols, so `warden --version`
# took 5.4 ms of CPU against 2.9 now (BENCHMARKS.md). The price is ASLR for the binary's own
# image (libraries, heap, stacks and mmap stay randomised), as in Go's default builds that
# Prometheus and node_exporter ship; `make release PIE=1` links a PIE (DT_RELR-packed).
ifeq ($(PIE),1)
LINK_FLAGS := -Xlinker -z -Xlinker pack-relative-relocs
else
LINK_FLAGS := -Xswiftc -Xclang-linker -Xswiftc -no-pie
endif
BASE_RELEASE_FLAGS := -c release --static-swift-stdlib -Xswiftc -use-ld=lld -Xlinker --no-export-dynamic $(LINK_FLAGS)
# Every function in its own section, linked in bench/warden.order's order: the code the daemon
# runs in its steady state first, then start-up's and the read-only commands'. The kernel maps
# text in 64 KB runs around each page touched, so scattered hot code kept 12.5 MB of text
# resident at 100 checks; grouped, 7.9 (BENCHMARKS.md). A function missing from the list
# (renamed, new) is linked after the listed ones: a stale list costs memory, not correctness.
# `make symbol-order` rewrites the list from a run under callgrind.
ORDER_FLAGS := -Xswiftc -Xfrontend -Xswiftc -function-sections -Xcc -ffunction-sections \
	-Xlinker --symbol-ordering-file=$(CURDIR)/bench/warden.order -Xlinker --no-warn-symbol-ordering
# SQLite and libstdc++ linked in from their static archives, as the Swift runtime is: the
# dynamic loader looked up ~1,100 symbols in them at every start (libsqlite3 is BIND_NOW), 2.9M
# of the 3.5M instructions `warden --version` ran (callgrind; BENCHMARKS.md). The link names
# them with `-l` (autolinked by GRDB, the runtime's own arguments), so a search directory
# holding only the archives, ahead of the system's, makes both resolve statically. The .deb
# records the SQLite it carries (Built-Using); a SQLite security update means a rebuild.
STATIC_LIBS := .build/static-libs
STATIC_FLAGS := -Xswiftc -L$(CURDIR)/$(STATIC_LIBS)
# No run-time exclusivity checks in the release build: swift_beginAccess and its access set
# were 9,200 of a check's 214,000 instructions (callgrind; BENCHMARKS.md), mostly inside NIO.
# The compiler still proves exclusivity statically, and the debug build every test runs keeps
# the dynamic checks, so a violation traps in `make test` rather than in the daemon.
EXCLUSIVITY_FLAGS := -Xswiftc -enforce-exclusivity=unchecked
# A concrete generic type's metadata through its accessor, not looked up by its mangled name:
# the lookup checks the type's generic requirements at run time, each conformance a scan of the
# binary's 12,000 conformance records the first time, which was 7.6M of `warden history`'s 32M
# instructions (ArgumentParser's and GRDB's types; callgrind, BENCHMARKS.md). Code a little
# larger (+0.4 %), the same behaviour.
METADATA_FLAGS := -Xswiftc -Xfrontend -Xswiftc -disable-concrete-type-metadata-mangled-name-accessors
RELEASE_FLAGS := $(BASE_RELEASE_FLAGS) $(ORDER_FLAGS) $(STATIC_FLAGS) $(EXCLUSIVITY_FLAGS) $(METADATA_FLAGS)

# SwiftPM does not know the list is an input of the link: a binary older than the list goes.
# Nor does it see -Xfrontend flags change: a release tree built with other flags is rebuilt
# whole (.build/release-flags records the last ones).
release: setup
	@scripts/static-libs.sh $(STATIC_LIBS)
	@if [ .build/release/warden -ot bench/warden.order ]; then rm -f .build/release/warden; fi
	@if [ "$$(cat .build/release-flags 2>/dev/null)" != "$(RELEASE_FLAGS)" ]; then \
		rm -rf .build/x86_64-unknown-linux-gnu/release .build/release; \
		mkdir -p .build && echo "$(RELEASE_FLAGS)" > .build/release-flags; fi
	$(SWIFT) build $(RELEASE_FLAGS)
	@scripts/static-libs.sh --check .build/release/warden

symbol-order: release
	bench/symbol_order.py .build/release/warden
	$(MAKE) --no-print-directory release

# The whole suite: unit tests plus tests against real parts (loopback HTTP servers,
# child processes, Debian's monitoring-plugins), in parallel; then the heavy ones (fuzzers,
# the cron DST sweep, loading 10,000 jobs, the kill -9 loop, the plugin storm, storage
# faults) one at a time: the CPU-bound ones hold both cooperative threads for seconds, which
# made other tests' timing assertions fail beside them, and some heavy ones assert timing
# themselves (no check late by more than 100 ms under a storage fault).
# The parallel phase runs at most 8 tests at once: started all together, 332 tests spawning
# processes and servers held the two cooperative threads so long that child processes were
# not read for 10 s (9 tests failed beside 6 busy loops; with the cap, none did, and an idle
# run takes 38 s instead of 35). The variable is Swift Testing's; a toolchain without it
# ignores it.
HEAVY_TESTS := ClockStepTests|ConfigFuzzTests|PluginInputFuzzTests|CronDSTTests|tenThousandJobsAreWithinTheBounds|KillLoopCLITests|PluginStormCLITests|ReadOnlyDatabaseCLITests|LongLockCLITests|DeletedWALCLITests|StorageFaultTests
test: setup
	$(SWIFT) build --build-tests
	SWT_EXPERIMENTAL_MAXIMUM_PARALLELIZATION_WIDTH=8 $(SWIFT) test --skip-build --skip '$(HEAVY_TESTS)'
	$(SWIFT) test --skip-build --no-parallel --filter '$(HEAVY_TESTS)'

# The fuzzers with many more inputs than `make test` runs (5,000 configs, 2,000 of each
# plugin input). FUZZ_INPUTS and FUZZ_SEED override; a failure prints the seed to replay.
FUZZ_INPUTS ?= 200000
FUZZ_SEED ?= $(shell date +%s)
fuzz: setup
	$(SWIFT) build --build-tests
	WARDEN_FUZZ_INPUTS=$(FUZZ_INPUTS) WARDEN_FUZZ_SEED=$(FUZZ_SEED) $(SWIFT) test --skip-build --no-parallel --filter 'ConfigFuzzTests|PluginInputFuzzTests'

# The kill -9 loop and the plugin fault storm, longer than in `make test` (20 kills, 45 s).
SOAK_KILLS ?= 200
SOAK_STORM_SECONDS ?= 600
soak: setup
	$(SWIFT) build --build-tests
	WARDEN_SOAK_KILLS=$(SOAK_KILLS) WARDEN_STORM_SECONDS=$(SOAK_STORM_SECONDS) $(SWIFT) test --skip-build --no-parallel --filter 'KillLoopCLITests|PluginStormCLITests'

# The daemon in the foreground on the shipped default config, history under ./var/.
# Ctrl-C stops it cleanly (in-flight checks finish, every result is flushed).
run: build
	@mkdir -p var
	$(BIN) run --config etc/warden/warden.yaml --database var/history.db \
		--plugin-dir etc/warden/examples/plugins.d

# Read the history `make run` writes.
history: build
	$(BIN) history --database var/history.db --attempts

# Benchmarks, side by side with Monit in the same run (bench/README.md, BENCHMARKS.md):
# `make bench` is the short version (a few minutes), `make bench-full` the long one.
# With `make bench-baseline` done first, an earlier build is measured beside this one in the
# same run ("Warden before"): BASELINE_REV is the commit before issue 18's work.
BASELINE_REV ?= a005a31
BASELINE := .build/baseline/warden
BASELINE_ARG = $(if $(wildcard $(BASELINE)),--baseline $(BASELINE))
bench: release
	bench/bench.py $(BASELINE_ARG)

bench-full: release
	bench/bench.py --full $(BASELINE_ARG)

# Builds BASELINE_REV's release binary into $(BASELINE) (a clean release build: ~15 min).
bench-baseline: setup
	rm -rf .build/baseline-src && mkdir -p .build/baseline-src .build/baseline
	git archive $(BASELINE_REV) | tar -x -C .build/baseline-src
	$(SWIFT) build $(BASE_RELEASE_FLAGS) --package-path .build/baseline-src --scratch-path .build/baseline-build
	cp .build/baseline-build/release/warden $(BASELINE)

# Regenerates docs/plugins.md from the plugin specs.
docs: build
	$(BIN) plugins --markdown --plugin-dir /nonexistent > docs/plugins.md

# The release binary, the unit, the migrations (also compiled into the binary), the docs,
# /etc/warden/plugins.d (root, 0755: Warden refuses plugin directories others can write)
# and /etc/warden/warden.yaml, which an existing one is never overwritten by.
install: release
	install -d -m 0755 $(DESTDIR)$(BINDIR) $(DESTDIR)$(UNITDIR) $(DESTDIR)$(DATADIR)/migrations \
		$(DESTDIR)$(DOCDIR) $(DESTDIR)$(SYSCONFDIR)/warden $(DESTDIR)$(SYSCONFDIR)/warden/plugins.d
	install -m 0755 -s .build/release/warden $(DESTDIR)$(BINDIR)/warden
	sed -e 's|/usr/bin/warden|$(BINDIR)/warden|g' -e 's|/etc/warden/|$(SYSCONFDIR)/warden/|g' systemd/warden.service \
		> $(DESTDIR)$(UNITDIR)/warden.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/warden.service
	install -m 0644 migrations/*.sql $(DESTDIR)$(DATADIR)/migrations/
	install -m 0644 README.md docs/*.md $(DESTDIR)$(DOCDIR)/
	cp -R etc/warden/examples $(DESTDIR)$(DOCDIR)/examples
	@if [ -e $(DESTDIR)$(SYSCONFDIR)/warden/warden.yaml ]; then \
		echo "keeping the existing $(DESTDIR)$(SYSCONFDIR)/warden/warden.yaml"; \
	else \
		install -m 0644 etc/warden/warden.yaml $(DESTDIR)$(SYSCONFDIR)/warden/warden.yaml; \
	fi
	@if [ -z "$(DESTDIR)" ] && [ -d /run/systemd/system ]; then systemctl daemon-reload; fi

# Removes what `install` put in place except the config (/etc/warden) and the history
# (/var/lib/warden): remove those by hand if they should go too.
uninstall:
	rm -f $(DESTDIR)$(BINDIR)/warden $(DESTDIR)$(UNITDIR)/warden.service
	rm -rf $(DESTDIR)$(DATADIR) $(DESTDIR)$(DOCDIR)
	@if [ -z "$(DESTDIR)" ] && [ -d /run/systemd/system ]; then systemctl daemon-reload; fi
	@echo "kept $(SYSCONFDIR)/warden and /var/lib/warden"

# A Debian package: .build/warden_$(VERSION)_$(ARCH).deb
ARCH := $(shell dpkg --print-architecture 2>/dev/null || echo amd64)
deb: release
	rm -rf .build/deb && mkdir -p .build/deb/DEBIAN
	$(MAKE) --no-print-directory install DESTDIR=$(CURDIR)/.build/deb PREFIX=/usr
	scripts/debian-control.sh $(VERSION) $(ARCH) .build/deb
	dpkg-deb --root-owner-group --build .build/deb .build/warden_$(VERSION)_$(ARCH).deb

clean:
	rm -rf .build var
