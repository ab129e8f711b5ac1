# The two commands a newcomer needs: `make run` and `make test`.
BUILD ?= build
BUILD_TYPE ?= Release
JOBS ?= 2

.PHONY: all deps build run test unit e2e clients sanitize asan asan-build asan-run tsan tsan-build tsan-run bench \
  micro-bench pgo package clean fuzz-build fuzz fuzz-smoke

all: build

deps:
	@scripts/install-deps.sh

build: deps
	@cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) > /dev/null
	@cmake --build $(BUILD) -j $(JOBS)

# Starts the broker on 127.0.0.1:8080 with its data under ./data.
run: build
	$(BUILD)/src/aipassport serve --listen 127.0.0.1:8080 --data-dir ./data

# Everything runs beside a throwaway PostgreSQL cluster (scripts/with-postgres.sh), deleted after:
# the release build's suites, the same unit and end-to-end suites under ASan+UBSan, the threads'
# tests under TSan, then each fuzz target for a few seconds.
test: build
	@scripts/with-postgres.sh $(MAKE) --no-print-directory unit e2e clients
	@$(MAKE) --no-print-directory sanitize
	@$(MAKE) --no-print-directory fuzz-smoke

unit:
	scripts/with-postgres.sh ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS)

e2e:
	cd tests/e2e && npm ci --no-audit --no-fund --loglevel=error
	cd tests/e2e && AIPASSPORT_BIN=$(abspath $(BUILD))/src/aipassport ../../scripts/with-postgres.sh node --test --test-concurrency=1

# The official OpenAI, Anthropic and Gemini SDKs against the broker and the emulation.
clients:
	cd tests/clients && npm ci --no-audit --no-fund --loglevel=error
	cd tests/clients && AIPASSPORT_BIN=$(abspath $(BUILD))/src/aipassport node --test --test-concurrency=1

# The sanitizer builds, each in a build directory of its own. A report ends the process with an
# error (UBSan is built not to go on), so the test that caused it fails; the e2e harness also fails
# a test file whose broker printed one, even if it was killed at the end.
ASAN_BUILD ?= build-asan
TSAN_BUILD ?= build-tsan
# verify_asan_link_order=0: one e2e test runs the broker under libfaketime (LD_PRELOAD).
export ASAN_OPTIONS ?= halt_on_error=1:detect_leaks=1:verify_asan_link_order=0
export UBSAN_OPTIONS ?= halt_on_error=1:print_stacktrace=1
export TSAN_OPTIONS ?= halt_on_error=1:second_deadlock_stack=1
# The threads, caches and races (store, meter and leases, grant and replay caches, change
# follower, server, metrics) under TSan: the rest runs on one thread at a time.
TSAN_TARGETS = ap_store_test ap_metering_test ap_domain_test ap_cluster_test ap_http_test ap_telemetry_test

asan-build: deps
	@cmake -S . -B $(ASAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release -DAIPASSPORT_SANITIZE=address,undefined \
	  -DAIPASSPORT_BUILD_BENCH=OFF > /dev/null
	@cmake --build $(ASAN_BUILD) -j $(JOBS)

# What `make test` runs under the sanitizers.
sanitize: asan-build tsan-build
	@$(MAKE) --no-print-directory asan-run tsan-run

# The unit and end-to-end suites against the ASan+UBSan build (`make asan` adds the SDK suites).
# AIPASSPORT_SANITIZED tells the e2e memory bounds to allow for ASan's quarantine and shadow memory.
asan-run:
	@AIPASSPORT_SANITIZED=1 scripts/with-postgres.sh $(MAKE) --no-print-directory unit e2e BUILD=$(ASAN_BUILD)

asan: asan-build
	@AIPASSPORT_SANITIZED=1 scripts/with-postgres.sh $(MAKE) --no-print-directory unit e2e clients BUILD=$(ASAN_BUILD)

tsan-build: deps
	@cmake -S . -B $(TSAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release -DAIPASSPORT_SANITIZE=thread \
	  -DAIPASSPORT_BUILD_BENCH=OFF > /dev/null
	@cmake --build $(TSAN_BUILD) -j $(JOBS) --target $(TSAN_TARGETS)

tsan: tsan-build
	@$(MAKE) --no-print-directory tsan-run

tsan-run:
	scripts/with-postgres.sh ctest --test-dir $(TSAN_BUILD) --output-on-failure -j $(JOBS) --exclude-regex "NOT_BUILT|Package"

bench: build micro-bench
	@scripts/install-deps.sh bench
	bench/run.sh $(BUILD)/src/aipassport

# The per-call work that touches no socket (token, scope, admission, body and usage scans, SSE,
# routing), the old whole-JSON way beside the scans that replaced it. Pinned to one core.
micro-bench: build
	taskset -c 0 $(BUILD)/bench/ap_micro_bench --benchmark_min_time=0.2 --benchmark_repetitions=3 \
	  --benchmark_report_aggregates_only=true

# The release broker optimised by profile (scripts/pgo-build.sh): built, trained on the benchmarks'
# calls, built again with link-time optimisation, in $(PGO_BUILD)/ (two full builds, without ccache).
PGO_BUILD ?= build-pgo
pgo: deps
	@JOBS=$(JOBS) scripts/pgo-build.sh $(PGO_BUILD)

# A Debian package (binary, systemd unit, example config) of the profile-optimised broker, in
# $(PGO_BUILD)/, checked as the Package.DebianPackageContents test checks the test build's.
package: pgo
	packaging/check_package.sh $(PGO_BUILD) mimalloc
	cd $(PGO_BUILD) && cpack -G DEB

# libFuzzer targets (fuzz/), built with clang-16 and ASan+UBSan in their own build directory. The
# build holds the shared build lock (FUZZ_LOCK= when the caller already holds it).
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 60
FUZZ_SMOKE_SECONDS ?= 15
FUZZ_JOBS ?= $(JOBS)
FUZZ_LOCK ?= flock /tmp/ap-build.lock
fuzz-build:
	@scripts/install-deps.sh fuzz
	@$(FUZZ_LOCK) sh -c 'CXX=clang++-16 cmake -S . -B $(FUZZ_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release \
	  -DAIPASSPORT_FUZZ=ON -DAIPASSPORT_BUILD_TESTS=OFF -DAIPASSPORT_BUILD_BENCH=OFF > /dev/null && \
	  cmake --build $(FUZZ_BUILD) -j $(JOBS) --target fuzzers'

# Each target for FUZZ_SECONDS (FUZZ_TARGETS="jws sse" for some of them), FUZZ_JOBS at a time.
fuzz: fuzz-build
	FUZZ_JOBS=$(FUZZ_JOBS) fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_SECONDS) $(FUZZ_TARGETS)

# What `make test` runs: each target for a few seconds, FUZZ_JOBS at a time.
fuzz-smoke: fuzz-build
	FUZZ_JOBS=$(FUZZ_JOBS) fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_SMOKE_SECONDS)

clean:
	rm -rf $(BUILD) $(FUZZ_BUILD) $(ASAN_BUILD) $(TSAN_BUILD) $(PGO_BUILD)
