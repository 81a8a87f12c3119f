"""The collapsing rules of a state machine's queue: examples, then properties."""

from __future__ import annotations

from random import Random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from astara.orchestrator.collapse import QUEUEABLE, collapse
from astara.orchestrator.event import Crud

C, R, U, D, P = Crud.CREATE, Crud.READ, Crud.UPDATE, Crud.DELETE, Crud.POLL
REBUILD, CLUSTER = Crud.REBUILD, Crud.CLUSTER_REBUILD
UNQUEUEABLE = (Crud.COMMAND, Crud.REBALANCE)


@pytest.mark.parametrize(
    ("pending", "expected"),
    [
        pytest.param([], (), id="nothing-pending"),
        pytest.param([U, U, U], (U,), id="duplicates-merge"),
        pytest.param([U, C], (C,), id="create-absorbs-update"),
        pytest.param([C, U], (C,), id="create-absorbs-earlier-update"),
        pytest.param([CLUSTER, U], (CLUSTER,), id="cluster-rebuild-absorbs-update"),
        pytest.param([C, CLUSTER], (C,), id="create-absorbs-cluster-rebuild"),
        pytest.param([C, REBUILD], (REBUILD,), id="rebuild-upgrades-create"),
        pytest.param([U, REBUILD], (REBUILD,), id="rebuild-upgrades-update"),
        pytest.param([CLUSTER, REBUILD], (REBUILD,), id="rebuild-upgrades-cluster-rebuild"),
        pytest.param([C, U, REBUILD, D], (D,), id="delete-wins"),
        pytest.param([D, C], (D,), id="delete-wins-over-later-create"),
        pytest.param([D, R, P], (D,), id="delete-drops-read-and-poll"),
        pytest.param([P, P], (P,), id="lone-polls-merge"),
        pytest.param([P, U], (U,), id="poll-dropped-next-to-update"),
        pytest.param([C, P], (C,), id="poll-dropped-next-to-create"),
        pytest.param([P, REBUILD], (REBUILD,), id="poll-dropped-next-to-rebuild"),
        pytest.param([P, CLUSTER], (CLUSTER,), id="poll-dropped-next-to-cluster-rebuild"),
        pytest.param([R], (R,), id="read-alone"),
        pytest.param([R, P], (R,), id="read-absorbs-poll"),
        pytest.param([R, U], (U, R), id="read-kept-after-update"),
        pytest.param([R, C, U, P], (C, R), id="read-kept-after-create"),
        pytest.param([R, REBUILD], (REBUILD, R), id="read-kept-after-rebuild"),
    ],
)
def test_collapse_rule(pending: list[Crud], expected: tuple[Crud, ...]) -> None:
    assert collapse(pending) == expected


@pytest.mark.parametrize("crud", UNQUEUEABLE)
def test_actions_a_state_machine_cannot_queue_are_refused(crud: Crud) -> None:
    with pytest.raises(ValueError, match=crud.value):
        collapse([Crud.UPDATE, crud])


def test_collapse_accepts_any_iterable() -> None:
    assert collapse(iter((U, C))) == (C,)


queueable = st.sampled_from(sorted(QUEUEABLE))
pendings = st.lists(queueable, max_size=12)


@given(pendings, st.randoms(use_true_random=False))
def test_order_does_not_matter(pending: list[Crud], random: Random) -> None:
    shuffled = list(pending)
    random.shuffle(shuffled)
    assert collapse(shuffled) == collapse(pending)


@given(pendings)
def test_collapsing_twice_changes_nothing(pending: list[Crud]) -> None:
    once = collapse(pending)
    assert collapse(once) == once


@given(pendings, pendings)
def test_collapsing_on_every_arrival_equals_collapsing_at_the_end(
    earlier: list[Crud], later: list[Crud]
) -> None:
    assert collapse(earlier + later) == collapse([*collapse(earlier), *later])


@given(pendings)
def test_output_is_drawn_from_input_and_short(pending: list[Crud]) -> None:
    result = collapse(pending)
    assert set(result) <= set(pending)
    assert len(result) <= 2
    assert len(set(result)) == len(result)


@given(pendings)
def test_something_pending_means_something_to_do(pending: list[Crud]) -> None:
    assert bool(collapse(pending)) == bool(pending)


@given(pendings)
def test_delete_present_means_only_delete(pending: list[Crud]) -> None:
    result = collapse([*pending, D])
    assert result == (D,)


@given(pendings)
def test_read_survives_unless_deleted(pending: list[Crud]) -> None:
    result = collapse([*pending, R])
    assert (R in result) == (D not in pending)


@given(pendings)
def test_poll_survives_only_when_nothing_else_is_pending(pending: list[Crud]) -> None:
    result = collapse([*pending, P])
    assert (P in result) == (set(pending) <= {P})


@given(pendings, st.sampled_from(UNQUEUEABLE))
def test_unqueueable_action_raises_wherever_it_is(pending: list[Crud], bad: Crud) -> None:
    with pytest.raises(ValueError):
        collapse([*pending, bad])
