# Entry points. Each target installs what it needs (Debian packages, as root or via sudo),
# configures once, builds incrementally, and does nothing more when nothing changed.
PRESET ?= release
BUILD_DIR := build/$(PRESET)
DA3 := $(BUILD_DIR)/da3
JOBS ?= $(shell nproc)

.PHONY: all deps configure build test demo install fixtures clean fuzz fuzz-build sanitize sanitize-ci FORCE \
        sanitize-asan sanitize-tsan fresh-install ci

all: build

deps:
	@bash scripts/install-deps.sh

# The venv that builds and tests the Python package (scripts/python-venv.sh; nanobind, numpy,
# pytest from PyPI). When it changes, CMake re-runs and finds it (python/CMakeLists.txt).
PY_VENV := build/python-venv
# The script runs every time (it is quick when nothing changed) and rewrites the stamp only on a
# change (requirements, interpreter, DA3_TEST_RAY=1 adding Ray).
$(PY_VENV)/.da3-requirements: FORCE | deps
	@bash scripts/python-venv.sh $(PY_VENV)

FORCE:

$(BUILD_DIR)/build.ninja: $(PY_VENV)/.da3-requirements | deps
	@cmake --preset $(PRESET) >/dev/null

configure: deps $(BUILD_DIR)/build.ninja

build: configure
	@cmake --build $(BUILD_DIR) -j $(JOBS)

# The whole test suite (what CI runs). Tests that need a GPU or torch skip and say so.
test: build
	@ctest --test-dir $(BUILD_DIR) --output-on-failure -j $(JOBS)

# da3 on PATH: PREFIX/bin/da3 + PREFIX/lib/da3/libda3_media.so (+ the C++ package), through sudo
# when PREFIX is not writable (scripts/install.sh). `make install PREFIX=$$HOME/.local` needs no root.
PREFIX ?= /usr/local
install: build
	@bash scripts/install.sh $(BUILD_DIR) $(PREFIX)

# The main job: da3 info, a short attention benchmark, da3 infer on assets/samples/ (scripts/demo.sh).
demo: build
	@DA3=$(DA3) bash scripts/demo.sh

# Regenerate the reference fixtures (needs the torch venv: tools/reference/setup_env.sh).
fixtures:
	@bash tools/reference/setup_env.sh
	@tools/reference/.venv/bin/python tools/reference/make_fixtures.py
	@# make_fixtures.py rebuilds tiny-anyview/, where the ray-pose fixtures live: these come after it.
	@tools/reference/.venv/bin/python tools/reference/make_ray_fixtures.py
	@tools/reference/.venv/bin/python tools/reference/make_nested_fixture.py
	@tools/reference/.venv/bin/python tools/reference/make_head_fixtures.py
	@tools/reference/.venv/bin/python tools/reference/make_pipeline_fixtures.py

# --- hardening gates (docs/ci.md) ---------------------------------------------------------------
# libFuzzer harnesses (fuzz/) built with clang in build/fuzz, each run for FUZZ_SECONDS.
FUZZ_SECONDS ?= 60
fuzz-build:
	@bash scripts/install-deps.sh fuzz
	@test -f build/fuzz/build.ninja || cmake -S fuzz -B build/fuzz -G Ninja -DCMAKE_CXX_COMPILER=clang++ >/dev/null
	@cmake --build build/fuzz -j $(JOBS)

fuzz: fuzz-build
	@FUZZ_SECONDS=$(FUZZ_SECONDS) bash scripts/run-fuzzers.sh

# The whole suite under ASan + UBSan (build/asan), then the concurrency tests under TSan
# (build/tsan). Any report fails the run. sanitize-ci: the same on the subset of test files CI
# can afford (presets asan-ci, tsan-ci; docs/ci.md says which and why).
# Symbolized stacks in reports (clang's symbolizer, from the clang packages, when installed).
SYMBOLIZER := $(firstword $(wildcard /usr/bin/llvm-symbolizer /usr/lib/llvm-14/bin/llvm-symbolizer))
SYMBOLIZE := $(if $(SYMBOLIZER),:external_symbolizer_path=$(SYMBOLIZER),)
SANITIZE_ENV = ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:check_initialization_order=1:strict_string_checks=1$(SYMBOLIZE) \
  UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1$(SYMBOLIZE) \
  CXXFLAGS="-fsanitize=address,undefined -fno-sanitize-recover=all" LDFLAGS="-fsanitize=address,undefined"
# Tests that run code on several threads of their own (std::thread): found by name. Name a new
# concurrency test with one of these words and TSan covers it.
TSAN_TESTS ?= Thread|Concurrent|Parallel
# libgomp and oneDNN are not TSan-instrumented: OpenMP regions run on one thread, so what TSan
# checks is our own std::threads (tests/tsan.supp lists what remains, with reasons).
TSAN_ENV = OMP_NUM_THREADS=1 DA3_NUM_THREADS=1 \
  TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$(CURDIR)/tests/tsan.supp$(subst :, ,$(SYMBOLIZE))"
ASAN_PRESET ?= asan
TSAN_PRESET ?= tsan

sanitize-asan: deps
	@test -f build/$(ASAN_PRESET)/build.ninja || cmake --preset $(ASAN_PRESET) >/dev/null
	@cmake --build build/$(ASAN_PRESET) -j $(JOBS) $(if $(filter asan,$(ASAN_PRESET)),,--target da3_tests)
	@$(SANITIZE_ENV) ctest --test-dir build/$(ASAN_PRESET) --output-on-failure -j $(JOBS)

sanitize-tsan: deps
	@test -f build/$(TSAN_PRESET)/build.ninja || cmake --preset $(TSAN_PRESET) >/dev/null
	@cmake --build build/$(TSAN_PRESET) -j $(JOBS) --target da3_tests
	@$(TSAN_ENV) ctest --test-dir build/$(TSAN_PRESET) --output-on-failure -R '$(TSAN_TESTS)'

sanitize:
	@$(MAKE) --no-print-directory sanitize-asan
	@$(MAKE) --no-print-directory sanitize-tsan

sanitize-ci:
	@$(MAKE) --no-print-directory sanitize-asan ASAN_PRESET=asan-ci
	@$(MAKE) --no-print-directory sanitize-tsan TSAN_PRESET=tsan-ci

# A fresh Debian 12 in a chroot runs `make demo` and `make test` (root or sudo; network).
fresh-install:
	@bash scripts/install-deps.sh fresh
	@bash scripts/check-fresh-install.sh

# Everything CI runs (.ci/run).
ci:
	@bash .ci/run

clean:
	rm -rf build
