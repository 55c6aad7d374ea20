"""one metric store: the window-read index on points, stores.points_version, import batches and findings

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from shopsentinel.store.state import UTCDateTime

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

BIG = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    # the evaluation window: one store, a ts range (the primary key leads with sku, metric)
    op.create_index('ix_points_store_ts', 'points', ['platform', 'store', 'ts'])
    with op.batch_alter_table('stores') as batch:
        batch.add_column(sa.Column('points_version', sa.Integer(), nullable=False, server_default='0'))
    op.create_table(
        'import_batches',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('source', sa.String(length=1000), nullable=False),
        sa.Column('imported_at', UTCDateTime(), nullable=False),
        sa.Column('rows', BIG, nullable=False),
        sa.Column('replaced', BIG, nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_table(
        'import_findings',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('batch', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=32), nullable=False),
        sa.Column('platform', sa.String(length=64), nullable=False),
        sa.Column('store', sa.String(length=200), nullable=False),
        sa.Column('sku', sa.String(length=200), nullable=False),
        sa.Column('metric', sa.String(length=200), nullable=False),
        sa.Column('ts', UTCDateTime(), nullable=True),
        sa.Column('value', sa.Float(), nullable=True),
        sa.Column('detail', sa.Text(), nullable=False),
        sa.Column('line', BIG, nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_import_findings_batch', 'import_findings', ['batch'])


def downgrade() -> None:
    op.drop_index('ix_import_findings_batch', table_name='import_findings')
    op.drop_table('import_findings')
    op.drop_table('import_batches')
    with op.batch_alter_table('stores') as batch:
        batch.drop_column('points_version')
    op.drop_index('ix_points_store_ts', table_name='points')
