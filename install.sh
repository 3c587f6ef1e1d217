#!/usr/bin/env bash
# Install nnlife into ./.venv on a fresh machine: real FashionMNIST from the distribution's
# package where there is one, the CPU build of PyTorch, then nnlife with its test and Ray
# extras. Safe to run again (it only adds what is missing).
set -euo pipefail
cd "$(dirname "$0")"

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
if [ ! -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
    if command -v apt-get >/dev/null 2>&1; then
        export DEBIAN_FRONTEND=noninteractive
        $SUDO apt-get update -q || true
        $SUDO apt-get install -y -q dataset-fashion-mnist
    else
        echo "install.sh: no apt-get here; nnlife will download FashionMNIST from its official source on first use" >&2
    fi
fi

PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
. .venv/bin/activate
# PyTorch first, pinned to the CPU build (nnlife asks only for torch>=2.1, which it satisfies;
# on a GPU machine install the CUDA build of your choice instead, before this script).
python -c "import torch" 2>/dev/null || pip install -q torch==2.13.0
pip install -q -e '.[test,ray]'
# compile nnlife's numba solvers into their on-disk cache now (about 30 s, once), so that the
# first `nnlife evaluate` does not spend that time in every worker
.venv/bin/python -c "from nnlife.predict import warm_up; warm_up()"
