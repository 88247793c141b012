#!/usr/bin/env bash
# Fills fuzz/corpus/<target>/ with small seeds: a few inline samples plus files the repository
# already has (nothing is copied into git). Run from anywhere; safe to run again.
set -euo pipefail
cd "$(dirname "$0")"
root=..
mkdir -p corpus/dataset corpus/analysis_json corpus/onnx_import

# dataset: the first byte picks the format (0xC0 set: JSON Lines; 0x80 alone: Parquet; else even:
# FinancialPhraseBank, odd: CSV, or TSV with 0x40) and CSV/TSV options.
printf '\x00Sales rose 5 %% .@positive\r\nSales fell .@negative\nThe meeting is today .@neutral\r' > corpus/dataset/fpb
printf '\x01text,label\n"Sales rose, a lot",positive\nSales fell,negative\nMeeting today,neutral\n' > corpus/dataset/csv-header
printf '\x05neutral,"Quoted ""text"", with comma"\npositive,Sales rose\n' > corpus/dataset/csv-no-header
printf '\x41text\tlabel\r"Sales rose, a lot"\tpositive\rSales fell\tnegative\r\n' > corpus/dataset/tsv-header
printf '\xc0{"text": "Sales rose", "label": 2}\n\n{"text": "Sales fell", "label": 0}\r\n{"sentence": "x", "label": "neutral"}\n' > corpus/dataset/jsonl
# Parquet as pyarrow writes it (snappy), when pyarrow is importable (.ci/run puts it on PYTHONPATH).
if python3 -c "import pyarrow" 2>/dev/null; then
    python3 - <<'PY'
import io, pyarrow as pa, pyarrow.parquet as pq
buf = io.BytesIO()
pq.write_table(pa.table({"sentence": ["Sales rose", "Sales fell", "Meeting today"], "label": [2, 0, 1]}), buf)
open("corpus/dataset/parquet", "wb").write(b"\x80" + buf.getvalue())
PY
fi
{ printf '\x00'; head -c 2000 "$root/../shared/data/FinancialPhraseBank/Sentences_AllAgree.txt"; } > corpus/dataset/fpb-real
{ printf '\x01'; head -c 2000 "$root/../shared/data/FinancialPhraseBank/all-data.csv"; } > corpus/dataset/csv-real

# analysis_json: the notebook's file (12 KB) and a broken one.
install -m 644 "$root/../shared/fixtures/comprehensive_analysis.tinybert.json" corpus/analysis_json/notebook.json
printf '{"metadata": {"dataset_size": 3}, "performance_metrics": []}' > corpus/analysis_json/partial.json

# onnx_import: the smallest BERT fixtures (about 120 KB each; opset 11 and 17).
install -m 644 "$root/tests/fixtures/onnx/bert_op11_fixed16_output.onnx" corpus/onnx_import/
install -m 644 "$root/tests/fixtures/onnx/bert_op17_dynamic_logits.onnx" corpus/onnx_import/
echo "seeded: $(ls corpus/*/ | grep -vc -e '^$' -e ':$') files in fuzz/corpus/"
