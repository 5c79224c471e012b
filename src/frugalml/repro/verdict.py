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
