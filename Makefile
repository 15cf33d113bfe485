# Set-up, build, test and benchmark. `make deps` installs the Debian packages only when
# pkg-config cannot find the libraries, so on a prepared machine it does nothing.
SWIFT ?= swift
SHELL := /bin/bash
PKGS := libopenblas-dev liblapacke-dev libturbojpeg0-dev libpng-dev libopenmpi-dev openmpi-bin \
  pkg-config
PCS := openblas lapacke libturbojpeg libpng ompi-c
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all deps build release test test-distributed test-sanitizers bench demo example fuzz format \
  lint clean

all: build

deps:
	@if command -v pkg-config >/dev/null 2>&1 && pkg-config --exists $(PCS); then \
	  echo "deps: $(PCS) found by pkg-config"; \
	else \
	  echo "deps: installing $(PKGS)"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $(PKGS) >/dev/null && \
	  pkg-config --exists $(PCS) || { echo "deps: pkg-config still cannot find $(PCS)" >&2; exit 1; }; \
	fi

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release

test: deps lint
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build
	$(MAKE) example

# The MPI tests on one host, then a two-host run: two network namespaces joined by a veth pair
# (Scripts/two-hosts.sh, root only; skipped with a message where namespaces cannot be made).
test-distributed: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build --filter "DistributedCommandTests|ShardTests|ProgressThreadTests"
	@scratch=$$(mktemp -d) && trap 'rm -rf "$$scratch"' EXIT && \
	for c in golf_ball parachute; do mkdir -p $$scratch/data/$$c; \
	  cp $$(ls -d Samples/imagenette-mini/$$c/* | head -6) $$scratch/data/$$c/; done && \
	status=0 && Scripts/two-hosts.sh "$$(pwd)/.build/debug/alexnet" $$scratch/data $$scratch/run \
	  || status=$$? && \
	if [ $$status = 77 ]; then echo "test-distributed: two-host part skipped"; \
	elif [ $$status = 0 ] && [ -f $$scratch/run/cp-0001.safetensors ]; then \
	  echo "test-distributed: two-host run passed"; \
	else echo "test-distributed: two-host run failed ($$status)" >&2; exit 1; fi

# AddressSanitizer and ThreadSanitizer on a focused subset (the readers of untrusted bytes, the
# sharded kernels, the loader workers and checkpoint writing), each in a build folder of its own:
# a full instrumented build takes minutes, so this is not part of `make test`.
SANITIZER_TESTS ?= RegularFile|ConcurrentWrites|CheckpointValidation|SafetensorsTests|ParallelTests|BatchLoader|ImageDecoder
test-sanitizers: deps
	LSAN_OPTIONS=suppressions=$(CURDIR)/Tests/lsan-suppressions.txt $(SWIFT) test --scratch-path .build-asan --sanitize=address --filter "$(SANITIZER_TESTS)"
	$(SWIFT) test --scratch-path .build-tsan --sanitize=thread --filter "$(SANITIZER_TESTS)"

bench: deps
	$(SWIFT) run -c release benchmarks

# A package of its own that embeds the library: defines a small residual network, trains it on
# the bundled photos for two short epochs (the second resumed) into runs/custom-network, reloads
# the best checkpoint and classifies a photo.
example: deps
	$(SWIFT) run --package-path Examples/CustomNetwork

demo: deps
	$(SWIFT) build -c release --product alexnet
	.build/release/alexnet train --output runs/demo --overwrite
	@echo "Try: .build/release/alexnet predict --weights runs/demo/best.safetensors Samples/imagenette-mini/golf_ball/*.JPEG"

# libFuzzer harnesses (Fuzz/README.md): each runs FUZZ_SECONDS on its seeds; findings are kept in
# .build-fuzz/findings/<harness>/ and the run fails on the first crash.
FUZZ_SECONDS ?= 60
FUZZERS := fuzz-safetensors fuzz-image fuzz-checkpoint fuzz-config
FUZZER_RUNTIME = $(firstword $(wildcard $(dir $(shell readlink -f $$(command -v $(SWIFT))))../lib/clang/*/lib/linux/libclang_rt.fuzzer_no_main-x86_64.a))
FUZZ_FLAGS = -c release -Xswiftc -parse-as-library -Xswiftc -sanitize=address \
  -Xswiftc -sanitize-coverage=edge,inline-8bit-counters,pc-table,trace-cmp \
  -Xlinker $(FUZZER_RUNTIME) -Xlinker -lstdc++

fuzz: deps
	@test -n "$(FUZZER_RUNTIME)" || { echo "fuzz: clang's libclang_rt.fuzzer_no_main not found beside $(SWIFT)" >&2; exit 1; }
	$(SWIFT) build --package-path Fuzz --scratch-path .build-fuzz $(FUZZ_FLAGS)
	@for f in $(FUZZERS); do \
	  mkdir -p .build-fuzz/corpus/$$f .build-fuzz/findings/$$f; \
	  echo "fuzz: $$f for $(FUZZ_SECONDS) s"; \
	  SWIFT_BACKTRACE=enable=no .build-fuzz/release/$$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	    -artifact_prefix=.build-fuzz/findings/$$f/ .build-fuzz/corpus/$$f Fuzz/Corpus/$$f 2>&1 \
	    | grep -E '^(#[0-9]+ +DONE|stat::number_of_executed_units|stat::average_exec_per_sec|==[0-9]+==ERROR|INFO: Loaded|SUMMARY)|cov:' | tail -6; \
	  test "$${PIPESTATUS[0]}" = 0 || exit 1; \
	done

# The toolchain's formatter with .swift-format (2 spaces, 100 columns); lint also fails on a
# function in Sources longer than 60 lines. Generated protobuf code says swift-format-ignore-file.
SWIFT_FILES := Package.swift Sources Tests Benchmarks/benchmarks $(wildcard Examples/*/Package.swift Examples/*/Sources) Fuzz/Package.swift Fuzz/Sources

format:
	$(SWIFT) format format --in-place --recursive --parallel $(SWIFT_FILES)

lint:
	$(SWIFT) format lint --strict --recursive --parallel $(SWIFT_FILES)
	@find Sources -name '*.swift' ! -name '*.pb.swift' | sort | xargs awk -v limit=60 -f Scripts/function-lengths.awk
	@echo "lint: formatting and function lengths are clean"

clean:
	rm -rf .build .build-fuzz
