"""Real-speech check set from Debian data packages; never trained or tuned on.

Sources (all human recordings with known words):
- ``klettres-data``: English letter names (``en/alpha/A.ogg`` says "a") and short words
  (``en/syllab/dog.ogg``); spelled letters are an IVR staple.
- ``ktuberling-data``: English object names (``sounds/en/pizzeria_olive.ogg`` says "olive").
- ``fillets-ng-data``: voiced dialogue matched to ``dialogs_en.lua`` subtitles. The Debian package
  ships only the non-English voice-overs and a few effects, so by default these are dropped
  (``lines with a non-English subtitle`` would only measure foreign words).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from recognizer.training.text import normalise

KLETTRES_EN = Path("/usr/share/klettres/en")
KTUBERLING_EN = Path("/usr/share/ktuberling/sounds/en")
FILLETS_ROOT = Path("/usr/share/games/fillets-ng")
_DIALOG = re.compile(r'dialogId\(\s*"([^"]+)"\s*,\s*"[^"]*"\s*,\s*"((?:[^"\\]|\\.)*)"\s*\)')
_NOT_WORDS = {"aw", "ch", "th"}
_SPOKEN = {"fallingstar": "falling star", "moonwalker": "moon walker", "sphynx": "sphinx",
           "palmtree": "palm tree", "tv": "t v"}  # fmt: skip


def subtitles(level_dir: Path) -> dict[str, str]:
    """Dialog id -> English subtitle of one Fish Fillets level."""
    lines: dict[str, str] = {}
    for lua in level_dir.glob("*dialogs_en.lua"):
        for dialog_id, text in _DIALOG.findall(lua.read_text(errors="replace")):
            lines[dialog_id] = text.replace('\\"', '"')
    return lines


def fillets_entries(root: Path = FILLETS_ROOT, english_only: bool = True) -> list[dict[str, str]]:
    """Voiced Fish Fillets lines with their subtitle; the shipped voices are not English."""
    entries = []
    for clip in sorted((root / "sound").glob("*/en/*.ogg")):
        text = subtitles(root / "script" / clip.parent.parent.name).get(clip.stem)
        foreign = "-l-" in clip.stem or "-p-" in clip.stem or "-x-" in clip.stem
        if text and not (english_only and foreign):
            entries.append({"audio": str(clip), "text": normalise(text), "source": "fillets"})
    return entries


def klettres_entries(root: Path = KLETTRES_EN) -> list[dict[str, str]]:
    entries = [
        {"audio": str(p), "text": p.stem.lower(), "source": "klettres-letters"}
        for p in sorted((root / "alpha").glob("*.ogg"))
    ]
    for p in sorted((root / "syllab").glob("*.ogg")):
        if p.stem not in _NOT_WORDS:
            entries.append({"audio": str(p), "text": p.stem, "source": "klettres-words"})
    return entries


def ktuberling_entries(root: Path = KTUBERLING_EN) -> list[dict[str, str]]:
    entries = []
    for p in sorted(root.glob("*.ogg")):
        word = p.stem.split("_")[-1]
        entries.append({"audio": str(p), "text": normalise(_SPOKEN.get(word, word)),
                        "source": "ktuberling"})  # fmt: skip
    return entries


def build_manifest(out: Path, with_fillets: bool = False) -> int:
    """Write ``{"audio", "text", "source"}`` JSON lines for every source installed here."""
    entries = klettres_entries() + ktuberling_entries()
    if with_fillets:
        entries += fillets_entries(english_only=False)
    entries = [e for e in entries if e["text"]]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(json.dumps(e) + "\n" for e in entries))
    return len(entries)
