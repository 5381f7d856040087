# Two entry points for a fresh clone (see README "Quick start"):
#   make demo   set up .venv and run the main job on bundled sample photographs
#   make test   set up .venv and run the test suite (tests marked slow: make test-slow)
# and, for contributors:
#   make lint   ruff and mypy over the package (CI runs it)
#   make docs   build the documentation site into site/ (CI runs it)
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.regionkit-installed

.PHONY: setup demo test test-slow lint docs clean

setup: $(STAMP)

$(PY):
	$(PYTHON) -m venv $(VENV)

# Reinstall when packaging metadata (dependencies, entry points) changes.
$(STAMP): setup.py pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test,dev,docs]'
	touch $(STAMP)

demo: setup
	$(VENV)/bin/regionkit samples work_dirs/samples
	$(VENV)/bin/regionkit infer configs/saliency_four_box.py --images work_dirs/samples --out-dir work_dirs/saliency_four_box

test: setup
	$(PY) -m pytest

# the slow end-to-end tests (real-size models, packaging); CI runs them after `make test`
test-slow: setup
	$(PY) -m pytest -m slow

lint: setup
	$(VENV)/bin/ruff check regionkit tests benchmarks tools examples docs
	$(VENV)/bin/mypy

# the documentation site into site/ (strict: a broken reference fails the build)
docs: setup
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

clean:
	rm -rf $(VENV) work_dirs build site *.egg-info
