# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: demo test lint bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

# The demo needs NumPy and matplotlib only (a small .venv, installed in seconds); the tests need every extra.
$(VENV)/.demo-installed: pyproject.toml Makefile | $(PY)
	$(PY) -m pip install -q -e ".[plot]"
	touch $@

$(VENV)/.installed: pyproject.toml Makefile | $(PY)
	$(PY) -m pip install -q -e ".[dev,mpi]"
	touch $@

demo: $(VENV)/.demo-installed
	$(PY) -m tapeflow demo
	@echo
	@echo "Next: activate the environment with  . $(VENV)/bin/activate  (then: tapeflow demo --help,"
	@echo "python examples/lecture_03_dot_product.py), or run $(PY) directly."

test: $(VENV)/.installed
	$(PY) -m ruff check tapeflow tests bench examples
	$(PY) -m pytest
	# every benchmark workload once (a smoke run: no timings, no files), so the benchmark code cannot rot
	$(PY) -m bench --quick
	# Core, layer, training, loss/metric and saving tests again on the strict backend: arrays that are not
	# numpy.ndarray and refuse implicit conversion (as CuPy's), so every array computation must go through
	# tapeflow/_backend.py (docs/gpu.md). Doc pages are written for NumPy and stay in the run above.
	# Left out: doc pages, the MNIST run, process-kill, allocator, file-fuzzing and scikit-learn tests (host
	# machinery with no array math of their own).
	TAPEFLOW_BACKEND=strict $(PY) -m pytest -p no:cacheprovider -q tests/core tests/training tests/saving \
		tests/conv/test_conv_layers.py tests/conv/test_recurrent_layers.py --ignore-glob='*test_docs.py' \
		--ignore=tests/training/test_mnist.py --ignore=tests/training/test_allocator.py \
		--ignore=tests/saving/test_backup.py --ignore=tests/saving/test_atomic.py \
		--ignore=tests/saving/test_fuzz_format.py --ignore=tests/saving/test_wrappers.py
	# Distributed tests again on 2 real MPI ranks (TAPEFLOW_TEST_WORLD_SIZE makes a silent 1-rank fallback fail).
	TAPEFLOW_TEST_WORLD_SIZE=2 timeout 600 $(VENV)/bin/mpiexec -n 2 \
		$(PY) -m mpi4py -m pytest tests/distributed -p no:cacheprovider

bench: $(VENV)/.installed
	$(PY) -m bench

clean:
	rm -rf $(VENV) build *.egg-info
