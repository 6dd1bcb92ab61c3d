"""What the Feast registry says was published: the encoder-state hash of the encoded view."""

from __future__ import annotations

from typing import TYPE_CHECKING

from encoders.columns import STATE_HASH_TAG

if TYPE_CHECKING:  # pragma: no cover
    from feast import FeatureStore

ENCODED_VIEW = "ranker_encoded"


def registry_state_hash(store: FeatureStore, view: str = ENCODED_VIEW) -> str:
    """The state hash tagged on the encoded on-demand view; raises naming the fix if absent."""
    try:
        odfv = store.get_on_demand_feature_view(view)
    except Exception as exc:  # feast raises its own not-found types
        raise LookupError(f"the registry has no encoded view {view!r} ({exc.__class__.__name__})"
                          "; publish a state first: scripts/fit_publish.py") from None
    value = odfv.tags.get(STATE_HASH_TAG)
    if not value:
        raise LookupError(f"view {view!r} has no {STATE_HASH_TAG!r} tag; re-run "
                          "scripts/fit_publish.py to publish the state")
    return value
