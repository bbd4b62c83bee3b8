# Warden — the two commands that matter: `make run` and `make test`.
SWIFT ?= swift
BIN := .build/debug/warden

.PHONY: setup build release test run history bench docs clean

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

# The daemon in the foreground on the shipped default config, history under ./var/.
# Ctrl-C stops it cleanly (in-flight checks finish, every result is flushed).
run: build
	@mkdir -p var
	$(BIN) run --config etc/warden/warden.yaml --database var/history.db \
		--plugin-dir etc/warden/examples/plugins.d

# Read the history `make run` writes.
history: build
	$(BIN) history --database var/history.db --attempts

# Measurements behind design choices (bench/README.md); release build.
bench: setup
	$(SWIFT) build -c release --product warden-bench
	.build/release/warden-bench timers 1000,10000 5
	.build/release/warden-bench expect

# Regenerates docs/plugins.md from the plugin specs.
docs: build
	$(BIN) plugins --markdown --plugin-dir /nonexistent > docs/plugins.md

clean:
	rm -rf .build var
