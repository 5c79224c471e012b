"""The shape of a claim check, shared by every experiment."""

from __future__ import annotations


def claim(description: str, held: bool, measured: str, paper: str = "") -> dict:
    """One sub-claim: what was tested, whether it held, the measured numbers, the paper's."""
    return {"claim": description, "held": bool(held), "measured": measured, "paper": paper}


def verdict(claims: list[dict], table: list[dict] | None = None, note: str = "") -> dict:
    """Combine sub-claims: the experiment reproduces only if every sub-claim held.

    ``table`` holds rows ``{"setting": ..., "paper": ..., "ours": ...}`` shown beside
    each other in the report; ``note`` says what differs from the paper's setting.
    """
    return {
        "reproduced": all(c["held"] for c in claims) and bool(claims),
        "claims": claims,
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
