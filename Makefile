# Warden — the two commands that matter: `make run` and `make test`.
SWIFT ?= swift
BIN := .build/debug/warden

.PHONY: setup build release test run docs clean

setup:
	@scripts/setup.sh

build: setup
	$(SWIFT) build

release: setup
	$(SWIFT) build -c release

# The whole suite: unit tests plus tests against real parts (loopback HTTP servers,
# child processes, Debian's monitoring-plugins).
test: setup
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build

# Until the daemon lands (issue 3) this shows the plugins Warden can run.
run: build
	$(BIN) plugins

# Regenerates docs/plugins.md from the plugin specs.
docs: build
	$(BIN) plugins --markdown --plugin-dir /nonexistent > docs/plugins.md

clean:
	rm -rf .build var
