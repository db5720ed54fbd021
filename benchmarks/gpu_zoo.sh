#!/usr/bin/env bash
# One sitting of a zoo run on a lent GPU machine, in one call: install what the machine lacks
# (from .whl/, made here by benchmarks/gpu_bundle.py), generate the run's data set there (the
# 700k-jet set does not travel: 247 MB against 64 MiB), train one sitting, score it on held-out
# jets, and leave in $OUT what the repository keeps of a sitting.
#
#   RUN=jbot-b-gpu RECIPE=recipes/jbot-b.yaml MINUTES=8 OUT=gpu-out bash benchmarks/gpu_zoo.sh \
#       [dotted overrides ...]
#
# RUN: the run folder under RUNS (default zoo-runs), resumed when it holds checkpoints/last.ckpt
# (one a previous sitting brought back and committed). MINUTES: this sitting's training budget
# (the run stops at the last epoch boundary that fits). WORKERS: generator processes (default:
# cores - 1). JETS: jets per class of the pre-training set (default 140000: the pinned
# jetnet-700k, seed 202). BENCH_JETS: jets per class of a held-out set to score the sitting there
# (44000 makes the pinned jetnet-bench-220k, seed 101; default 0: score here instead). EVERY:
# epochs between scored / kept checkpoints (default 4). DATA: where the sets are made (default
# data). WHEELS: the folder of wheels to install (default .whl). ACCELERATOR: gpu (default; cpu
# runs the script on a laptop, as its test does). DRY=1 prints the commands only.
#
# $OUT gets last.ckpt, summary.json, config.yaml, metrics.csv and up to 3 of the sitting's epoch
# checkpoints, the newest EVERY apart (1 when scored there, beside learning_curve.md and .png:
# 8 files come back at most). Then, here: put them in zoo-runs/$RUN (metrics.csv under
# logs/csv/<sitting>/, the epoch checkpoints under checkpoints/), score them with
# `benchmarks/learning_curve.py zoo-runs/$RUN --earlier zoo-runs/$RUN/learning_curve.md`, and
# commit them with the sitting's row in zoo-runs/README.md.
set -u -o pipefail
cd "$(dirname "$0")/.."
RUN=${RUN:?RUN=<zoo-runs folder name>}
RECIPE=${RECIPE:?RECIPE=recipes/<name>.yaml}
MINUTES=${MINUTES:-8}
OUT=${OUT:-gpu-out}
JETS=${JETS:-140000}
BENCH_JETS=${BENCH_JETS:-0}
WORKERS=${WORKERS:-$(( $(nproc) > 1 ? $(nproc) - 1 : 1 ))}
EVERY=${EVERY:-4}
DATA=${DATA:-data}
ACCELERATOR=${ACCELERATOR:-gpu}
PY=${PYTHON:-python3}
SITE=${SITE:-/tmp/jetzoo-site}
WHEELS=${WHEELS:-.whl}
mkdir -p "$OUT"
START=$(mktemp)  # marks the sitting's start: its epoch checkpoints are newer
stamp() { echo "== $(date +%T) $*"; }
run() { echo "+ $*"; [[ -n "${DRY:-}" ]] || "$@"; }

stamp "install from $WHEELS/ into $SITE"
if [[ -z "${DRY:-}" ]]; then
    mkdir -p "$SITE"
    if compgen -G "$WHEELS/*.whl" > /dev/null; then
        "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
            --target "$SITE" "$WHEELS"/*.whl || exit 1
    fi
    if [[ -f "$WHEELS/pythia8mc-slim.zip" ]]; then
        (cd "$SITE" && "$PY" -m zipfile -e "$(realpath "$WHEELS")/pythia8mc-slim.zip" .) || exit 1
        export PYTHIA8DATA="$SITE/share/Pythia8/xmldoc"
    fi
fi
export PYTHONPATH="$PWD:$SITE${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
JETZOO=("$PY" -m jetzoo)  # the CLI, uninstalled
"$PY" -c 'import torch, lightning, pythia8mc, fastjet, omegaconf; print("torch", torch.__version__,
"lightning", lightning.__version__, "|", torch.cuda.get_device_name() if torch.cuda.is_available()
else "no GPU")' || [[ -n "${DRY:-}" ]] || exit 1

gen() {  # gen OUT_DIR JETS_PER_CLASS SEED SHARD_SIZE
    stamp "generate $1 ($2 jets per class, seed $3, $WORKERS workers)"
    run "${JETZOO[@]}" generate jetnet --classes q,g,t,w,z --jets-per-class "$2" --seed "$3" \
        --workers "$WORKERS" --shard-size "$4" --out "$1" 2>&1 | grep -v "^ *[qgtwz]:" | tail -3
}
gen "$DATA/jetnet-700k" "$JETS" 202 10000
[[ "$BENCH_JETS" -gt 0 ]] && gen "$DATA/jetnet-bench-220k" "$BENCH_JETS" 101 5000

FOLDER=${RUNS:-zoo-runs}/$RUN
RESUME=()
[[ -f "$FOLDER/checkpoints/last.ckpt" ]] && RESUME=(--resume)
stamp "train $FOLDER: $RECIPE, a sitting of $MINUTES min ${RESUME[*]}"
run "${JETZOO[@]}" run "$RECIPE" "data.path=$DATA/jetnet-700k" data.in_memory=true \
    data.num_workers=0 "trainer.accelerator=$ACCELERATOR" trainer.devices=1 trainer.strategy=auto \
    trainer.limit_val_batches=10 trainer.enable_progress_bar=false logging.tensorboard=false \
    "output.dir=$FOLDER" "$@" --sitting "$MINUTES" "${RESUME[@]}" 2>&1 | grep "jetzoo run"

if [[ "$BENCH_JETS" -gt 0 ]]; then
    stamp "held-out kNN of this sitting's epochs"
    EARLIER=()
    [[ -f "$FOLDER/learning_curve.md" ]] && EARLIER=(--earlier "$FOLDER/learning_curve.md")
    run "$PY" benchmarks/learning_curve.py "$FOLDER" --data "$DATA/jetnet-bench-220k" \
        --every "$EVERY" --png "$OUT/learning_curve.png" "${EARLIER[@]}" \
        2>&1 | grep -v Warning | tee "$OUT/learning_curve.md"
fi
stamp "keep: $OUT"
if [[ -z "${DRY:-}" ]]; then
    cp "$FOLDER/checkpoints/last.ckpt" "$FOLDER/summary.json" "$FOLDER/config.yaml" "$OUT/"
    cp "$(ls -t "$FOLDER"/logs/csv/*/metrics.csv | head -1)" "$OUT/metrics.csv"
    KEEP=$(( BENCH_JETS > 0 ? 1 : 3 ))  # $OUT brings back 8 files at most
    # this sitting's epoch checkpoints (newer than the sitting's start), the last ones EVERY apart
    find "$FOLDER/checkpoints" -name 'epoch*.ckpt' -newer "$START" | sort -r \
        | awk -v every="$EVERY" 'NR % every == 1 || every == 1' | head -"$KEEP" \
        | xargs -r cp -t "$OUT"
    ls -l "$OUT"
fi
stamp done
