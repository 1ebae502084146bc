"""The fold: an image's current tags from its corrections, in log order. Pure functions.

Semantics (also in the user docs):

- accept L, add L: L becomes a tag (kept in first-given order) and is no longer blocked.
- reject L: L stops being a tag and is blocked from suggestions for this image.
- rename P -> L: L takes P's place in the tags (or is added); P is blocked from suggestions
  (the user said "not P, but L"), but P is not a rejection: training may treat it differently.
- undo E: E no longer counts, as if it had never happened; later events still apply on top.
  Undoing an undo makes its target count again (redo). Whether an event counts is decided from
  the newest event backwards, so chains of undo/redo resolve without recursion.
"""

from __future__ import annotations

from typing import Iterable, Protocol

from .types import TagState


class EventLike(Protocol):
    id: int
    action: str
    label: str
    previous: str | None
    target_id: int | None


def undone_ids(undo_events: Iterable[tuple[int, int]]) -> set[int]:
    """Ids of events reverted by an undo that itself counts, from (undo id, target id) pairs.

    An undo always comes after its target, so walking from the newest event backwards we know
    whether an undo counts (nothing newer reverted it) before we reach its target.
    """
    undone: set[int] = set()
    for event_id, target_id in sorted(undo_events, reverse=True):
        if event_id not in undone:
            undone.add(target_id)
    return undone


def fold(events: Iterable[EventLike]) -> TagState:
    """Fold one image's events (any order; they are sorted by id) into its `TagState`."""
    ordered = sorted(events, key=lambda e: e.id)
    undone = undone_ids((e.id, e.target_id) for e in ordered if e.action == "undo" and e.target_id is not None)
    state = TagState()
    for event in ordered:
        if event.action != "undo" and event.id not in undone:
            state = apply_event(state, event.action, event.label, event.previous)
    return state


def apply_event(state: TagState, action: str, label: str, previous: str | None = None) -> TagState:
    """The state after one accept, add, reject or rename (the rules in the module docstring).

    The GUI uses it to show a correction before the store has answered; the store's fold is the
    authority and its answer replaces that.
    """
    tags = list(state.tags)
    rejected, renamed_from = set(state.rejected), set(state.renamed_from)
    if action in ("accept", "add"):
        if label not in tags:
            tags.append(label)
        rejected.discard(label)
        renamed_from.discard(label)
    elif action == "reject":
        if label in tags:
            tags.remove(label)
        rejected.add(label)
    elif action == "rename":
        previous = previous or ""
        if label in tags:
            if previous in tags and previous != label:
                tags.remove(previous)
        elif previous in tags:
            tags[tags.index(previous)] = label
        else:
            tags.append(label)
        rejected.discard(label)
        renamed_from.discard(label)
        if previous != label:
            renamed_from.add(previous)
    return TagState(tuple(tags), frozenset(rejected), frozenset(renamed_from))
