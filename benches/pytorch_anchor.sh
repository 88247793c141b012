#!/usr/bin/env bash
# The anchor: exp against PyTorch / Hugging Face on the same workloads, as ratios (issue 9).
# Not part of CI: it installs PyTorch (several GB, with the CUDA libraries the PyPI wheel needs
# even to import on a CPU) into its own environment under the target directory, once.
#
#   benches/pytorch_anchor.sh [--only train,infer,finetune,e2e] [--e2e] [--threads N] [--rounds N]
#                             [--data FILE] [--exp-db DB --exp-name NAME] [--export-dir DIR]
#                             [--ft-epochs 3] [--ft-lr 5e-5] [--out DIR]
#
# Workloads (default train,infer):
#   train     training-step throughput, batch 32, max 64 tokens, dynamic padding: exp's
#             `cargo bench --bench train_step` (the production path) against PyTorch eager on
#             the same batches (the per-batch padded lengths are compared)
#   infer     inference latency at batch 1 and 8, padded to 64: our ONNX export of minilm-l6 in
#             ONNX Runtime (`exp bench --engine ort`) against PyTorch eager, same sentences
#   finetune  the plain recipe in PyTorch (AdamW wd 0.01, linear warm-up 10%, batch 32, max 64,
#             --ft-epochs/--ft-lr) on exp's own split, timed, with validation accuracy; the exp
#             side comes from the experiment's event log when its training is recorded
#   e2e       first runs `exp train NAME --stages train` on the experiment (about 40 minutes
#             on 2 cores, resumable), then finetune
# --rounds N repeats train and infer N times, exp and PyTorch taking turns, and reports each
# side's median, so that a shared machine's load changes hit both sides alike. Both sides run at
# the same niceness (5) with the same thread count. PyTorch's OpenMP threads get
# OMP_WAIT_POLICY=PASSIVE (override with ANCHOR_OMP_WAIT_POLICY): with the default spin-waiting, a
# loaded machine made its training steps 1.4-2.3x slower here, which would flatter exp. (ONNX
# Runtime keeps its default, spinning, as exp ships it.)
# The split and the exp e2e numbers come from --exp-db/--exp-name when given (an experiment
# that exists, trained or not); otherwise from an experiment `anchor` that the script creates in
# OUT/exp.db (`exp new`, seconds). Results: a table on stdout and OUT/results.json
# (OUT defaults to $CARGO_TARGET_DIR/anchor, else target/anchor). A run replaces the results of
# the workloads it runs and keeps the others', so the report joins e.g. a train+infer run and a
# later finetune run.
set -euo pipefail
cd "$(dirname "$0")/.."

only="train,infer"
threads=2
rounds=1
data=../shared/data/FinancialPhraseBank/Sentences_50Agree.txt
exp_db=""
exp_name=""
# An experiment's exported model directory (exp export): its ONNX files (fp32 and INT8, pruned
# or not) are what users deploy, so `infer` also times them against PyTorch eager of minilm-l6.
export_dir=""
ft_epochs=3
ft_lr=5e-5
target="${CARGO_TARGET_DIR:-target}"
out="$target/anchor"
while [ $# -gt 0 ]; do
    case "$1" in
        --only) only="$2"; shift 2 ;;
        --e2e) only="$only,e2e"; shift ;;
        --threads) threads="$2"; shift 2 ;;
        --rounds) rounds="$2"; shift 2 ;;
        --data) data="$2"; shift 2 ;;
        --exp-db) exp_db="$2"; shift 2 ;;
        --exp-name) exp_name="$2"; shift 2 ;;
        --export-dir) export_dir="$2"; shift 2 ;;
        --ft-epochs) ft_epochs="$2"; shift 2 ;;
        --ft-lr) ft_lr="$2"; shift 2 ;;
        --out) out="$2"; shift 2 ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
done
wants() { [[ ",$only," == *",$1,"* ]]; }
if wants e2e; then only="$only,finetune"; fi
if { [ -n "$exp_db" ] && [ -z "$exp_name" ]; } || { [ -z "$exp_db" ] && [ -n "$exp_name" ]; }; then
    echo "--exp-db and --exp-name go together" >&2; exit 2
fi
[ -f "$data" ] || { echo "$data: no such data file (--data)" >&2; exit 2; }
data="$(realpath "$data")"
mkdir -p "$out"
out="$(realpath "$out")"
# Each workload run replaces its own earlier results; the others' stay for the report.
if wants train; then rm -f "$out"/exp_train.*.json "$out"/torch_train.*.json; fi
if wants infer; then rm -f "$out"/exp_infer.*.json "$out"/torch_infer.*.json "$out"/exp_export_*.json; fi
if [ -n "$export_dir" ] && ! ls "$export_dir"/onnx/*.onnx >/dev/null 2>&1; then
    echo "--export-dir $export_dir: no onnx/*.onnx inside (an \`exp export\` directory is expected)" >&2; exit 2
fi
if wants finetune; then rm -f "$out"/torch_finetune.json "$out"/exp_events.json; fi
export RAYON_NUM_THREADS="$threads" OMP_NUM_THREADS="$threads"
export OMP_WAIT_POLICY="${ANCHOR_OMP_WAIT_POLICY:-PASSIVE}"
measured=(nice -n 5)

# ---- the Python environment, set up once: a venv, or `pip install --target` where python3-venv
# is missing (as .ci/run does). ANCHOR_PIP_ARGS passes extra pip arguments, e.g.
# "--index-url https://download.pytorch.org/whl/cpu" where that CPU-only index can be reached.
env_dir="$(realpath -m "$target/anchor-env")"
py=(python3)
if [ -x "$env_dir/bin/python" ]; then
    py=("$env_dir/bin/python")
elif [ -d "$env_dir/pydeps" ]; then
    py=(env PYTHONPATH="$env_dir/pydeps" python3)
fi
if ! "${py[@]}" -c "import torch, transformers" >/dev/null 2>&1; then
    echo "== installing PyTorch and transformers into $env_dir (once; several GB)"
    # Tried and rejected: `pip install --no-deps torch` plus its pure-Python dependencies. The
    # PyPI wheel for Linux is a CUDA build that preloads cuBLAS, cuDNN, NCCL, ... at import time,
    # so it needs its nvidia-* dependencies even on a machine without a GPU.
    pip_install=()
    if python3 -m venv "$env_dir" >/dev/null 2>&1 && "$env_dir/bin/python" -m pip --version >/dev/null 2>&1; then
        py=("$env_dir/bin/python")
        pip_install=("$env_dir/bin/python" -m pip install)
    else
        rm -rf "$env_dir"
        python3 -m pip --version >/dev/null 2>&1 || {
            echo "python3 has no pip (Debian: apt-get install python3-pip)" >&2; exit 1; }
        py=(env PYTHONPATH="$env_dir/pydeps" python3)
        pip_install=(python3 -m pip install --target "$env_dir/pydeps")
    fi
    # shellcheck disable=SC2086
    "${pip_install[@]}" --quiet --disable-pip-version-check ${ANCHOR_PIP_ARGS:-} torch transformers numpy
    "${py[@]}" -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)"
fi

echo "== building exp (release)"
nice -n 10 cargo build --release --quiet --bin exp
exp="$target/release/exp"
model_dir="$("$exp" fetch minilm-l6 --json | "${py[@]}" -c 'import json,sys; print(json.load(sys.stdin)[0]["path"])')"
anchor_py=("${measured[@]}" "${py[@]}" benches/pytorch_anchor.py)
echo "model: $model_dir; data: $data; threads: $threads; load average: $(cut -d' ' -f1-3 /proc/loadavg)"

if wants train; then
    nice -n 10 cargo bench --quiet --bench train_step --no-run
fi
# `exp bench MODEL [ARGS]` in ONNX Runtime, as every exp inference row is measured.
ort_bench() {
    "${measured[@]}" "$exp" bench "$@" --engine ort --batch-sizes 1,8 --seq-len 64 \
        --threads "$threads" --warmup 10 --iterations 100 --data "$data" --json
}
for round in $(seq 1 "$rounds"); do
    if wants train; then
        echo "== train (round $round/$rounds): exp, cargo bench --bench train_step (production path); load $(cut -d" " -f1-3 /proc/loadavg)"
        EXP_BENCH_JSON=1 EXP_BENCH_ONLY=new EXP_FPB="$data" "${measured[@]}" cargo bench --quiet \
            --bench train_step | tee "$out/exp_train.log"
        grep '^{"bench":"train_step"' "$out/exp_train.log" | tail -n 1 > "$out/exp_train.$round.json"
        [ -s "$out/exp_train.$round.json" ] || { echo "train_step printed no JSON line" >&2; exit 1; }
        echo "== train (round $round/$rounds): PyTorch eager, same batches"
        "${anchor_py[@]}" train --model-dir "$model_dir" --data "$data" --threads "$threads" \
            --out "$out/torch_train.$round.json"
    fi
    if wants infer; then
        echo "== infer (round $round/$rounds): exp, our ONNX export of minilm-l6 in ONNX Runtime; load $(cut -d" " -f1-3 /proc/loadavg)"
        ort_bench minilm-l6 > "$out/exp_infer.$round.json"
        "${py[@]}" -c 'import json,sys
for r in json.load(open(sys.argv[1])): print("ort batch %(batch_size)d: mean %(mean_ms).2f ms, p50 %(p50_ms).2f, p95 %(p95_ms).2f" % r)' \
            "$out/exp_infer.$round.json"
        for onnx in ${export_dir:+"$export_dir"/onnx/*.onnx}; do
            file="$(basename "$onnx" .onnx)"
            echo "== infer (round $round/$rounds): exp, exported $file.onnx in ONNX Runtime"
            ort_bench "$onnx" --tokenizer "$export_dir/tokenizer.json" \
                > "$out/exp_export_${file//./_}.$round.json"
        done
        echo "== infer (round $round/$rounds): PyTorch eager"
        "${anchor_py[@]}" infer --model-dir "$model_dir" --data "$data" --threads "$threads" \
            --batch-sizes 1,8 --seq-len 64 --warmup 10 --iterations 100 \
            --out "$out/torch_infer.$round.json"
    fi
done

if wants finetune; then
    db="${exp_db:-$out/exp.db}"
    name="${exp_name:-anchor}"
    if [ -z "$exp_db" ] && ! "$exp" --db "$db" show "$name" >/dev/null 2>&1; then
        echo "== exp new $name (the split both sides use) in $db"
        "$exp" --db "$db" new "$name" --model minilm-l6 --data "$data" >/dev/null
    fi
    if wants e2e; then
        echo "== e2e: exp train $name --stages train (about 40 minutes on 2 cores; resumable)"
        start=$(date +%s)
        "${measured[@]}" "$exp" --db "$db" train "$name" --stages train
        echo "exp train: $(( $(date +%s) - start )) s in this call"
    fi
    "$exp" --db "$db" events "$name" --json > "$out/exp_events.json"
    echo "== finetune: PyTorch plain recipe ($ft_epochs epochs, lr $ft_lr) on the split of $name in $db"
    "${anchor_py[@]}" finetune --model-dir "$model_dir" --threads "$threads" \
        --events "$out/exp_events.json" --epochs "$ft_epochs" --lr "$ft_lr" \
        --out "$out/torch_finetune.json"
fi

"${py[@]}" benches/pytorch_anchor.py report --dir "$out"
