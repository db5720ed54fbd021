# jetzoo: two commands on a fresh machine.
#   make demo   install, then score the shipped jbot-b on held-out jets against its random init
#               (frozen kNN / linear probe) and plot their 2-D projection (runs/demo/projection.png)
#   make test   install, then run the test suite
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
# torch + torchvision first: timm needs torchvision, and these builds import together on CPU.
TORCH_PINS ?= torch==2.14.1 torchvision==0.29.1

.PHONY: install demo test bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --prefer-binary $(TORCH_PINS)
	$(PIP) install -q --prefer-binary -e ".[dev]"
	touch $@

install: $(VENV)/.installed

demo: install
	$(PY) -m jetzoo.demo

test: install
	$(PY) -m pytest -q -p no:cacheprovider

bench: install
	for b in benchmarks/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) runs
