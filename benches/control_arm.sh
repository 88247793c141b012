#!/usr/bin/env bash
# The pipeline against the plain control arm on the same splits (issue 16; not in CI: about
# 20-30 minutes per seed on 2 cores). For each seed: `exp new expN --seed N` trained with
# `--budget BUDGET`, and `exp new plainN --seed N --recipe plain` trained through the sealed test,
# in one database; then `exp report expN --model fine-tuned --compare plainN` pairs them and a pooled McNemar test
# over all seeds is computed from the same per-seed counts.
#
# usage: benches/control_arm.sh [--budget 15m] [--data FILE] [--dir DIR] SEED...
set -euo pipefail

budget=15m
data=../shared/data/FinancialPhraseBank/Sentences_50Agree.txt
dir=target/control-arm
seeds=()
while [ $# -gt 0 ]; do
    case "$1" in
        --budget) budget="$2"; shift 2 ;;
        --data) data="$2"; shift 2 ;;
        --dir) dir="$2"; shift 2 ;;
        -*) echo "unknown option $1" >&2; exit 2 ;;
        *) seeds+=("$1"); shift ;;
    esac
done
[ ${#seeds[@]} -gt 0 ] || { echo "usage: $0 [--budget 15m] [--data FILE] [--dir DIR] SEED..." >&2; exit 2; }

cargo build --release --quiet
exp="$(pwd)/target/release/exp"
data="$(realpath "$data")"
mkdir -p "$dir"
db="$dir/exp.db"

for seed in "${seeds[@]}"; do
    for arm in exp plain; do
        name="$arm$seed"
        if ! "$exp" --db "$db" show "$name" > /dev/null 2>&1; then
            recipe=analysis; [ "$arm" = plain ] && recipe=plain
            "$exp" --db "$db" new "$name" --data "$data" --seed "$seed" --recipe "$recipe" > /dev/null
        fi
        start=$(date +%s)
        if [ "$arm" = exp ]; then
            "$exp" --db "$db" train "$name" --budget "$budget" --quiet > "$dir/$name.log" 2>&1
        else
            "$exp" --db "$db" train "$name" --stages train --quiet > "$dir/$name.log" 2>&1
        fi
        echo "$name $(( $(date +%s) - start ))" >> "$dir/wall.txt"
    done
    "$exp" --db "$db" report "exp$seed" --model fine-tuned --compare "plain$seed" --out "$dir/report-$seed" > /dev/null
done

python3 - "$dir" "${seeds[@]}" <<'PY'
import json, sys
from math import comb

def mcnemar(b, c):
    m, k = b + c, min(b, c)
    return 1.0 if m == 0 else min(1.0, 2 * sum(comb(m, i) for i in range(k + 1)) / 2 ** m)

out, seeds = sys.argv[1], sys.argv[2:]
print("| seed | plain control | exp | only exp right / only control right | paired p |")
print("|---|---|---|---|---|")
b = c = n = 0
exp_acc, ctl_acc = [], []
for seed in seeds:
    cmp = json.load(open(f"{out}/report-{seed}/comparison.json"))["comparisons"][0]
    if cmp.get("pairing") != "paired":
        print(f"| {seed} | unpaired: {cmp.get('pairing_note')} |")
        continue
    f = cmp["flips"]
    b, c, n = b + f["fixed"], c + f["broken"], n + cmp["after"]["samples"]
    exp_acc.append(cmp["after"]["accuracy"])
    ctl_acc.append(cmp["before"]["accuracy"])
    print(f"| {seed} | {cmp['before']['accuracy']:.4f} | {cmp['after']['accuracy']:.4f} | {f['fixed']}/{f['broken']} | {cmp['mcnemar_p']:.3f} |")
if exp_acc:
    print(f"mean exp {sum(exp_acc) / len(exp_acc):.4f}, mean control {sum(ctl_acc) / len(ctl_acc):.4f}; "
          f"pooled {b}/{c} over {n} paired predictions, McNemar p = {mcnemar(b, c):.3f}")
PY
