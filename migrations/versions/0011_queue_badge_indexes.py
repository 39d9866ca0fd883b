"""The navigation badge at 100,000 candidates: the indexes it counts from hold every column it reads.

The badge (hr.queries.queue_count) runs on every back-office page. It counted 20-30 ms there, reading a
flag row for each open flag's snooze and a candidate row for each contact due (and, for HR, for its
owner). With the snooze and the candidate id in the open-flag index, and the contact due, status and id in
the owner and contact indexes, both databases count from indexes alone (6-7 ms).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade():
    op.drop_index("ix_flag_open_severity_raised", table_name="flag")
    op.create_index("ix_flag_open", "flag", ["resolved_at", "severity", "raised_at", "snoozed_until", "candidate_id"])
    op.drop_index("ix_candidate_owner_id", table_name="candidate")
    op.create_index("ix_candidate_owner_contact", "candidate", ["owner_id", "next_contact_on", "status", "id"])
    op.drop_index("ix_candidate_next_contact", table_name="candidate")
    op.create_index("ix_candidate_next_contact", "candidate", ["next_contact_on", "status", "id"])


def downgrade():
    op.drop_index("ix_candidate_next_contact", table_name="candidate")
    op.create_index("ix_candidate_next_contact", "candidate", ["next_contact_on"])
    op.drop_index("ix_candidate_owner_contact", table_name="candidate")
    op.create_index("ix_candidate_owner_id", "candidate", ["owner_id"])
    op.drop_index("ix_flag_open", table_name="flag")
    op.create_index("ix_flag_open_severity_raised", "flag", ["resolved_at", "severity", "raised_at"])
