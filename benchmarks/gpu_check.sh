#!/usr/bin/env bash
# What a lent GPU runs, in one go (about 6 min on one H200): the GPU tests, the training-step
# benchmark on CUDA (fp32, bf16 autocast, bf16 + torch.compile, a large batch), and end-to-end
# `jetzoo run` throughput (data from memory, loader, logging and checkpoints included).
#
#   OUT=gpu-out DATA=data/jetnet-700k bash benchmarks/gpu_check.sh [tests] [step] [e2e]
#
# With no part named, all three run. DATA: a JetNet-like set for the end-to-end runs (default:
# the embedded sample). Where jetzoo is not pip-installed (a bare GPU machine with torch,
# lightning and timm), run it from the repository root: it puts the root on PYTHONPATH. Logs
# and JSON rows go to $OUT.
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu-out}
DATA=${DATA:-sample}
PARTS=${*:-tests step e2e}
mkdir -p "$OUT"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
PY=${PYTHON:-python3}
STEP=("$PY" benchmarks/train_step.py --device cuda --steps 20 --warmup 5)
stamp() { echo "== $(date +%T) $*"; }
has() { [[ " $PARTS " == *" $1 "* ]]; }

stamp environment
"$PY" -c 'import torch, lightning, timm; print("torch", torch.__version__, "lightning",
lightning.__version__, "timm", timm.__version__, "|", torch.cuda.get_device_name())'
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv,noheader

if has tests; then
    stamp "GPU tests (tests/test_gpu.py)"
    timeout 240 "$PY" -m pytest -q -p no:cacheprovider -p no:warnings --tb=short tests/test_gpu.py \
        2>&1 | grep -v DEBUG > "$OUT/pytest.log"
    tail -40 "$OUT/pytest.log"
fi

if has e2e; then
    for model in jbot-s jbot-b; do
        stamp "jetzoo run recipes/$model.yaml on $DATA (bf16-mixed, batch 1024)"
        timeout 150 "$PY" -m jetzoo run "recipes/$model.yaml" "data.path=$DATA" \
            data.in_memory=true data.num_workers=0 trainer.max_epochs=${EPOCHS:-20} \
            optimizer.warmup_epochs=2 trainer.precision=bf16-mixed trainer.limit_val_batches=2 \
            trainer.enable_progress_bar=false logging.tensorboard=false \
            "output.dir=/tmp/e2e-$model" --overwrite 2>&1 | grep "jetzoo run"
        cp "/tmp/e2e-$model/summary.json" "$OUT/e2e-$model.json" 2>/dev/null \
            && "$PY" -c 'import json, sys; s = json.load(open(sys.argv[1]));
print({k: s[k] for k in ("status", "epochs", "global_step", "jets_seen", "jets_per_s",
"wall_time_s")}, "train/loss", s["final_metrics"].get("train/loss"))' "$OUT/e2e-$model.json"
    done
fi

if has step; then
    stamp "training step: fp32"
    timeout 120 "${STEP[@]}" --recipes jetclr,jbot-s,jbot-b --json "$OUT/step_fp32.json"
    timeout 60 "${STEP[@]}" --recipes ae,rs3l --batch-size 256 --json "$OUT/step_fp32_256.json"
    stamp "training step: bf16 autocast"
    timeout 60 "${STEP[@]}" --recipes jbot-s,jbot-b --precision bf16-mixed \
        --json "$OUT/step_bf16.json"
    stamp "training step: bf16 autocast + torch.compile"
    timeout 120 "${STEP[@]}" --recipes jbot-s,jbot-b --precision bf16-mixed --compile default \
        --json "$OUT/step_compile.json"
    stamp "training step: bf16 autocast, batch 4096"
    timeout 60 "${STEP[@]}" --recipes jbot-s,jbot-b --precision bf16-mixed --batch-size 4096 \
        --json "$OUT/step_bf16_4096.json"
fi
stamp done
