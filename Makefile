# certkeeper: the two commands of the README, and the usual ones.
BUILD     ?= build
PREFIX    ?= /usr/local
DESTDIR   ?=
MESON_OPTS ?=

.PHONY: all deps build check demo install bench clean

all: build

deps:
	@scripts/install-deps

$(BUILD)/build.ninja:
	meson setup $(BUILD) --prefix=$(PREFIX) $(MESON_OPTS)

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)

# The whole suite: unit and integration tests on the normal build, the unit tests and corpora under
# valgrind, the same again on an ASan+UBSan build, and the fuzzers (short runs plus their corpora).
# Each section's title says when it started. Last line: "N passed, N failed".
check: deps
	@scripts/run-tests

demo: build
	@scripts/demo.sh $(BUILD)

install: $(BUILD)/build.ninja
	meson configure $(BUILD) --prefix=$(PREFIX)
	ninja -C $(BUILD)
	DESTDIR=$(DESTDIR) meson install -C $(BUILD) --no-rebuild

bench: build
	@bench/run-all.sh $(BUILD)

clean:
	rm -rf build build-asan build-fuzz
