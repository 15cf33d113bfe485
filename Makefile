# Set-up, build, test and benchmark. `make deps` installs the Debian packages only when
# pkg-config cannot find the libraries, so on a prepared machine it does nothing.
SWIFT ?= swift
PKGS := libopenblas-dev liblapacke-dev libturbojpeg0-dev libpng-dev pkg-config
PCS := openblas lapacke libturbojpeg libpng
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all deps build release test bench demo example clean

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

test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build
	$(MAKE) example

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

clean:
	rm -rf .build
