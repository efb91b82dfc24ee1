# Midge: the two commands are `make run` and `make test` (see README.md). CMake does the building.
BUILD ?= build
PREFIX ?= /usr/local
DESTDIR ?=
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all build deps run test test-asan fuzz install clean

all: build

deps:
	@scripts/install-deps

build:
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

run: deps build
	@scripts/make-certs examples/certs
	$(BUILD)/bin/midge -c examples/midge.conf -v

# Unit, integration and a bounded fuzz run; ends with "N passed, N failed".
test: deps build
	@$(MAKE) --no-print-directory BUILD=build-fuzz CMAKE_FLAGS="-DMIDGE_FUZZ=ON -DCMAKE_C_COMPILER=clang" build >/dev/null
	@scripts/run-tests --build $(BUILD) --fuzz-build build-fuzz

# The same unit and integration tests with AddressSanitizer and UndefinedBehaviorSanitizer.
test-asan: deps
	@$(MAKE) --no-print-directory BUILD=build-asan CMAKE_FLAGS="-DMIDGE_SANITIZE=ON" build
	@scripts/run-tests --build build-asan --sanitize

fuzz: deps
	@$(MAKE) --no-print-directory BUILD=build-fuzz CMAKE_FLAGS="-DMIDGE_FUZZ=ON -DCMAKE_C_COMPILER=clang" build
	@scripts/run-tests --build build-fuzz --only-fuzz --fuzz-build build-fuzz --fuzz-seconds $${FUZZ_SECONDS:-60}

install: build
	DESTDIR=$(DESTDIR) cmake --install $(BUILD) --prefix $(PREFIX)

clean:
	rm -rf build build-asan build-fuzz
