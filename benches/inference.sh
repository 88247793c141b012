#!/usr/bin/env bash
# Inference latency of minilm-l6 (seeded head) in ONNX Runtime and candle, side by side in one
# run, at batch 1 and 8 on real FinancialPhraseBank sentences padded to 64 tokens.
#   bash benches/inference.sh [THREADS]
set -euo pipefail
cd "$(dirname "$0")/.."
threads=${1:-2}
cargo build --release --quiet
./target/release/exp bench minilm-l6 --engine both --batch-sizes 1,8 --threads "$threads" \
    --warmup 10 --iterations 50 --seq-len 64 \
    --data ../shared/data/FinancialPhraseBank/Sentences_50Agree.txt
