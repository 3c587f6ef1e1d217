#!/usr/bin/env bash
# The GPU check of nnlife: one short run (about 8 minutes on one GPU) of everything that
# needs CUDA, every log under LOGDIR, a summary in LOGDIR/summary.txt. Run from anywhere:
#
#     bash benchmarks/gpu_check.sh LOGDIR
#
# Steps, each under its own timeout; a failed step is recorded and the next one runs:
#   0  environment: nvidia-smi, Python, torch, CUDA, cuDNN, `pip list`; nnlife installed with
#      `pip install --no-deps -e .` into the Python that already has torch (nothing that is
#      already there is installed again; missing pure-Python packages come from
#      shared/wheels/ when it exists); FashionMNIST looked for
#   1  pytest -m cuda tests/test_cuda.py (the whole suite too with GPU_CHECK_FULL_SUITE=1)
#   2  benchmarks/train_throughput.py --device cuda (against the plain DataLoader loop)
#   3  benchmarks/campaign_throughput.py --device cuda: --per-gpu 1,2,4,8 at fp32, then tf32
#      and bf16 at the best --per-gpu; networks per hour, GFLOP/s (synthetic data of each
#      data set's shapes: CIFAR-100 and SVHN files are not needed)
#   4  the hours of the full published campaign at the measured rates (from step 3)
#
# Real FashionMNIST: the machine needs the four official *-ubyte.gz files, found in
# $NNLIFE_DATA if set, else in shared/data/ (or shared/data/FashionMNIST/) of this tree. Copy
# them there before the run, e.g. cp /usr/share/datasets/fashion-mnist/*.gz shared/data/.
# Without them the tests that train on it fail and step 2 uses synthetic images (it says so).
#
# Without a GPU (torch.cuda.is_available() false) the GPU steps are skipped with that reason
# and the script still exits 0: it is a check that reports, not a gate.
#
# Environment: PYTHON (default: the first of .venv/bin/python, python3, python that imports torch),
# GPU_CHECK_FULL_SUITE=1, and the step limits in seconds GPU_CHECK_T_ENV (40, each of env and install),
# GPU_CHECK_T_TESTS (180), GPU_CHECK_T_SUITE (300), GPU_CHECK_T_TRAIN (75), GPU_CHECK_T_CAMPAIGN (160).
set -u

if [ $# -ne 1 ]; then
    echo "usage: bash benchmarks/gpu_check.sh LOGDIR" >&2
    exit 2
fi
mkdir -p "$1" || exit 2
LOGDIR=$(cd "$1" && pwd)
cd "$(dirname "$0")/.." || exit 2
ROOT=$PWD
SUMMARY=$LOGDIR/summary.txt
T0=$(date +%s)
: >"$SUMMARY"

say() { echo "$*" | tee -a "$SUMMARY"; }

# step NAME LIMIT CMD...: run CMD under `timeout`, output to LOGDIR/NAME.log, one summary line.
step() {
    local name=$1 limit=$2
    shift 2
    local log=$LOGDIR/$name.log t=$(date +%s) rc
    echo "\$ $*" >"$log"
    timeout --kill-after=15 "$limit" "$@" >>"$log" 2>&1
    rc=$?
    local took=$(( $(date +%s) - t ))
    if [ $rc -eq 0 ]; then
        say "$name: ok (${took} s; $log)"
    elif [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
        say "$name: TIMED OUT after ${limit} s ($log)"
    else
        say "$name: FAILED, exit status $rc (${took} s; $log)"
    fi
    return $rc
}

skip() { say "$1: skipped: $2"; }

# ---- 0: environment ---------------------------------------------------------------------------

if [ -z "${PYTHON:-}" ]; then
    for candidate in "$ROOT/.venv/bin/python" python3 python; do
        if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c "import torch" >/dev/null 2>&1; then
            PYTHON=$candidate
            break
        fi
    done
fi
if [ -z "${PYTHON:-}" ]; then
    say "environment: no Python with torch found (set PYTHON); nothing can run"
    exit 0
fi
# The source tree first, whatever the install below does (spawned workers and Ray inherit it).
export PYTHONPATH="$ROOT/src${PYTHONPATH:+:$PYTHONPATH}"
export RAY_USAGE_STATS_ENABLED=0
export PIP_DISABLE_PIP_VERSION_CHECK=1
export PYTHON ROOT

environment() {
    date -u
    uname -a
    echo "cores: $(nproc)"
    if command -v nvidia-smi >/dev/null 2>&1; then nvidia-smi; else echo "nvidia-smi: not found"; fi
    echo "python: $(command -v "$PYTHON")"
    "$PYTHON" - <<'EOF'
import sys
import torch
print("python", sys.version.replace("\n", " "))
print("torch", torch.__version__, "| CUDA", torch.version.cuda, "| cuDNN",
      torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None)
print("cuda available", torch.cuda.is_available(), "| devices", torch.cuda.device_count())
for i in range(torch.cuda.device_count()):
    p = torch.cuda.get_device_properties(i)
    print(f"  cuda:{i} {p.name}, {p.total_memory / 2**30:.1f} GiB, compute capability {p.major}.{p.minor}")
EOF
    echo "---- pip list"
    "$PYTHON" -m pip list 2>&1
}

# Modules nnlife and its tests import, and the pip names of the pure-Python ones among them
# (the others come with the machine or not at all: no network is assumed).
install_missing() {
    local missing=() pure=() module
    for module in numpy scipy tqdm pytest pandas pyarrow matplotlib requests pooch ray; do
        "$PYTHON" -c "import $module" >/dev/null 2>&1 || missing+=("$module")
    done
    echo "missing modules: ${missing[*]:-none}"
    for module in "${missing[@]}"; do
        case $module in
            tqdm|pytest|pooch|requests) pure+=("$module") ;;
        esac
    done
    if [ ${#pure[@]} -gt 0 ]; then
        if [ -d "$ROOT/shared/wheels" ]; then
            "$PYTHON" -m pip install --no-index --find-links "$ROOT/shared/wheels" "${pure[@]}"
        else
            "$PYTHON" -m pip install --retries 0 --timeout 10 "${pure[@]}"
        fi || echo "could not install ${pure[*]} (no shared/wheels/ and no network?)"
    fi
    # nnlife itself, without touching its dependencies; no build isolation, which would fetch
    # setuptools from the network. If this fails, PYTHONPATH (above) still finds src/. An
    # nnlife already installed is left alone (src/ comes first on PYTHONPATH).
    local installed
    if installed=$(env -u PYTHONPATH "$PYTHON" -c "import nnlife; print(nnlife.__file__)" 2>/dev/null); then
        echo "nnlife already installed ($installed): not installed again; $ROOT/src comes first on PYTHONPATH"
    else
        "$PYTHON" -m pip install --no-deps --no-build-isolation -e "$ROOT" \
            || echo "pip install -e . failed: nnlife runs from src/ through PYTHONPATH"
    fi
    "$PYTHON" -c "import nnlife, nnlife.campaign.task, nnlife.executors.ray; print('nnlife', nnlife.__version__, 'from', nnlife.__file__)"
}

find_data() {
    local dir
    if [ -z "${NNLIFE_DATA:-}" ]; then
        for dir in "$ROOT/shared/data" "$ROOT/shared/data/FashionMNIST"; do
            if [ -f "$dir/train-images-idx3-ubyte.gz" ]; then
                export NNLIFE_DATA=$ROOT/shared/data
                break
            fi
        done
    fi
    echo "NNLIFE_DATA=${NNLIFE_DATA:-(unset)}"
    "$PYTHON" - <<'EOF'
from nnlife.data import load_data
data = load_data("FashionMNIST", download=False)
print("FashionMNIST:", data.n_train, "training and", data.n_test, "test images from", ", ".join(data.files))
EOF
}

export -f environment install_missing
say "nnlife GPU check, $(date -u '+%Y-%m-%d %H:%M:%S UTC'), $(hostname), in $ROOT"
step env "${GPU_CHECK_T_ENV:-40}" bash -c environment
awk '/^---- pip list/ {exit} /^(python|torch|cuda available|  cuda:)/' "$LOGDIR/env.log" | sed 's/^/    /' | tee -a "$SUMMARY"
step install "${GPU_CHECK_T_ENV:-40}" bash -c install_missing
grep -E "^(missing modules|nnlife |could not|pip install -e)" "$LOGDIR/install.log" | sed 's/^/    /' | tee -a "$SUMMARY"
# find_data exports NNLIFE_DATA for the steps below, so it runs in this shell (no timeout).
if find_data >"$LOGDIR/data.log" 2>&1; then
    HAVE_DATA=1
    say "data: $(grep '^FashionMNIST:' "$LOGDIR/data.log")"
else
    HAVE_DATA=0
    say "data: FashionMNIST NOT FOUND (copy the four *-ubyte.gz files into shared/data/ or set NNLIFE_DATA; $LOGDIR/data.log)"
fi

if "$PYTHON" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)" >/dev/null 2>&1; then
    HAVE_GPU=1
    NO_GPU=""
else
    HAVE_GPU=0
    NO_GPU="no CUDA GPU (torch.cuda.is_available() is False)"
    say "gpu: $NO_GPU: the GPU steps are skipped"
fi

# ---- 1: tests -----------------------------------------------------------------------------------

# Run without a GPU too: the file then shows its own skip reasons.
step tests "${GPU_CHECK_T_TESTS:-180}" "$PYTHON" -m pytest -m cuda tests/test_cuda.py -v -rs --durations=0 -p no:cacheprovider
grep -E "^(SKIPPED|FAILED|ERROR) |^=+ .* in [0-9.]+s" "$LOGDIR/tests.log" | sed 's/^/    /' | tee -a "$SUMMARY"
if [ "${GPU_CHECK_FULL_SUITE:-0}" = 1 ]; then
    step suite "${GPU_CHECK_T_SUITE:-300}" "$PYTHON" -m pytest -q -p no:cacheprovider tests --deselect tests/test_cuda.py
    tail -n 3 "$LOGDIR/suite.log" | sed 's/^/    /' | tee -a "$SUMMARY"
else
    skip suite "off by default (GPU_CHECK_FULL_SUITE=1 runs the whole suite)"
fi

# ---- 2, 3: throughput ----------------------------------------------------------------------------

if [ $HAVE_GPU = 1 ]; then
    TRAIN_DATA=()
    [ $HAVE_DATA = 1 ] || TRAIN_DATA=(--synthetic)
    [ $HAVE_DATA = 1 ] || say "train_throughput: on synthetic images (FashionMNIST not found)"
    step train_throughput "${GPU_CHECK_T_TRAIN:-75}" "$PYTHON" benchmarks/train_throughput.py --device cuda ${TRAIN_DATA[@]+"${TRAIN_DATA[@]}"}
    grep -E "^(# |\||all networks)" "$LOGDIR/train_throughput.log" | sed 's/^/    /' | tee -a "$SUMMARY"
    # 30 networks (3 data sets x conv layers 1..10, the first planned of each, no FLOP cap), one
    # epoch on 4000 training / 1000 test images of synthetic data each, in every configuration.
    step campaign_throughput "${GPU_CHECK_T_CAMPAIGN:-160}" "$PYTHON" benchmarks/campaign_throughput.py --device cuda \
        --per-count 1 --train-images 4000 --test-images 1000 --per-gpu 1,2,4,8 --precisions fp32,tf32,bf16
    grep -E "^(# |\||ratio|best|load)" "$LOGDIR/campaign_throughput.log" | sed 's/^/    /' | tee -a "$SUMMARY"
else
    skip train_throughput "$NO_GPU"
    skip campaign_throughput "$NO_GPU"
fi

# ---- 4: the full campaign -----------------------------------------------------------------------

if [ $HAVE_GPU = 1 ] && grep -q "^full campaign" "$LOGDIR/campaign_throughput.log" 2>/dev/null; then
    say "full campaign (3 x 2000 networks, 40 epochs, full splits), from the rates of step 3:"
    grep "^full campaign" "$LOGDIR/campaign_throughput.log" | sed 's/^/    /' | tee -a "$SUMMARY"
elif [ $HAVE_GPU = 1 ]; then
    say "full campaign: no estimate (campaign_throughput did not finish)"
else
    skip "full campaign" "$NO_GPU"
fi

say "total: $(( $(date +%s) - T0 )) s; logs in $LOGDIR"
exit 0
