# jetzoo: two commands on a fresh machine.
#   make demo   install, then score the shipped jbot-b on held-out jets against its random init
#               (frozen kNN / linear probe) and plot their 2-D projection (runs/demo/projection.png)
#   make test   install, then run the test suite
#   make docs   install, regenerate the generated pages and build the site (site/, --strict)
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
# torch + torchvision first: timm needs torchvision, and these builds import together on CPU.
TORCH_PINS ?= torch==2.14.1 torchvision==0.29.1

.PHONY: install demo test docs bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --prefer-binary $(TORCH_PINS)
	$(PIP) install -q --prefer-binary -e ".[dev]"
	touch $@

install: $(VENV)/.installed

demo: install
	$(PY) -m jetzoo.demo

# both tiers: the fast one (plain `pytest`, pyproject's addopts) then the slow one
test: install
	$(PY) -m pytest -q -p no:cacheprovider
	$(PY) -m pytest -q -p no:cacheprovider -m slow

docs: install
	$(PY) docs/generate.py
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict

# Speed and zoo-scoring benchmarks that run without arguments. The studies of one run
# (learning_curve.py, anomaly_geometry.py) take a run folder, and domain_shift.py generates
# four sets first; README "Benchmarks" has their commands.
BENCHMARKS ?= generate inference train_step knn submission_standard score_zoo knn_heldout \
	import_toptagging finetune_sample finetune_step

bench: install
	for b in $(BENCHMARKS); do echo "== benchmarks/$$b.py"; $(PY) benchmarks/$$b.py || exit 1; done

clean:
	rm -rf $(VENV) runs site
