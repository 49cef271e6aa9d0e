"""The access log's signed tree head (public: it is published) and a line's inclusion proof
(the DPO's: it shows the line; recorded). docs/audit.md says how to check them."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from belvedere.api.deps import PUBLIC, StoreDep, allow
from belvedere.errors import ConfigError
from belvedere.privacy.access_log import consistency, inclusion, published_head
from belvedere.privacy.release import Actor

router = APIRouter(prefix="/audit", tags=["audit"])


@router.get("/head", dependencies=[PUBLIC])
def head(store: StoreDep) -> dict[str, Any]:
    """The newest signed tree head of the access log, with the public key that checks it:
    hashes only, nothing about anyone (no login needed)."""
    found = published_head(store)
    if found is None:
        raise ConfigError("no signed tree head yet: `belvedere audit sign` signs one")
    return found


@router.get("/consistency", dependencies=[PUBLIC])
def consistency_proof(
    store: StoreDep,
    first: Annotated[int, Query(ge=0, description="the older head's tree size")],
    second: Annotated[int | None, Query(ge=0, description="the newer head's tree size "
                                                          "(default: the whole log)")] = None,
) -> dict[str, Any]:
    """The proof that the log of ``first`` lines is a prefix of the log of ``second``:
    hashes only (no login needed)."""
    return consistency(store, first, second)


@router.get("/proof")
def proof(
    store: StoreDep,
    actor: Annotated[Actor, allow("dpo")],
    seq: Annotated[int, Query(ge=1, description="the line")],
    size: Annotated[int | None, Query(ge=1, description="tree size (default: the newest "
                                                        "signed head's)")] = None,
) -> dict[str, Any]:
    """Line ``seq``, its inclusion proof and the signed head it is proven against (the DPO
    only: it shows the line; recorded in the log)."""
    return inclusion(store, actor, seq, size)
