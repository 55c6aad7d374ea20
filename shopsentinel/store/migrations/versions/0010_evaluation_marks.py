"""evaluation_marks: live data changes per store and how many an evaluation has judged (scale-out roles)

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from shopsentinel.store.state import UTCDateTime

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'evaluation_marks',
        sa.Column('platform', sa.String(length=64), nullable=False),
        sa.Column('store', sa.String(length=200), nullable=False),
        sa.Column('changes', sa.Integer(), nullable=False),
        sa.Column('judged', sa.Integer(), nullable=False),
        sa.Column('changed_at', UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('platform', 'store'),
    )


def downgrade() -> None:
    op.drop_table('evaluation_marks')
