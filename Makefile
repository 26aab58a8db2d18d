# orbnode — every target sets itself up: `make run` and `make test` work on a fresh clone.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
OUT    ?= out/run
BOARD  ?= rpi4

.PHONY: install run test bench bench-pytorchfi campaign flash lint clean model board-emu \
        board-emu-host test-board-emu test-loaded

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[host,dev]'
	touch $(STAMP)

run: install
	$(VENV)/bin/orbnode run --out $(OUT)

test: install
	$(PY) -m pytest -q --benchmark-disable -p no:cacheprovider

# orbnode bench writes out/bench/bench.{json,md,png} and reports the targets; then the
# micro benchmarks (pytest-benchmark). `make test` runs the latter once, untimed and silent.
bench: install
	$(VENV)/bin/orbnode bench --out out/bench
	$(PY) -m pytest -q -s bench --benchmark-only --benchmark-columns=mean,stddev,ops,rounds -p no:cacheprovider

# The issue-15 comparison side by side: installs the optional PyTorchFI side (torch, CPU
# use; a large download) into the venv, then runs only that benchmark.
bench-pytorchfi: install
	$(PY) -m pip install --quiet -e '.[host,dev,pytorchfi]'
	$(PY) -m pytest -q -s bench/bench_pytorchfi.py --benchmark-only \
		--benchmark-columns=mean,rounds -p no:cacheprovider

# make test with two CPU-bound processes beside it, as a busy bench host would be.
test-loaded: install
	bash scripts/with-cpu-hogs.sh 2 $(MAKE) test

lint: install
	$(VENV)/bin/ruff check .

# A new database (and report) per run: a second `make campaign` never finds an old one.
CAMPAIGN := out/campaign-$(shell date +%Y%m%d-%H%M%S)
campaign: install
	mkdir -p out
	$(VENV)/bin/orbnode campaign --target weights --db $(CAMPAIGN).sqlite --workers 2 \
		--report $(CAMPAIGN)-report

flash: install
	$(VENV)/bin/orbnode flash --board $(BOARD) --out out/bundle-$(BOARD)

# The board's bundle installed, self-tested and flown on an emulated board (root, Linux):
# an arm64 root of the board's OS under QEMU user mode, cached in out/board-emu/roots.
board-emu: install board-emu-host
	$(VENV)/bin/orbnode board-emu --board $(BOARD) --out out/board-emu/$(BOARD)

board-emu-host:
	bash scripts/board-emu-host.sh

test-board-emu: install board-emu-host
	ORBNODE_BOARD_EMU=1 $(PY) -m pytest -q --benchmark-disable -p no:cacheprovider \
		tests/test_boardemu_e2e.py

model: install
	$(PY) scripts/train_digits.py

clean:
	rm -rf $(VENV) out .pytest_cache .benchmarks
