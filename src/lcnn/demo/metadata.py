"""Contents of ``corpus.json`` and ``README.md`` of a demo corpus."""

from __future__ import annotations

from pathlib import Path

__all__ = ["ATTACK_IDS", "VOCODER_DESCRIPTIONS", "build_metadata", "render_readme"]

# Fixed attack ids, so that a vocoder keeps its id whichever subset a corpus uses.
ATTACK_IDS: dict[str, str] = {"world": "V1", "griffin_lim": "V2", "lpc": "V3", "mlsa": "V4"}

VOCODER_DESCRIPTIONS = {
    "world": "WORLD analysis/synthesis (DIO + StoneMask F0, CheapTrick envelope, D4C aperiodicity), via pyworld",
    "griffin_lim": "Griffin-Lim phase reconstruction from the STFT magnitude, 32 iterations",
    "lpc": "order-12 LPC all-pole filter per 20 ms frame, pulse-train or noise excitation, overlap-add",
    "mlsa": "mel-cepstrum (order 20) with an MLSA filter via pysptk, DIO + StoneMask F0",
    "nsf": "neural source-filter vocoders (cyc-noise-nsf-4, hn-nsf, hn-sinc-nsf-9, hn-sinc-nsf-10)",
}


def build_metadata(
    parameters: dict,
    fsdd_dir: Path,
    source_rate: int,
    protocols: dict[str, list[tuple[str, ...]]],
    lengths: dict[str, int],
    build_seconds: float,
    workers: int,
) -> dict:
    """Collect the contents of ``corpus.json``."""
    sample_rate = parameters["sample_rate"]
    used = sorted({ATTACK_IDS[name] for names in parameters["vocoders"].values() for name in names})
    train_attacks = {ATTACK_IDS[name] for name in parameters["vocoders"]["train"]}
    vocoder_names = {attack: name for name, attack in ATTACK_IDS.items()}
    entries = {}
    for split, lines in protocols.items():
        counts = {
            "bonafide": sum(line[4] == "bonafide" for line in lines),
            "spoof": sum(line[4] == "spoof" for line in lines),
        }
        for line in lines:
            if line[3] != "-":
                counts[line[3]] = counts.get(line[3], 0) + 1
        entries[split] = {
            "protocol": f"protocols/{split}.txt",
            "speakers": parameters["speakers"][split],
            "attacks": sorted(ATTACK_IDS[name] for name in parameters["vocoders"][split]),
            "counts": counts,
            "seconds": round(sum(lengths[line[1]] for line in lines) / sample_rate, 1),
        }
    return {
        "name": "lcnn demo corpus (FSDD + classic vocoders)",
        "sample_rate": sample_rate,
        "seed": parameters["seed"],
        "parameters": parameters,
        "source": {
            "dataset": "Free Spoken Digit Dataset (Jakobovski/free-spoken-digit-dataset)",
            "licence": "CC BY-SA 4.0",
            "path": str(fsdd_dir.resolve()),
            "sample_rate": source_rate,
        },
        "attacks": {
            attack: {"vocoder": vocoder_names[attack], "seen_in_train": attack in train_attacks} for attack in used
        },
        "protocols": entries,
        "build": {"seconds": round(build_seconds, 1), "workers": workers},
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
