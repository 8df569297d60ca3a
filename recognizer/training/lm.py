"""KenLM n-gram for the beam search: built with ``lmplz`` from the generated IVR + general text.

Debian has no KenLM, so ``build_tools`` compiles ``lmplz``/``build_binary`` from the same sdist
that the ``kenlm`` Python module comes from (needs cmake, g++, Boost, zlib, bz2, lzma dev
packages). ``lmplz`` takes 80 % of RAM by default, so the memory is capped with ``-S``.
"""

from __future__ import annotations

import subprocess
import tarfile
from pathlib import Path

from recognizer.training.text import dictionary_words, lm_corpus, split_sentences

KENLM_VERSION = "0.3.0"
ORDER = 4


def build_tools(work_dir: Path) -> Path:
    """Compile lmplz and build_binary from the kenlm sdist; returns the ``bin`` folder."""
    source = work_dir / f"kenlm-{KENLM_VERSION}"
    bin_dir = source / "build" / "bin"
    if (bin_dir / "lmplz").exists() and (bin_dir / "build_binary").exists():
        return bin_dir
    work_dir.mkdir(parents=True, exist_ok=True)
    sdist = work_dir / f"kenlm-{KENLM_VERSION}.tar.gz"
    if not sdist.exists():
        subprocess.run(
            ["pip", "download", "--no-deps", "--no-binary", "kenlm", f"kenlm=={KENLM_VERSION}",
             "-d", str(work_dir)], check=True,
        )  # fmt: skip
    with tarfile.open(sdist) as tar:
        tar.extractall(work_dir, filter="data")
    subprocess.run(
        ["cmake", "-S", str(source), "-B", str(source / "build"), "-DCMAKE_BUILD_TYPE=Release",
         "-DCMAKE_DISABLE_FIND_PACKAGE_Eigen3=ON"], check=True,
    )  # fmt: skip
    subprocess.run(
        ["cmake", "--build", str(source / "build"), "--target", "lmplz", "build_binary", "-j2"],
        check=True,
    )
    return bin_dir


def write_corpus(path: Path, sentences: int, seed: int = 99, natural: bool = True) -> Path:
    """One normalised sentence per line: the generators (a different seed from the acoustic
    training texts), then, with ``natural``, the training split of the natural-sentence corpus
    (real phrasing beyond the generators' templates; the dev split stays out)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        for line in lm_corpus(seed, sentences):
            handle.write(line + "\n")
        for line in split_sentences("train") if natural else ():
            handle.write(line + "\n")
        for word in dictionary_words():  # known words with a small unigram probability, not <unk>
            handle.write(word + "\n")
    return path


def build_lm(corpus: Path, out_dir: Path, bin_dir: Path, tmp_dir: Path) -> tuple[Path, Path]:
    """ARPA with lmplz, then a quantised trie ``lm.bin`` and ``unigrams.txt`` beside it."""
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp_dir.mkdir(parents=True, exist_ok=True)
    arpa = tmp_dir / "lm.arpa"
    with corpus.open() as stdin, arpa.open("w") as stdout:
        subprocess.run(
            [str(bin_dir / "lmplz"), "-o", str(ORDER), "-S", "64M", "-T", str(tmp_dir),
             "--discount_fallback", "--prune", "0", "1", "1"],
            stdin=stdin, stdout=stdout, check=True,
        )  # fmt: skip
    lm_bin = out_dir / "lm.bin"
    subprocess.run(
        [str(bin_dir / "build_binary"), "-q", "8", "-b", "8", "trie", str(arpa), str(lm_bin)],
        check=True, capture_output=True,
    )  # fmt: skip
    unigrams = out_dir / "unigrams.txt"
    unigrams.write_text("\n".join(read_unigrams(arpa)) + "\n")
    return lm_bin, unigrams


def read_unigrams(arpa: Path) -> list[str]:
    """The words of the ARPA 1-gram section (pyctcdecode cannot read them from a binary)."""
    words: list[str] = []
    in_unigrams = False
    with arpa.open() as handle:
        for line in handle:
            line = line.strip()
            if line == "\\1-grams:":
                in_unigrams = True
            elif in_unigrams and line.startswith("\\"):
                break
            elif in_unigrams and line:
                word = line.split("\t")[1]
                if word not in ("<s>", "</s>", "<unk>"):
                    words.append(word)
    return words
