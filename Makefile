# Set-up and main jobs. Each target creates .venv when it is missing.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
DEMO_DIR ?= output/demo
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test

.PHONY: venv test demo bench clean-demo lint

# the package and its runtime dependencies: all that `make demo` needs
$(STAMP): setup.cfg pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e .
	touch $(STAMP)

# plus the test tools
$(TEST_STAMP): $(STAMP)
	$(PY) -m pip install --quiet -e ".[test]"
	touch $(TEST_STAMP)

venv: $(STAMP)

test: $(TEST_STAMP)
	$(PY) -m pytest -q

demo: $(STAMP)
	$(PY) tools/demo_pipeline.py --out $(DEMO_DIR) $(DEMO_ARGS)

# The benchmarks that need no dataset; bench_train.py needs a config, data and a detector and
# runs on the demo's output (DEMO_DIR) when it exists.
bench: $(STAMP)
	$(PY) benchmarks/bench_eval.py
	$(PY) benchmarks/bench_heads.py
	$(PY) benchmarks/bench_detector.py
	$(PY) benchmarks/bench_retrieval.py
	if [ -f $(DEMO_DIR)/detector/model_final.pth ]; then \
	  $(PY) benchmarks/bench_train.py --config-file configs/toy/sgcls_motifs.yaml --modes predcls,sgcls,sgdet \
	    DATASETS.ROOT $(DEMO_DIR)/datasets/toy DATASETS.NUM_VAL_IM 100 \
	    MODEL.DETECTOR_WEIGHTS $(DEMO_DIR)/detector/model_final.pth; \
	else echo "bench_train.py skipped: run make demo first ($(DEMO_DIR)/detector/model_final.pth missing)"; fi

clean-demo:
	rm -rf $(DEMO_DIR)
