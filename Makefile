# Two commands do all set-up: `make demo` and `make test` (each creates .venv when missing).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test test-slow install clean

$(STAMP): setup.py constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e '.[test,onnx,cluster]'
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q -p no:cacheprovider -n auto --durations=15 -m "not slow" tests

# the kill-anywhere tests (issue 46): three benchmarks killed with SIGKILL 36 times in all, about 4 minutes
test-slow: $(STAMP)
	$(PY) -m pytest -q -p no:cacheprovider -n auto --dist loadfile --durations=5 -m slow tests

demo: $(STAMP)
	$(PY) -m tools.demo

clean:
	rm -rf demo_out runs .cache
