"""Turns stages and stage events into the parcel-tracking timeline the candidate sees."""

from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from typing import Any

from portal.models.pipeline import Side

TRAINING_START_KEY = "training_start"


@dataclass
class Node:
    stage: Any  # a stage row
    state: str  # "done", "current" or "upcoming"
    reached_at: datetime | None = None
    expected_on: date | None = None
    late: bool = False  # the expected date has passed: say so instead of showing a date in the past

    @property
    def ours(self) -> bool:
        """The company, not the candidate, has to act at this stage."""
        return self.stage.side == Side.COMPANY


def build_timeline(
    stages, reached: dict, current_stage_id: int | None, starts_on: date | None, *, today: date, zone: tzinfo
) -> list[Node]:
    """Every stage as a node: done with its time, current highlighted, upcoming with an expected date.

    Dates are days in the organisation's time zone; an expected date already past becomes "late".
    """
    current_position = next((s.position for s in stages if s.id == current_stage_id), None)
    nodes = []
    expected = None
    for stage in stages:
        if current_position is not None and stage.position < current_position:
            nodes.append(Node(stage, "done", reached.get(stage.id)))
            continue
        if stage.id == current_stage_id:
            node = Node(stage, "current", reached.get(stage.id))
            if node.reached_at and stage.expected_days is not None:
                expected = node.reached_at.astimezone(zone).date() + timedelta(days=stage.expected_days)
            nodes.append(node)
            continue
        node = Node(stage, "upcoming", expected_on=expected)
        if stage.key == TRAINING_START_KEY:
            node.expected_on = starts_on  # only a cohort fixes the first day; no guess from durations
        if node.expected_on is not None and stage.expected_days is not None:
            expected = node.expected_on + timedelta(days=stage.expected_days)
        else:
            expected = None
        if node.expected_on is not None and node.expected_on < today:
            node.expected_on, node.late = None, True
        nodes.append(node)
    return nodes


def current_and_next(nodes: list[Node]) -> tuple[Node | None, Node | None]:
    """The node the candidate is at and the one that comes after it."""
    for index, node in enumerate(nodes):
        if node.state == "current":
            return node, (nodes[index + 1] if index + 1 < len(nodes) else None)
    return None, (nodes[0] if nodes else None)
