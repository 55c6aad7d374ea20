"""provisioned_objects: which routing objects a provisioning file manages (read-only elsewhere)

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from shopsentinel.store.state import UTCDateTime

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'provisioned_objects',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=32), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('ref', sa.String(length=200), nullable=False),
        sa.Column('source_file', sa.String(length=1000), nullable=False),
        sa.Column('updated_at', UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('kind', 'name'),
    )
    op.create_index('ix_provisioned_objects_kind_ref', 'provisioned_objects', ['kind', 'ref'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_provisioned_objects_kind_ref', table_name='provisioned_objects')
    op.drop_table('provisioned_objects')
