# Entry points. Each target installs what it needs (Debian packages, as root or via sudo),
# configures once, builds incrementally, and does nothing more when nothing changed.
PRESET ?= release
BUILD_DIR := build/$(PRESET)
DA3 := $(BUILD_DIR)/da3
JOBS ?= $(shell nproc)

.PHONY: all deps configure build test demo fixtures clean

all: build

deps:
	@bash scripts/install-deps.sh

$(BUILD_DIR)/build.ninja: | deps
	@cmake --preset $(PRESET) >/dev/null

configure: deps $(BUILD_DIR)/build.ninja

build: configure
	@cmake --build $(BUILD_DIR) -j $(JOBS)

# The whole test suite (what CI runs). Tests that need a GPU or torch skip and say so.
test: build
	@ctest --test-dir $(BUILD_DIR) --output-on-failure -j $(JOBS)

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

clean:
	rm -rf build
