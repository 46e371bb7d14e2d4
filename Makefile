# Set-up and entry points. `make run` and `make test` install everything they need into .venv.
PYTHON ?= python3
VENV ?= .venv
TORCH ?= torch==2.13.0
BIN := $(VENV)/bin

# Optional Debian packages some tests use (they skip without them): headless Chromium for the
# HTML report test, Fashion-MNIST for the MixPath tests. Installed when missing and this is a
# root shell with apt-get; never fatal.
SYSTEM_PACKAGES ?= chromium:chromium dataset-fashion-mnist:/usr/share/datasets/fashion-mnist

.PHONY: setup system-packages run test test-all clean

setup: $(VENV)/.installed

system-packages:
	@missing=""; for entry in $(SYSTEM_PACKAGES); do package=$${entry%%:*}; probe=$${entry#*:}; \
	  command -v "$$probe" >/dev/null 2>&1 || [ -e "$$probe" ] || missing="$$missing $$package"; done; \
	if [ -n "$$missing" ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing optional system packages:$$missing"; \
	  DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -q $$missing >/dev/null 2>&1 \
	    || echo "could not install$$missing; the tests that need them skip"; \
	elif [ -n "$$missing" ]; then echo "optional system packages missing:$$missing; the tests that need them skip"; fi

$(VENV)/.installed: pyproject.toml
	-@$(MAKE) --no-print-directory system-packages
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "$(TORCH)"
	$(BIN)/python -m pip install -q -e '.[dev,export]'
	touch $@

run: setup
	$(BIN)/supernas run --config demo

test: setup
	$(BIN)/python -m pytest -q

test-all: setup
	$(BIN)/python -m pytest -q -m ''

clean:
	rm -rf $(VENV) runs .pytest_cache
