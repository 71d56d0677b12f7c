#!/usr/bin/env bash
# Issue 16's GPU figures in one device call (about 9 minutes on an H100 or H200; give it
# timeout_s 600): the pretraining throughput table (benchmarks/pretraining_gpu.py: the
# HF-composed reference, electra.pt eager and compiled, electra.flax; small and base, B=128,
# bf16) and the bisection of electra.flax's gradient (benchmarks/flax_backward.py). Each part
# has its own time limit, so a slow one cannot take the other's figures with it; everything
# lands in $OUT (tables, logs, nvidia-smi).
#
# The GPU machine has torch, JAX, Flax and optax but transformers 5.x; the reference needs
# 4.57, carried as wheels. Before the call, on the development machine, in the repository root:
#
#   echo /.whl/ >> .git/info/exclude
#   for p in transformers==4.57.6 huggingface_hub==0.36.2 tokenizers==0.22.2; do
#     python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#       --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform any -d .whl "$p"; done
#
# then run `bash benchmarks/gpu_session.sh` with carry [".whl"]. Never quote a figure this did not print.
set -u
OUT=${OUT:-gpu-session}
mkdir -p "$OUT"
if compgen -G ".whl/*.whl" > /dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
    export PYTHONPATH=/tmp/site
fi
export PYTHONPATH="${PYTHONPATH:+$PYTHONPATH:}$PWD" PYTHONUNBUFFERED=1
nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1
python3 -c "import torch, jax, transformers; print('torch', torch.__version__, 'jax', jax.__version__, 'transformers', transformers.__version__)" \
    2>&1 | tee "$OUT/versions.txt"
for preset in small base; do  # one table per preset, so a slow base cannot cost the small figures
    timeout 150 python3 benchmarks/pretraining_gpu.py --presets "$preset" --implementations hf pt pt-compile flax \
        --markdown "$OUT/pretraining-gpu-$preset.md" > "$OUT/pretraining-gpu-$preset.log" 2>&1
    echo "pretraining_gpu.py --presets $preset: exit $?"
done
timeout 240 python3 benchmarks/flax_backward.py --preset small --batch-size 128 --precision bf16 \
    --variants as-is one-hot-types f32-lookups generator-frozen --markdown "$OUT/flax-backward.md" \
    > "$OUT/flax-backward.log" 2>&1
echo "flax_backward.py: exit $?"
cat "$OUT"/*.md 2>/dev/null
