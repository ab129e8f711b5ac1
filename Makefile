# The two commands a newcomer needs: `make run` and `make test`.
BUILD ?= build
BUILD_TYPE ?= Release
JOBS ?= 2

.PHONY: all deps build run test unit e2e clients bench package clean

all: build

deps:
	@scripts/install-deps.sh

build: deps
	@cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) > /dev/null
	@cmake --build $(BUILD) -j $(JOBS)

# Starts the broker on 127.0.0.1:8080 with its data under ./data.
run: build
	$(BUILD)/src/aipassport serve --listen 127.0.0.1:8080 --data-dir ./data

# Everything runs beside a throwaway PostgreSQL cluster (scripts/with-postgres.sh), deleted after.
test: build
	@scripts/with-postgres.sh $(MAKE) --no-print-directory unit e2e clients

unit:
	scripts/with-postgres.sh ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS)

e2e:
	cd tests/e2e && npm ci --no-audit --no-fund --loglevel=error
	cd tests/e2e && AIPASSPORT_BIN=$(abspath $(BUILD))/src/aipassport ../../scripts/with-postgres.sh node --test --test-concurrency=1

# The official OpenAI, Anthropic and Gemini SDKs against the broker and the emulation.
clients:
	cd tests/clients && npm ci --no-audit --no-fund --loglevel=error
	cd tests/clients && AIPASSPORT_BIN=$(abspath $(BUILD))/src/aipassport node --test --test-concurrency=1

bench: build
	@scripts/install-deps.sh bench
	bench/run.sh $(BUILD)/src/aipassport

# A Debian package (binary, systemd unit, example config) in $(BUILD)/.
package: build
	cd $(BUILD) && cpack -G DEB

clean:
	rm -rf $(BUILD)
