"""The candidates list at 100,000: an index for each sort and for the filters no index served yet.

Which index serves what (hr.queries.list_conditions, LIST_SORTS):
- ix_candidate_last_seen (last_seen_at, id): the default sort, newest visit first with those who never
  visited last, and the last-visit range. PostgreSQL keeps NULLs first in it, so that reading it backwards
  gives "last_seen_at DESC NULLS LAST, id DESC"; SQLite puts NULLs first anyway.
- ix_candidate_name (name, id) and ix_candidate_created (created_at, id): the other two sorts.
- ix_candidate_site, ix_candidate_position, ix_candidate_source_channel: the filters by site, position and
  source (stage, cohort, owner, status and contact due had theirs).
- ix_candidate_tier_override (partial: only candidates whose tier HR set): the tier filter.
The searches ("any part" of a name, phone number or email) and the flag-state filter use no new index: no
B-tree finds a substring, and the open flags are a small set read from the flag table's own indexes.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

PLAIN = {
    "ix_candidate_name": ["name", "id"],
    "ix_candidate_created": ["created_at", "id"],
    "ix_candidate_site": ["site"],
    "ix_candidate_position": ["position"],
    "ix_candidate_source_channel": ["source_channel"],
}
TIER_OVERRIDE_SET = "risk_tier_override IS NOT NULL"


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.create_index("ix_candidate_last_seen", "candidate", [sa.text("last_seen_at NULLS FIRST"), "id"])
    else:
        op.create_index("ix_candidate_last_seen", "candidate", ["last_seen_at", "id"])
    for name, columns in PLAIN.items():
        op.create_index(name, "candidate", columns)
    op.create_index(
        "ix_candidate_tier_override",
        "candidate",
        ["risk_tier_override"],
        sqlite_where=sa.text(TIER_OVERRIDE_SET),
        postgresql_where=sa.text(TIER_OVERRIDE_SET),
    )


def downgrade():
    op.drop_index("ix_candidate_tier_override", table_name="candidate")
    for name in reversed(PLAIN):
        op.drop_index(name, table_name="candidate")
    op.drop_index("ix_candidate_last_seen", table_name="candidate")
