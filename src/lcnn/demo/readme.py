"""README.md of a demo corpus, rendered from the contents of its ``corpus.json``."""

from __future__ import annotations

__all__ = ["VOCODER_DESCRIPTIONS", "render_readme"]

VOCODER_DESCRIPTIONS = {
    "world": "WORLD analysis/synthesis (DIO + StoneMask F0, CheapTrick envelope, D4C aperiodicity), via pyworld",
    "griffin_lim": "Griffin-Lim phase reconstruction from the STFT magnitude, 32 iterations",
    "lpc": "order-12 LPC all-pole filter per 20 ms frame, pulse-train or noise excitation, overlap-add",
    "mlsa": "mel-cepstrum (order 20) and SWIPE' F0 with an MLSA filter, via pysptk",
    "nsf": "neural source-filter vocoders (cyc-noise-nsf-4, hn-nsf, hn-sinc-nsf-9, hn-sinc-nsf-10)",
}


def render_readme(meta: dict) -> str:
    """Render the README of a corpus from its ``corpus.json`` contents."""
    source = meta["source"]
    lines = [
        f"# {meta['name']}",
        "",
        "A small spoofing-detection corpus: bona fide recordings of spoken digits and copies of them",
        "re-synthesised by vocoders. Built by `lcnn.demo.corpus.build_demo_corpus`; do not edit by hand.",
        "",
        f"- Source: {source['dataset']}, licence {source['licence']}. This corpus is a derivative work",
        f"  under the same licence. Source sample rate {source['sample_rate']} Hz.",
        f"- Audio: `audio/<UTT_ID>.wav`, 16-bit PCM, mono, {meta['sample_rate']} Hz.",
        f"- Random seed of the vocoders: {meta['seed']}.",
        "- Protocols: ASVspoof 2019 format, one trial per line: `SPEAKER UTT_ID - ATTACK KEY`, with",
        "  ATTACK `-` and KEY `bonafide` for bona fide trials, and KEY `spoof` otherwise.",
        "",
        "## Splits",
        "",
        "| protocol | speakers | attacks | bona fide | spoof | audio (s) |",
        "|---|---|---|---|---|---|",
    ]
    for name, entry in meta["protocols"].items():
        counts = entry["counts"]
        lines.append(
            f"| `{entry['protocol']}` | {', '.join(entry['speakers'])} | {', '.join(entry['attacks'])} "
            f"| {counts['bonafide']} | {counts['spoof']} | {entry['seconds']} |"
        )
    lines += [
        "",
        "Speakers never appear in two of train, dev and eval.",
        "",
        "## Attacks",
        "",
        "| id | vocoder | seen in train | method |",
        "|---|---|---|---|",
    ]
    for attack, entry in meta["attacks"].items():
        seen = "yes" if entry["seen_in_train"] else "no (unseen attack)"
        description = VOCODER_DESCRIPTIONS.get(entry["vocoder"], "")
        lines.append(f"| {attack} | {entry['vocoder']} | {seen} | {description} |")
    notes = [entry["note"] for entry in meta["protocols"].values() if entry.get("note")]
    if notes:
        lines += ["", "## Notes", ""] + [f"- {note}" for note in notes]
    return "\n".join(lines) + "\n"
