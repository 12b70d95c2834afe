"""What a person may do to tasks (retry, resolve), with the rules every front end shares.

``tasks retry``/``tasks resolve`` and the dashboard apply the same checks: a task in
``review`` is sent again only when the person confirmed the risk named in
:func:`review_risk`, and a task being worked on (a live lease) is left alone.
"""

from __future__ import annotations

import getpass
import socket
from datetime import datetime, timezone
from typing import Any, Sequence

from alumio_mistral.tasks.store import LeaseHeldError, Task, TaskStore, TaskStoreError


class ReviewNotConfirmed(TaskStoreError):
    """Tasks in review were asked to be sent again without confirming the risk."""


def review_risk(review: Sequence[int]) -> str:
    """The risk of sending the review tasks ``review`` again, in words a person can confirm."""
    named = ", ".join(map(str, review[:10])) + (" ..." if len(review) > 10 else "")
    return (f"task {named} is in review: its request may already have been carried out by the server;"
            " sending it again may do it twice (a second upload, create or delete)")


def check_review(chosen: Sequence[Task], confirmed: bool, how_to_confirm: str) -> str | None:
    """The risk to warn of when review tasks are among ``chosen`` and ``confirmed``; raises
    :class:`ReviewNotConfirmed` when they are and it is not, saying ``how_to_confirm``."""
    review = [task.id for task in chosen if task.status == "review"]
    if not review:
        return None
    if not confirmed:
        raise ReviewNotConfirmed(f"{review_risk(review)}. Check it, then settle it with `tasks reconcile` or"
                                 f" `tasks resolve`, or {how_to_confirm}")
    return review_risk(review)


def check_leases(store: TaskStore, chosen: Sequence[Task]) -> None:
    """Raise :class:`LeaseHeldError` when a task of ``chosen`` is processing under a live lease."""
    live = {task.id: task for name in {t.outgoing for t in chosen if t.status == "processing"}
            for task in store.leased(name)}
    held = [live[task.id] for task in chosen if task.id in live]
    if held:
        until = datetime.fromtimestamp(max(task.lease_until or 0 for task in held), timezone.utc)
        raise LeaseHeldError(
            f"task {', '.join(str(task.id) for task in held)} is being worked on (processing, leased by"
            f" {held[0].claimed_by} until {until.isoformat(timespec='seconds')}); it is left alone until"
            " the lease lapses")


def requeue_for_retry(store: TaskStore, chosen: Sequence[Task]) -> list[int]:
    """Put ``chosen`` back to ``new`` for a publish pass; returns their ids to publish.

    A lapsed claim is not requeued: the publish pass recovers it (new, or review when its
    unsafe request may have left), exactly as after a crash.
    """
    store.requeue([task.id for task in chosen if task.status != "processing"])
    return [task.id for task in chosen]


def settler() -> str:
    """Who settles a task, for its record: the local user at this host."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no user name for this uid (some containers)
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def resolution(status: str, note: str, by: str) -> dict[str, Any]:
    """The record ``store.resolve`` keeps of a task settled by hand."""
    return {"status": status, "note": note, "by": by, "at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
