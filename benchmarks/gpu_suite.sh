#!/usr/bin/env bash
# Everything that needs a CUDA GPU, in one run: the test suite with the GPU as the default device,
# the analyzer benchmark on cuda (batch 1 and 64), the profile suite (batch 1 and 256, fp32 and bf16),
# the memory benchmark (estimate against torch.cuda.max_memory_allocated) and cuda_probe.py (learned
# leaves against watched ones for every variant, the analysis's CUDA runtime calls, cuDNN's workspaces).
# Results land in reports/gpu/; each step's full log goes to LOGS (default /tmp/gpu-logs).
#
# Run from the repository root:  bash benchmarks/gpu_suite.sh [LOGS]
# PYTHON picks the interpreter (default python3); TEST_WORKERS the pytest workers (default 8).
set -u
logs=${1:-/tmp/gpu-logs}
py=${PYTHON:-python3}
mkdir -p "$logs"

step() {  # step NAME SECONDS COMMAND...: run with a time limit, log it, print its exit code and tail
    local name=$1 limit=$2 start rc
    shift 2
    start=$(date +%s)
    echo "== $name"
    # SIGINT first, so that pytest still prints its summary when the limit is reached
    timeout -s INT -k 20 "$limit" "$@" >"$logs/$name.log" 2>&1
    rc=$?
    echo "== $name: exit $rc after $(( $(date +%s) - start )) s"
    tail -n "${TAIL:-12}" "$logs/$name.log"
}

{
    nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.max.sm --format=csv
    "$py" -c "import sys, torch; print(sys.version.split()[0], torch.__version__, torch.version.cuda,
torch.backends.cudnn.version(), torch.cuda.is_available() and torch.cuda.get_device_name())"
} 2>&1 | tee "$logs/machine.log"

# The browser and app tests need Chromium and Streamlit, the graph tests Graphviz's dot: not part of
# this run. Everything else runs with the GPU as `auto`'s device.
TAIL=25 step tests 180 "$py" -m pytest -q -n "${TEST_WORKERS:-8}" -p no:cacheprovider \
    --continue-on-collection-errors --ignore tests/test_browser.py --ignore tests/test_app.py \
    --ignore tests/test_graphs.py
step bench-analyzer 100 "$py" benchmarks/bench_analyzer.py --device cuda
step profile-suite 150 "$py" benchmarks/profile_suite.py --device cuda --batch 1,256
step bench-memory 100 "$py" benchmarks/bench_memory.py --device cuda
step memory-measure 45 "$py" -m resnet_inspect memory resnet50 --device cuda --measure --train --batch 32
step cuda-probe 200 "$py" benchmarks/cuda_probe.py
