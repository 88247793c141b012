"""The PyTorch / Hugging Face side of the anchor benchmark (`benches/pytorch_anchor.sh` runs it).

The anchor answers one question: is `exp` faster than the obvious alternative on the same work?
Each workload here mirrors one exp measurement exactly, so that the ratios mean something:

- `train`: training steps of minilm-l6 on the same batches as `cargo bench --bench train_step`
  (the first N*32 sentences of the FinancialPhraseBank file in file order, each batch padded to its
  longest member, max 64 tokens, same tokenizer.json); the per-batch sequence lengths are written
  out so the report can check that both sides trained on identical shapes.
- `infer`: eager forward passes at fixed batch sizes, padded to 64 tokens, on the same rows that
  `exp bench --data FILE` feeds ONNX Runtime (the dataset's first samples after dedupe).
- `finetune`: the plain recipe (AdamW, linear warm-up then decay, dropout on) on exp's own split,
  read from an experiment's `SplitMade` event rather than re-derived here, with validation accuracy.
- `report`: joins the JSON files of both sides into the ratio table and `results.json`
  (standard library only).

Not part of CI: it needs PyTorch, which the shell script installs into its own environment.
"""

import argparse
import glob
import hashlib
import json
import os
import platform
import re
import sys
import time

LABELS = ["negative", "neutral", "positive"]

# Rust's `char::is_whitespace` (Unicode White_Space); Python's `str.split()` also splits at
# \x1c-\x1f, which exp does not, so normalisation uses this set explicitly.
WHITESPACE = re.compile(
    "[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+"
)
LINE_END = re.compile("\r\n|\r|\n")


# ---------------------------------------------------------------- data, as exp reads it


def read_fpb_lines(path, n):
    """The first `n` `(sentence, label id)` rows as `benches/train_step.rs` reads them: Latin-1,
    split at CR or LF, blank lines skipped, no dedupe, split at the last '@'."""
    text = open(path, "rb").read().decode("latin-1")
    rows = []
    for line in re.split("[\r\n]", text):
        if not line.strip():
            continue
        at = line.rindex("@")
        rows.append((line[:at], LABELS.index(line[at + 1 :].strip())))
        if len(rows) == n:
            break
    if len(rows) < n:
        sys.exit(f"{path}: only {len(rows)} sentences, {n} needed")
    return rows


def normalize(text):
    return WHITESPACE.sub(" ", text).strip(" ")


def sample_id(text):
    return hashlib.sha256(normalize(text).encode("utf-8")).hexdigest()[:16]


def load_samples(path):
    """`(id, normalised text, label id)` in order of first occurrence, as exp's `data::load` gives
    them for a FinancialPhraseBank file: UTF-8 else Latin-1, CR/LF/CRLF lines, exact duplicates
    collapsed to their first row, texts with conflicting labels left out."""
    raw = open(path, "rb").read()
    try:
        text = raw.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    groups = {}
    for line in LINE_END.split(text):
        if not line.strip():
            continue
        sentence, _, label = line.rpartition("@")
        norm = normalize(sentence)
        groups.setdefault(sample_id(norm), (norm, set()))[1].add(label.strip().lower())
    return [
        (sid, norm, LABELS.index(next(iter(labels))))
        for sid, (norm, labels) in groups.items()
        if len(labels) == 1
    ]


# ---------------------------------------------------------------- torch set-up


def torch_setup(threads):
    import torch
    import transformers

    torch.set_num_threads(threads)
    transformers.logging.set_verbosity_error()
    return torch, transformers


def load_model(transformers, model_dir):
    model = transformers.AutoModelForSequenceClassification.from_pretrained(
        model_dir, num_labels=len(LABELS)
    )
    tokenizer = transformers.AutoTokenizer.from_pretrained(model_dir)
    return model, tokenizer


def environment(torch, transformers, model):
    return {
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "python": platform.python_version(),
        "threads": torch.get_num_threads(),
        "attn_implementation": getattr(model.config, "_attn_implementation", None),
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
        "load_average_at_end": os.getloadavg(),
    }


def encode(tokenizer, texts, max_length, fixed=False):
    return tokenizer(
        list(texts),
        padding="max_length" if fixed else "longest",
        truncation=True,
        max_length=max_length,
        return_tensors="pt",
    )


def write_json(path, value):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump(value, f, indent=2)
        f.write("\n")


# ---------------------------------------------------------------- workloads


def cmd_train(args):
    torch, transformers = torch_setup(args.threads)
    model, tokenizer = load_model(transformers, args.model_dir)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01, fused=True)
    rows = read_fpb_lines(args.data, args.batch * (args.warmup_steps + args.steps))
    batches = []
    for i in range(0, len(rows), args.batch):
        chunk = rows[i : i + args.batch]
        enc = encode(tokenizer, [s for s, _ in chunk], args.max_length)
        batches.append((enc, torch.tensor([l for _, l in chunk])))
    seq_lens = [enc["input_ids"].shape[1] for enc, _ in batches]
    fwd = bwd = optim = cpu = 0.0
    tokens = 0
    for i, (enc, labels) in enumerate(batches):
        c0, t0 = time.process_time(), time.perf_counter()
        loss = model(**enc, labels=labels).loss
        t1 = time.perf_counter()
        loss.backward()
        t2 = time.perf_counter()
        opt.step()
        opt.zero_grad(set_to_none=True)
        t3, c1 = time.perf_counter(), time.process_time()
        phase = "warm-up" if i < args.warmup_steps else "timed"
        print(
            f"step {i:2} ({phase}): seq_len {seq_lens[i]:2} | torch: loss {loss.item():.4f}, "
            f"{(t3 - t0) * 1e3:.0f} ms (fwd {(t1 - t0) * 1e3:.0f}, bwd {(t2 - t1) * 1e3:.0f}, "
            f"opt {(t3 - t2) * 1e3:.0f})",
            flush=True,
        )
        if i >= args.warmup_steps:
            fwd, bwd, optim, cpu = fwd + t1 - t0, bwd + t2 - t1, optim + t3 - t2, cpu + c1 - c0
            tokens += enc["input_ids"].numel()
    total = fwd + bwd + optim
    result = {
        "bench": "train_step",
        "side": "pytorch",
        "batch": args.batch,
        "max_length": args.max_length,
        "warmup_steps": args.warmup_steps,
        "timed_steps": args.steps,
        "seq_lens": seq_lens,
        "timed_padded_tokens": tokens,
        "samples_per_sec": args.steps * args.batch / total,
        "ms_per_step": total / args.steps * 1e3,
        "forward_ms": fwd / args.steps * 1e3,
        "backward_ms": bwd / args.steps * 1e3,
        "optimizer_ms": optim / args.steps * 1e3,
        "cpu_s_per_step": cpu / args.steps,
        "lr": args.lr,
        **environment(torch, transformers, model),
    }
    print(
        f"pytorch: {result['samples_per_sec']:.1f} samples/s ({result['ms_per_step']:.0f} ms/step)"
    )
    write_json(args.out, result)


def latency_stats(batch_size, durations_ms):
    """numpy's mean, population std and linear percentiles, as exp's `runtime::latency`."""
    d = sorted(durations_ms)
    n = len(d)

    def pct(q):
        rank = q / 100 * (n - 1)
        lo, hi = int(rank), min(int(rank) + 1, n - 1)
        return d[lo] + (d[hi] - d[lo]) * (rank - lo)

    mean = sum(d) / n
    return {
        "batch_size": batch_size,
        "mean_ms": mean,
        "std_ms": (sum((x - mean) ** 2 for x in d) / n) ** 0.5,
        "min_ms": d[0],
        "max_ms": d[-1],
        "p50_ms": pct(50),
        "p95_ms": pct(95),
        "p99_ms": pct(99),
        "throughput_samples_per_sec": batch_size * 1000 / mean,
        "iterations": n,
    }


def cmd_infer(args):
    torch, transformers = torch_setup(args.threads)
    model, tokenizer = load_model(transformers, args.model_dir)
    model.eval()
    pool = [text for _, text, _ in load_samples(args.data)[:64]]
    rows = []
    with torch.inference_mode():
        for b in args.batch_sizes:
            texts = [pool[i % len(pool)] for i in range(b)]
            enc = encode(tokenizer, texts, args.seq_len, fixed=True)
            for _ in range(args.warmup):
                model(**enc).logits
            durations = []
            for _ in range(args.iterations):
                t0 = time.perf_counter()
                model(**enc).logits
                durations.append((time.perf_counter() - t0) * 1e3)
            stats = latency_stats(b, durations)
            print(
                f"pytorch eager batch {b}: mean {stats['mean_ms']:.2f} ms, "
                f"p50 {stats['p50_ms']:.2f}, p95 {stats['p95_ms']:.2f}",
                flush=True,
            )
            rows.append(stats)
    write_json(
        args.out,
        {"side": "pytorch", "seq_len": args.seq_len, "rows": rows, **environment(torch, transformers, model)},
    )


def split_from_events(events_path):
    """The data file and the train/validation ids of an experiment, from `exp events --json`."""
    events = json.load(open(events_path))
    loaded = next(e["payload"] for e in events if e["kind"] == "DatasetLoaded")
    split = next(e["payload"] for e in events if e["kind"] == "SplitMade")
    return loaded, split


def macro_f1(pred, gold, classes):
    f1s = []
    for c in range(classes):
        tp = sum(1 for p, g in zip(pred, gold) if p == c and g == c)
        fp = sum(1 for p, g in zip(pred, gold) if p == c and g != c)
        fn = sum(1 for p, g in zip(pred, gold) if p != c and g == c)
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return sum(f1s) / classes


def cmd_finetune(args):
    torch, transformers = torch_setup(args.threads)
    loaded, split = split_from_events(args.events)
    data = args.data or loaded["path"]
    samples = {sid: (text, label) for sid, text, label in load_samples(data)}
    if len(samples) != loaded["samples"]:
        sys.exit(f"{data}: {len(samples)} samples here, the experiment recorded {loaded['samples']}")
    parts = {}
    for name in ("train", "validation"):
        ids = split["ids"][name]
        missing = [i for i in ids if i not in samples]
        if missing:
            sys.exit(f"{len(missing)} {name} ids of the split are not in {data} (first {missing[0]})")
        parts[name] = [samples[i] for i in ids]
    print(
        f"exp's split (digest {split['digest'][:12]}): {len(parts['train'])} train, "
        f"{len(parts['validation'])} validation samples",
        flush=True,
    )
    torch.manual_seed(args.seed)
    model, tokenizer = load_model(transformers, args.model_dir)
    # The usual Hugging Face recipe: no weight decay on biases and LayerNorm weights.
    no_decay = ("bias", "LayerNorm.weight")
    groups = [
        {"params": [p for n, p in model.named_parameters() if not n.endswith(no_decay)], "weight_decay": 0.01},
        {"params": [p for n, p in model.named_parameters() if n.endswith(no_decay)], "weight_decay": 0.0},
    ]
    opt = torch.optim.AdamW(groups, lr=args.lr, fused=True)
    train = parts["train"]
    steps_per_epoch = (len(train) + args.batch - 1) // args.batch
    total_steps = steps_per_epoch * args.epochs
    sched = transformers.get_linear_schedule_with_warmup(opt, int(0.1 * total_steps), total_steps)
    gen = torch.Generator().manual_seed(args.seed)

    def evaluate():
        model.eval()
        preds = []
        with torch.inference_mode():
            for i in range(0, len(parts["validation"]), 64):
                chunk = parts["validation"][i : i + 64]
                enc = encode(tokenizer, [t for t, _ in chunk], args.max_length)
                preds += model(**enc).logits.argmax(-1).tolist()
        model.train()
        gold = [l for _, l in parts["validation"]]
        acc = sum(p == g for p, g in zip(preds, gold)) / len(gold)
        return acc, macro_f1(preds, gold, len(LABELS))

    epochs = []
    wall0 = time.perf_counter()
    train_s = 0.0
    model.train()
    for epoch in range(args.epochs):
        order = torch.randperm(len(train), generator=gen).tolist()
        t0 = time.perf_counter()
        loss_sum, tokens = 0.0, 0
        for s in range(steps_per_epoch):
            chunk = [train[j] for j in order[s * args.batch : (s + 1) * args.batch]]
            enc = encode(tokenizer, [t for t, _ in chunk], args.max_length)
            tokens += enc["input_ids"].numel()
            loss = model(**enc, labels=torch.tensor([l for _, l in chunk])).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
            loss_sum += loss.item()
        epoch_s = time.perf_counter() - t0
        train_s += epoch_s
        acc, f1 = evaluate()
        epochs.append(
            {
                "epoch": epoch + 1,
                "train_loss": loss_sum / steps_per_epoch,
                "train_s": epoch_s,
                "samples_per_sec": len(train) / epoch_s,
                "padded_tokens": tokens,
                "val_accuracy": acc,
                "val_macro_f1": f1,
            }
        )
        print(
            f"epoch {epoch + 1}/{args.epochs}: loss {loss_sum / steps_per_epoch:.4f}, "
            f"{epoch_s:.0f} s ({len(train) / epoch_s:.1f} samples/s), "
            f"validation accuracy {acc:.4f}, macro-F1 {f1:.4f}",
            flush=True,
        )
    wall = time.perf_counter() - wall0
    write_json(
        args.out,
        {
            "side": "pytorch",
            "recipe": {
                "epochs": args.epochs,
                "lr": args.lr,
                "batch": args.batch,
                "max_length": args.max_length,
                "weight_decay": 0.01,
                "warmup": 0.1,
                "grad_clip": 1.0,
                "seed": args.seed,
            },
            "data": data,
            "split_digest": split["digest"],
            "train_samples": len(train),
            "validation_samples": len(parts["validation"]),
            "wall_s": wall,
            "train_s": train_s,
            "val_accuracy": epochs[-1]["val_accuracy"],
            "val_macro_f1": epochs[-1]["val_macro_f1"],
            "epochs": epochs,
            **environment(torch, transformers, model),
        },
    )


# ---------------------------------------------------------------- report


def parse_ts(ts):
    """`2026-11-28T21:52:45.693Z` or a run id's `20261128T215245.481` as seconds since the epoch (UTC)."""
    from datetime import datetime, timezone

    for fmt in ("%Y-%m-%dT%H:%M:%S.%fZ", "%Y%m%dT%H%M%S.%f"):
        try:
            return datetime.strptime(ts, fmt).replace(tzinfo=timezone.utc).timestamp()
        except ValueError:
            pass
    raise ValueError(f"unknown time format {ts!r}")


def exp_training(events):
    """The `train` stage of an experiment as its log tells it: wall time summed over the runs that
    did it (each run from its start, encoded in the run id, to its last training event, so a killed
    and resumed run counts the work it kept, not the gap), the phases' epochs, and the baseline's
    and fine-tuned model's validation metrics. None while training is not recorded as completed."""
    done = next((e for e in events if e["kind"] == "TrainingCompleted"), None)
    if done is None:
        return None
    split_seq = next(e["seq"] for e in events if e["kind"] == "SplitMade")
    test = next((e for e in events if e["kind"] == "TestEvaluated" and e["seq"] > done["seq"]), done)
    spans = {}
    for e in events:
        if split_seq < e["seq"] <= test["seq"]:
            start = parse_ts(e["run"].split("-")[0])
            spans[e["run"]] = (start, max(spans.get(e["run"], (0, 0))[1], parse_ts(e["ts"])))
    epochs = [e["payload"]["report"] for e in events if e["kind"] == "EpochCompleted" and e["seq"] <= done["seq"]]
    baseline = next(e["payload"] for e in events if e["kind"] == "BaselineCaptured")
    return {
        "wall_s": sum(end - start for start, end in spans.values()),
        "runs": len(spans),
        "phase_epochs": len(epochs),
        "phase_epoch_s": sum(r["duration_s"] for r in epochs),
        "phase_samples": round(sum(r["duration_s"] * r["samples_per_sec"] for r in epochs)),
        "baseline_val_accuracy": baseline["validation"]["accuracy"],
        "baseline_val_macro_f1": baseline["validation"]["macro_f1"],
        "val_accuracy": done["payload"]["validation"]["accuracy"],
        "val_macro_f1": done["payload"]["validation"]["macro_f1"],
    }


def load_optional(path):
    return json.load(open(path)) if os.path.isfile(path) else None


def load_rounds(d, stem):
    """`DIR/STEM.1.json`, `DIR/STEM.2.json`, ... in round order."""

    paths = glob.glob(f"{d}/{stem}.*.json")
    return [json.load(open(p)) for p in sorted(paths, key=lambda p: int(p.rsplit(".", 2)[1]))]


def median(values):
    v = sorted(values)
    return (v[(len(v) - 1) // 2] + v[len(v) // 2]) / 2


def cmd_report(args):
    d = args.dir
    results = {"load_average": os.getloadavg(), "cpus": os.cpu_count(), "workloads": {}}
    rows = []  # (workload, exp, pytorch, speed-up of exp, target)

    exp_train, torch_train = load_rounds(d, "exp_train"), load_rounds(d, "torch_train")
    if exp_train and torch_train:
        shapes = {tuple(r["seq_lens"]) for r in exp_train + torch_train}
        same = len(shapes) == 1
        e = median([r["samples_per_sec"] for r in exp_train])
        t = median([r["samples_per_sec"] for r in torch_train])
        results["workloads"]["train"] = {
            "exp_rounds": exp_train,
            "pytorch_rounds": torch_train,
            "same_batches": same,
            "exp_samples_per_sec_median": e,
            "pytorch_samples_per_sec_median": t,
            "ratio_exp_over_pytorch": e / t,
        }
        if not same:
            print(f"WARNING: the sides did not train on the same shapes: {sorted(shapes)}")
        first = exp_train[0]
        rows.append(
            (
                f"training throughput, batch {first['batch']} ({first['timed_steps']} steps, "
                f"{first['timed_padded_tokens']} padded tokens{'' if same else ', SHAPES DIFFER'})",
                f"{e:.2f} samples/s",
                f"{t:.2f} samples/s",
                e / t,
                ">= 1.5",
            )
        )

    exp_infer, torch_infer = load_rounds(d, "exp_infer"), load_rounds(d, "torch_infer")
    if exp_infer and torch_infer:
        results["workloads"]["infer"] = {"exp_ort_rounds": exp_infer, "pytorch_eager_rounds": torch_infer, "ratios": {}}

        def infer_rows(runs, key, what):
            """One row per batch size: exp's ORT rounds in `runs` against PyTorch eager."""
            for b in sorted({r["batch_size"] for run in runs for r in run if r["engine"] == "ort"}):
                e = median([r["mean_ms"] for run in runs for r in run if r["engine"] == "ort" and r["batch_size"] == b])
                ts = [r["mean_ms"] for run in torch_infer for r in run["rows"] if r["batch_size"] == b]
                if not ts:
                    continue
                t = median(ts)
                results["workloads"]["infer"]["ratios"][key(b)] = {"exp_ms": e, "pytorch_ms": t, "pytorch_over_exp": t / e}
                rows.append(
                    (
                        f"inference latency, batch {b}, seq 64 ({what} vs eager, mean)",
                        f"{e:.2f} ms",
                        f"{t:.2f} ms",
                        t / e,
                        ">= 3" if b == 1 else "",
                    )
                )

        infer_rows(exp_infer, str, "ORT")
        # Exported files (--export-dir): the deployable model against the model it started from.
        stems = sorted({os.path.basename(p).rsplit(".", 2)[0] for p in glob.glob(f"{d}/exp_export_*.json")})
        for stem in stems:
            label = stem[len("exp_export_"):]
            infer_rows(load_rounds(d, stem), lambda b, label=label: f"{label}/{b}", f"export {label} in ORT")

    torch_ft = load_optional(f"{d}/torch_finetune.json")
    events = load_optional(f"{d}/exp_events.json")
    exp_ft = exp_training(events) if events else None
    if torch_ft or exp_ft:
        results["workloads"]["finetune"] = {"pytorch": torch_ft, "exp": exp_ft}
    if torch_ft and exp_ft:
        ratio = torch_ft["wall_s"] / exp_ft["wall_s"]
        results["workloads"]["finetune"]["ratio_pytorch_wall_over_exp_wall"] = ratio
        rows.append(
            (
                "end-to-end fine-tune wall time (different recipes, see below)",
                f"{exp_ft['wall_s'] / 60:.1f} min",
                f"{torch_ft['wall_s'] / 60:.1f} min",
                ratio,
                "",
            )
        )

    rounds = max(len(exp_train), len(exp_infer), 1)
    print(
        f"\nanchor: exp vs PyTorch eager, {results['cpus']} CPUs, load average {results['load_average'][0]:.2f} "
        f"at the end, median of {rounds} round(s); exp speed-up > 1 means exp is faster"
    )
    print(f"{'workload':<74} {'exp':>18} {'pytorch':>18} {'exp speed-up':>13}  target")
    for name, e, t, ratio, target in rows:
        print(f"{name:<74} {e:>18} {t:>18} {ratio:>12.2f}x  {target}")
    if torch_ft:
        r = torch_ft["recipe"]
        print(
            f"\nPyTorch plain recipe ({r['epochs']} epochs, lr {r['lr']}, batch {r['batch']}, max {r['max_length']}) "
            f"on exp's split ({torch_ft['train_samples']} train): validation accuracy "
            f"{torch_ft['val_accuracy']:.4f}, macro-F1 {torch_ft['val_macro_f1']:.4f}, "
            f"{torch_ft['wall_s'] / 60:.1f} min ({torch_ft['train_s'] / 60:.1f} min training, "
            f"{torch_ft['train_samples'] * r['epochs'] / torch_ft['train_s']:.1f} samples/s)"
        )
    if exp_ft:
        print(
            f"exp train stage (baseline fit, analysis, plan, {exp_ft['phase_epochs']} phase epochs, sealed test; "
            f"{exp_ft['runs']} run(s)): validation accuracy {exp_ft['val_accuracy']:.4f}, macro-F1 "
            f"{exp_ft['val_macro_f1']:.4f} (its baseline {exp_ft['baseline_val_accuracy']:.4f}), "
            f"{exp_ft['wall_s'] / 60:.1f} min (phase epochs {exp_ft['phase_epoch_s'] / 60:.1f} min, "
            f"{exp_ft['phase_samples'] / exp_ft['phase_epoch_s']:.1f} samples/s at the plan's batch sizes)"
        )
    elif torch_ft:
        print("exp side of the fine-tune: not measured (run with --e2e, or point --exp-db/--exp-name at a trained experiment)")
    write_json(f"{d}/results.json", results)
    print(f"\nwritten {d}/results.json")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)

    def common(s):
        s.add_argument("--model-dir", required=True, help="Hugging Face BERT directory (minilm-l6 in exp's cache)")
        s.add_argument("--threads", type=int, default=2)
        s.add_argument("--out", required=True, help="JSON file to write")

    s = sub.add_parser("train", help="training-step throughput on train_step's batches")
    common(s)
    s.add_argument("--data", required=True)
    s.add_argument("--batch", type=int, default=32)
    s.add_argument("--max-length", type=int, default=64)
    s.add_argument("--warmup-steps", type=int, default=2)
    s.add_argument("--steps", type=int, default=8)
    s.add_argument("--lr", type=float, default=2e-5)
    s.set_defaults(func=cmd_train)

    s = sub.add_parser("infer", help="eager inference latency at fixed batch sizes")
    common(s)
    s.add_argument("--data", required=True)
    s.add_argument("--batch-sizes", type=lambda v: [int(x) for x in v.split(",")], default=[1, 8])
    s.add_argument("--seq-len", type=int, default=64)
    s.add_argument("--warmup", type=int, default=10)
    s.add_argument("--iterations", type=int, default=100)
    s.set_defaults(func=cmd_infer)

    s = sub.add_parser("finetune", help="the plain fine-tune recipe on exp's split")
    common(s)
    s.add_argument("--events", required=True, help="`exp events NAME --json` of the experiment whose split to use")
    s.add_argument("--data", help="the dataset file (default: the path the experiment recorded)")
    s.add_argument("--epochs", type=int, default=3)
    s.add_argument("--lr", type=float, default=5e-5)
    s.add_argument("--batch", type=int, default=32)
    s.add_argument("--max-length", type=int, default=64)
    s.add_argument("--seed", type=int, default=42)
    s.set_defaults(func=cmd_finetune)

    s = sub.add_parser("report", help="ratio table and results.json from the JSON files in DIR")
    s.add_argument("--dir", required=True)
    s.set_defaults(func=cmd_report)

    args = p.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
