"""``python -m recognizer.training {all,synth,cache,train,export,lm,evaluate,realspeech}``.

Every stage is resumable and reads/writes under ``--cache`` (default ``data/``, git-ignored);
the shipped runtime files go to ``--out`` (default ``recognizer/models/default``).
Recipe B (the small model distilled from A): ``small-train`` and ``small-export`` (work files
under ``<cache>/small``, shipped files in ``recognizer/models/small``); ``evaluate --out
recognizer/models/small`` measures it like A.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from recognizer.training.distill import DistillConfig

MODELS = Path(__file__).resolve().parent.parent / "models"
MODEL_DIR = MODELS / "default"
SMALL_DIR = MODELS / "small"


def _log(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {message}", flush=True)


def cmd_synth(args: argparse.Namespace) -> None:
    from recognizer.training.synth import synthesise

    synthesise(args.cache / "synth", args.train_clips, args.dev_clips, args.word_clips,
               args.dev_word_clips, args.sentence_clips, args.dev_sentence_clips,
               args.name_clips, args.dev_name_clips, workers=args.workers,
               progress=lambda done, total: _log(f"synth {done}/{total}"))  # fmt: skip


def cmd_cache(args: argparse.Namespace) -> None:
    from recognizer.training.dataset import build_cache, features_dir, reencode_cache
    from recognizer.training.model import ModelConfig, build_pretrained

    default = ModelConfig()
    model = build_pretrained(default).eval()
    for split in ("dev", "train"):
        _log(f"encoding {split}")
        build_cache(args.cache / "synth" / "manifest.jsonl", args.cache / "features", model, split)
    if args.frozen_layers != default.frozen_layers:
        target = features_dir(args.cache, args.frozen_layers)
        deeper = build_pretrained(ModelConfig(frozen_layers=args.frozen_layers)).eval()
        for split in ("dev", "train"):
            _log(f"re-encoding {split} for {args.frozen_layers} frozen blocks into {target}")
            reencode_cache(args.cache / "features", target, deeper, split)


def cmd_train(args: argparse.Namespace) -> None:
    from recognizer.training.dataset import features_dir
    from recognizer.training.model import ModelConfig
    from recognizer.training.train import TrainConfig, train

    weights = tuple(_domain_weight(item) for item in args.domain_weight)
    config = TrainConfig(model=ModelConfig(frozen_layers=args.frozen_layers), minutes=args.minutes,
                         total_steps=args.steps, head_lr=TrainConfig.head_lr * args.lr_scale,
                         block_lr=TrainConfig.block_lr * args.lr_scale,
                         domain_weights=weights)  # fmt: skip
    init = Path(str(args.init)) if args.init is not None else None
    features = features_dir(args.cache, args.frozen_layers)
    train(features, args.cache / "runs", config, log=_log, init=init)


def _domain_weight(item: str) -> tuple[str, float]:
    domain, _, weight = item.partition("=")
    try:
        value = float(weight)
    except ValueError:
        value = -1.0
    if not domain or value < 0:
        raise SystemExit(f"--domain-weight {item!r}: expected DOMAIN=WEIGHT, e.g. ivr=1.5")
    return domain, value


def _floors(text: str) -> tuple[float, ...]:
    try:
        floors = tuple(float(f) for f in text.split(","))
    except ValueError:
        floors = ()
    if not floors or any(f >= 0 for f in floors):
        raise argparse.ArgumentTypeError(f"{text!r}: expected negative floors, e.g. -5,-7")
    return floors


def _checkpoint(args: argparse.Namespace) -> Path:
    if args.checkpoint is not None:
        return Path(str(args.checkpoint))
    runs: Path = args.cache / "runs"
    return runs / "best.pt" if (runs / "best.pt").exists() else runs / "last.pt"


def cmd_export(args: argparse.Namespace) -> None:
    from recognizer.training.export import (
        CHECKPOINT_NAME,
        DecoderSettings,
        average_runs,
        export_torchscript,
        model_from_run,
        write_runtime_files,
    )
    from recognizer.training.model import interpolate_pretrained

    checkpoint = _checkpoint(args)
    model = average_runs([checkpoint, *(Path(str(p)) for p in args.average)])
    if args.fine_tuned_weight != 1.0:  # out-of-range weights are refused there
        interpolate_pretrained(model, args.fine_tuned_weight)
    previous = args.out / "config.json"
    decoder = DecoderSettings()
    if previous.exists():
        old = json.loads(previous.read_text())
        decoder = DecoderSettings.from_config(old)
    write_runtime_files(model, args.out, args.cache / "export" / "model.fp32.onnx", decoder, {})
    if args.torchscript:
        shipped = model_from_run(args.out / CHECKPOINT_NAME)
        export_torchscript(shipped, args.out / "model.torchscript.pt")
    averaged = f" averaged with {', '.join(map(str, args.average))}" if args.average else ""
    _log(f"exported {checkpoint}{averaged} to {args.out}")
    if args.handoff is not None:
        handoff(args.out, args.cache, Path(args.handoff))


def handoff(out: Path, cache: Path, target: Path) -> None:
    """Copy the runtime files (plus the fp32 ONNX) to a folder outside git for other teams."""
    target.mkdir(parents=True, exist_ok=True)
    for name in ("model.onnx", "labels.json", "config.json", "lm.bin", "unigrams.txt"):
        if (out / name).exists():
            shutil.copy2(out / name, target / name)
    shutil.copy2(cache / "export" / "model.fp32.onnx", target / "model.fp32.onnx")
    _log(f"handed off to {target}")


def _small_config(args: argparse.Namespace) -> DistillConfig:
    from recognizer.training.distill import DistillConfig
    from recognizer.training.small import SmallConfig

    return DistillConfig(minutes=args.minutes, distill_weight=args.distill_weight,
                         model=SmallConfig(dropout=args.dropout), max_frames=args.max_frames,
                         warmup_steps=args.warmup, lr=args.lr)  # fmt: skip


def cmd_small_train(args: argparse.Namespace) -> None:
    from recognizer.training.distill import train_small

    teacher = Path(str(args.teacher)) if args.distill_weight > 0 else None
    init = Path(str(args.init)) if args.init is not None else None
    best = train_small(args.cache / "features", args.cache / "small", _small_config(args),
                       teacher, log=_log, run_name=args.run, init=init)  # fmt: skip
    _log(f"best checkpoint: {best}")


def cmd_small_export(args: argparse.Namespace) -> None:
    from recognizer.training.export import DecoderSettings, export_torchscript, write_config
    from recognizer.training.small import export_small, load_small

    out: Path = args.out if args.out is not None else SMALL_DIR
    runs: Path = args.cache / "small" / args.run
    checkpoint = Path(str(args.checkpoint)) if args.checkpoint else runs / "best.pt"
    previous = out / "config.json"
    decoder = DecoderSettings()
    if previous.exists():
        old = json.loads(previous.read_text())
        decoder = DecoderSettings.from_config(old)
    shipped = export_small(load_small(checkpoint), out, args.cache / "small" / "export",
                           int8=not args.fp32)  # fmt: skip
    write_config(out, decoder, shipped.extra)
    if args.torchscript:
        export_torchscript(load_small(shipped.checkpoint), out / "model.torchscript.pt")
    _log(f"exported {checkpoint} to {out}")


def cmd_lm(args: argparse.Namespace) -> None:
    from recognizer.training.lm import build_lm, build_tools, write_corpus

    bin_dir = build_tools(args.cache / "kenlm")
    corpus = write_corpus(args.cache / "lm" / "corpus.txt", args.lm_sentences)
    lm_bin, unigrams = build_lm(corpus, args.out, bin_dir, args.cache / "lm" / "tmp")
    _log(f"wrote {lm_bin} ({lm_bin.stat().st_size} bytes) and {unigrams}")


def cmd_realspeech(args: argparse.Namespace) -> None:
    from recognizer.training.realspeech import build_manifest

    count = build_manifest(args.cache / "realspeech.jsonl")
    _log(f"real-speech manifest: {count} clips")


def cmd_evaluate(args: argparse.Namespace) -> None:
    from recognizer.decoding import DecoderOptions
    from recognizer.training import evaluate as ev

    sess = ev.session(args.out / "model.onnx")
    config_path = args.out / "config.json"
    config = json.loads(config_path.read_text())
    dev = ev.infer_manifest(sess, args.cache / "features" / "dev_manifest.jsonl", "domain")
    report: dict[str, object] = {"dev_clips": len(dev)}
    if args.tune:
        floors = args.tune_floors or (DecoderOptions.token_min_logp,)
        alpha, beta, token_min_logp, _ = ev.tune(dev[: args.tune_clips], args.out, floors)
        config.update(alpha=alpha, beta=beta, token_min_logp=token_min_logp)
        config_path.write_text(json.dumps(config, indent=2) + "\n")
    decoder = ev.build_decoder(args.out, config["alpha"], config["beta"])
    report["alpha"], report["beta"] = config["alpha"], config["beta"]
    token_min_logp = float(config.get("token_min_logp", DecoderOptions.token_min_logp))
    report["token_min_logp"] = token_min_logp
    report["dev_greedy"] = ev.scores(dev)
    report["dev_lm"] = ev.scores(dev, decoder, token_min_logp=token_min_logp)
    real_manifest = args.cache / "realspeech.jsonl"
    if real_manifest.exists():
        real = ev.infer_manifest(sess, real_manifest, "source")
        report["real_clips"] = len(real)
        report["real_greedy"] = ev.scores(real)
        report["real_lm"] = ev.scores(real, decoder, token_min_logp=token_min_logp)
    report["rtf_1core_3s"] = ev.real_time_factor(sess)
    print(json.dumps(report, indent=2))
    name = "eval.json" if args.out.resolve() == MODEL_DIR else f"eval-{args.out.name}.json"
    (args.cache / name).write_text(json.dumps(report, indent=2) + "\n")


def cmd_all(args: argparse.Namespace) -> None:
    for step in (cmd_synth, cmd_cache, cmd_train, cmd_lm, cmd_realspeech, cmd_export):
        step(args)
    args.tune = True
    cmd_evaluate(args)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m recognizer.training")
    parser.add_argument("command", choices=["all", "synth", "cache", "train", "export", "lm",
                                            "realspeech", "evaluate", "small-train",
                                            "small-export"])  # fmt: skip
    parser.add_argument("--cache", type=Path, default=Path("data"))
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="model folder (default: models/default; models/small for small-*)",
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--train-clips", type=int, default=32000)
    parser.add_argument("--dev-clips", type=int, default=2000)
    parser.add_argument(
        "--word-clips",
        type=int,
        default=0,
        help="synth: training clips of dictionary words in carrier phrases (the shipped model's "
        "runs used 12000: see its model card)",
    )
    parser.add_argument(
        "--dev-word-clips",
        type=int,
        default=200,
        help="synth: held-out-voice clips of dictionary words (dev domain 'words')",
    )
    parser.add_argument(
        "--sentence-clips", type=int, default=0,
        help="synth: training clips of natural sentences (WordNet usage examples, fortunes)",
    )  # fmt: skip
    parser.add_argument(
        "--dev-sentence-clips", type=int, default=200,
        help="synth: held-out-voice clips of held-out sentences (dev domain 'sentences')",
    )  # fmt: skip
    parser.add_argument(
        "--name-clips", type=int, default=0,
        help="synth: training clips of invented names (no dictionary word) in carrier phrases",
    )  # fmt: skip
    parser.add_argument(
        "--dev-name-clips", type=int, default=200,
        help="synth: held-out-voice clips of invented names (dev domain 'names')",
    )  # fmt: skip
    parser.add_argument(
        "--frozen-layers", type=int, default=4,
        help="cache, train: Whisper blocks kept frozen (their outputs cached); below 4, `cache`"
        " re-encodes the cached log-mels into <cache>/features-frozenN",
    )  # fmt: skip
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--steps", type=int, default=6000)
    parser.add_argument(
        "--domain-weight", action="append", default=[], metavar="DOMAIN=WEIGHT",
        help="train: draw each example of DOMAIN (ivr, general, words, sentences, names) this"
        " often per epoch",
    )  # fmt: skip
    parser.add_argument(
        "--lr-scale", type=float, default=1.0,
        help="train: multiply both learning rates (e.g. 0.5 to continue from a trained model)",
    )  # fmt: skip
    parser.add_argument("--lm-sentences", type=int, default=300000)
    parser.add_argument("--checkpoint", default=None)
    parser.add_argument(
        "--init", default=None, help="train, small-train: start a new run from these weights"
    )
    parser.add_argument("--torchscript", action="store_true")
    parser.add_argument(
        "--fine-tuned-weight", type=float, default=1.0,
        help="export: weight of the fine-tuned blocks against Whisper's own (WiSE-FT); 1 keeps"
        " them as trained",
    )  # fmt: skip
    parser.add_argument(
        "--average", action="append", default=[], metavar="CHECKPOINT",
        help="export: average the checkpoint's trained weights with these (repeatable)",
    )  # fmt: skip
    parser.add_argument("--handoff", default=None, help="also copy runtime files here")
    parser.add_argument("--tune", action="store_true", help="tune alpha/beta on dev first")
    parser.add_argument("--tune-clips", type=int, default=200)
    parser.add_argument(
        "--tune-floors", type=_floors, default=None, metavar="F[,F...]",
        help="evaluate --tune: the beam letter floors (token_min_logp) to try, e.g. -5,-7,-9;"
        " lower floors cost capacity (default -5, as shipped)",
    )  # fmt: skip
    parser.add_argument(
        "--distill-weight",
        type=float,
        default=1.0,
        help="small-train: weight of KL(teacher || student); 0 = CTC only",
    )
    parser.add_argument(
        "--teacher",
        default=str(MODEL_DIR / "finetuned.fp16.pt"),
        help="small-train: recipe A checkpoint to distil",
    )
    parser.add_argument("--run", default="runs", help="small-*: run folder under <cache>/small")
    parser.add_argument("--fp32", action="store_true", help="small-export: fp32 weights")
    parser.add_argument("--dropout", type=float, default=0.1, help="small-train")
    parser.add_argument(
        "--max-frames", type=int, default=8000, help="small-train: mel frames/batch"
    )
    parser.add_argument("--warmup", type=int, default=300, help="small-train: warm-up steps")
    parser.add_argument("--lr", type=float, default=3e-3, help="small-train: peak learning rate")
    args = parser.parse_args()
    if args.out is None and not args.command.startswith("small-"):
        args.out = MODEL_DIR
    torch.set_num_threads(1 if args.command == "small-train" else args.threads)
    commands = {"all": cmd_all, "synth": cmd_synth, "cache": cmd_cache, "train": cmd_train,
                "export": cmd_export, "lm": cmd_lm, "realspeech": cmd_realspeech,
                "evaluate": cmd_evaluate, "small-train": cmd_small_train,
                "small-export": cmd_small_export}  # fmt: skip
    commands[args.command](args)


if __name__ == "__main__":
    main()
