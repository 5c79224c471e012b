"""The shape of a claim check, shared by every experiment."""

from __future__ import annotations

from frugalml.repro.stats import describe, fragile, weakest


def claim(description: str, held: bool, measured: str, paper: str = "", *, test=None) -> dict:
    """One sub-claim: what was tested, whether it held, the measured numbers, the paper's.

    ``test`` is the record (or list of records) of :mod:`frugalml.repro.stats` behind the claim;
    the weakest of them gives the claim's margin (``margin`` text, ``slack_se``, ``fragile``), which
    the report shows beside the verdict. A claim that combines several tests ("at every eps")
    is as strong as its weakest test.
    """
    out = {"claim": description, "held": bool(held), "measured": measured, "paper": paper}
    if test is not None:
        tests = [test] if isinstance(test, dict) else list(test)
        if not tests:
            raise ValueError("claim(test=...) got an empty list; pass the records behind the claim or None")
        w = weakest(tests)
        out.update(tests=tests, margin=describe(w), slack_se=w.get("slack_se"), fragile=fragile(w))
    return out


def verdict(claims: list[dict], table: list[dict] | None = None, note: str = "") -> dict:
    """Combine sub-claims: the experiment reproduces only if every sub-claim held.

    ``table`` holds rows ``{"setting": ..., "paper": ..., "ours": ...}`` shown beside
    each other in the report; ``note`` says what differs from the paper's setting.
    """
    return {
        "reproduced": all(c["held"] for c in claims) and bool(claims),
        "claims": claims,
        "n_held": sum(bool(c["held"]) for c in claims),
        "n_claims": len(claims),
        "n_fragile": sum(bool(c.get("fragile")) for c in claims),
        "table": table or [],
        "note": note,
    }


def held(checked: dict, text: str) -> list[bool]:
    """Whether each sub-claim of ``checked`` (a :func:`verdict`) whose description contains ``text`` held.

    Raises ``KeyError`` when no sub-claim mentions ``text``, so a renamed claim cannot pass silently.
    """
    hits = [c["held"] for c in checked["claims"] if text in c["claim"]]
    if not hits:
        raise KeyError(f"no claim mentions {text!r}; claims: {[c['claim'] for c in checked['claims']]}")
    return hits
