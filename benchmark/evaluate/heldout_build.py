"""Build the held-out general English text (evaluate/heldout_text/) from its pinned source:
`python -m promot_bench.evaluate.heldout_build` with the `build-data` extra installed. The built
text ships in the package, so nothing here is needed to run.

Source: gensim 4.4.0's wheel (LGPL-2.1, on PyPI) carries, as test data, an excerpt of an English
Wikipedia dump, `gensim/test/test_data/enwiki-latest-pages-articles1.xml-p000000010p000030302-
shortened.bz2`: 206 pages, 106 of them articles. Wikipedia's text is CC BY-SA 3.0 (and GFDL):
the built file keeps each article's title, and docs/heldout.md gives the attribution.

The rule, fixed before any cell is scored with it: the dump's articles in its order (namespace
0, not redirects), their `<ref>` citations removed and the rest of their wiki markup stripped by
mwparserfromhell (`strip_code`: templates, tables and files dropped), lines that are only a
category, file or table remnant dropped; an article is a document if its plain text has at
least MIN_WORDS words (100 of the 106 are: the dump holds no more), kept up to the end of the
paragraph at which it passes KEEP_WORDS words (more than the 512 tokens it is scored on, at
about 1.3 tokens a word) or whole where shorter; the first DOCUMENTS such articles.
"""

from __future__ import annotations

import bz2
import hashlib
import importlib.util
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

SOURCE_PACKAGE = "gensim==4.4.0"
SOURCE_FILE = "test/test_data/enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"
DOCUMENTS = 100
MIN_WORDS = 300
KEEP_WORDS = 600
FOLDER = Path(__file__).parent / "heldout_text"
NAME = "enwiki-gensim-100"
DROPPED_LINE = re.compile(r"^\s*(Category:|File:|Image:|thumb\||\||\{\||!|[\w ]+px\|)", re.I)


def source_path() -> Path:
    spec = importlib.util.find_spec("gensim")  # found, not imported: only its data file is read
    if spec is None or spec.origin is None:
        raise SystemExit(f"install {SOURCE_PACKAGE} (the build-data extra) to build the text")
    return Path(spec.origin).parent / SOURCE_FILE


def articles(dump: bytes) -> list[tuple[str, str]]:
    """(title, wikitext) of each article page, in the dump's order."""
    root = ET.fromstring(bz2.decompress(dump))
    ns = root.tag.split("}")[0] + "}"
    found = []
    for page in root.iter(f"{ns}page"):
        if page.findtext(f"{ns}ns") != "0" or page.find(f"{ns}redirect") is not None:
            continue
        found.append((page.findtext(f"{ns}title"), page.findtext(f"{ns}revision/{ns}text") or ""))
    return found


def plain_paragraphs(wikitext: str) -> list[str]:
    import mwparserfromhell

    code = mwparserfromhell.parse(wikitext)
    for ref in code.filter_tags(matches=lambda tag: str(tag.tag).strip().lower() == "ref"):
        try:
            code.remove(ref)  # a citation's text, which strip_code would keep inline
        except ValueError:
            pass  # inside a reference removed already
    text = code.strip_code(normalize=True, collapse=True)
    paragraphs = []
    for block in re.split(r"\n\s*\n", text):
        lines = [line.strip() for line in block.splitlines()]
        lines = [line for line in lines if line and not DROPPED_LINE.match(line)]
        if lines:
            paragraphs.append(re.sub(r"\s+", " ", " ".join(lines)).strip())
    return paragraphs


def document(paragraphs: list[str]) -> str | None:
    """The article's beginning, up to the paragraph that passes KEEP_WORDS (whole where shorter);
    None if it has fewer than MIN_WORDS words."""
    kept, words = [], 0
    for paragraph in paragraphs:
        kept.append(paragraph)
        words += len(paragraph.split())
        if words >= KEEP_WORDS:
            break
    return "\n\n".join(kept) if words >= MIN_WORDS else None


def build(folder: Path = FOLDER) -> dict:
    dump = source_path().read_bytes()
    docs = []
    for title, wikitext in articles(dump):
        text = document(plain_paragraphs(wikitext))
        if text is not None:
            docs.append({"title": title, "text": text})
        if len(docs) == DOCUMENTS:
            break
    if len(docs) < DOCUMENTS:
        raise SystemExit(f"only {len(docs)} articles of {MIN_WORDS}+ words in the source")
    body = "".join(json.dumps(d, ensure_ascii=False) + "\n" for d in docs).encode("utf-8")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{NAME}.jsonl").write_bytes(body)
    manifest = {
        "name": NAME,
        "documents": len(docs),
        "words": sum(len(d["text"].split()) for d in docs),
        "sha256": hashlib.sha256(body).hexdigest(),
        "source": {
            "package": SOURCE_PACKAGE,
            "file": f"gensim/{SOURCE_FILE}",
            "sha256": hashlib.sha256(dump).hexdigest(),
            "licence": "CC BY-SA 3.0 (Wikipedia text); the package is LGPL-2.1",
        },
        "rule": {
            "min_words": MIN_WORDS,
            "keep_words": KEEP_WORDS,
            "documents": DOCUMENTS,
            "stripper": "mwparserfromhell",
        },
    }
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


if __name__ == "__main__":
    made = build()
    print(f"wrote {FOLDER}: {made['documents']} documents, {made['words']:,} words")
