"""sync state and metric catalog versions in the state database (were DuckDB files beside it)

sync_stores, sync_cursors, sync_entities, sync_imports, sync_stock_groups, sync_stock_members,
sync_health and metric_versions; an install's old DuckDB files are moved in once at start
(shopsentinel.ingest.sync_legacy), not by this revision.

Revision ID: 0015
Revises: 0013
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from shopsentinel.store.state import UTCDateTime

revision = '0015'
down_revision = '0013'
branch_labels = None
depends_on = None

BIG = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table(
        'sync_stores',
        sa.Column('platform', sa.String(length=64), nullable=False),
        sa.Column('store', sa.String(length=200), nullable=False),
        sa.Column('timezone', sa.String(length=64), nullable=False),
        sa.Column('start', UTCDateTime(), nullable=False),
        sa.Column('config', sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint('platform', 'store'),
    )
    op.create_table(
        'sync_cursors',
        sa.Column('platform', sa.String(length=64), nullable=False),
        sa.Column('store', sa.String(length=200), nullable=False),
        sa.Column('stream', sa.String(length=64), nullable=False),
        sa.Column('cursor', sa.Text(), nullable=False),
        sa.Column('saved_at', UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint('platform', 'store', 'stream'),
    )
    op.create_table(
        'sync_entities',
        sa.Column('platform', sa.String(length=64), nullable=False),
        sa.Column('store', sa.String(length=200), nullable=False),
        sa.Column('family', sa.String(length=32), nullable=False),
        sa.Column('key', sa.String(length=500), nullable=False),
        sa.Column('first_ts', UTCDateTime(), nullable=False),
        sa.Column('last_ts', UTCDateTime(), nullable=True),
        sa.Column('payload', sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint('platform', 'store', 'family', 'key'),
    )
    op.create_index('ix_sync_entities_touching', 'sync_entities', ['platform', 'store', 'last_ts'])
    op.create_table(
        'sync_imports',
        sa.Column('path', sa.String(length=1000), nullable=False),
        sa.Column('size', BIG, nullable=False),
        sa.Column('mtime', sa.Float(), nullable=False),
        sa.Column('imported_at', UTCDateTime(), nullable=True),
        sa.Column('points', BIG, nullable=True),
        sa.Column('error', sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint('path', 'size', 'mtime'),
    )
    op.create_table(
        'sync_stock_groups',
        sa.Column('group_id', sa.String(length=200), nullable=False),
        sa.Column('tolerance', sa.Float(), nullable=False),
        sa.Column('lag_hours', sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint('group_id'),
    )
    op.create_table(
        'sync_stock_members',
        sa.Column('platform', sa.String(length=64), nullable=False),
        sa.Column('store', sa.String(length=200), nullable=False),
        sa.Column('sku', sa.String(length=200), nullable=False),
        sa.Column('group_id', sa.String(length=200), nullable=False),
        sa.Column('reference', sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint('platform', 'store', 'sku'),
    )
    op.create_index('ix_sync_stock_members_group', 'sync_stock_members', ['group_id'])
    op.create_table(
        'sync_health',
        sa.Column('platform', sa.String(length=64), nullable=False),
        sa.Column('store', sa.String(length=200), nullable=False),
        sa.Column('last_success', UTCDateTime(), nullable=True),
        sa.Column('last_attempt', UTCDateTime(), nullable=True),
        sa.Column('synced_until', UTCDateTime(), nullable=True),
        sa.Column('dirty_from', UTCDateTime(), nullable=True),
        sa.Column('last_error', sa.Text(), nullable=True),
        sa.Column('consecutive_failures', sa.Integer(), nullable=False, server_default='0'),
        sa.PrimaryKeyConstraint('platform', 'store'),
    )
    op.create_table(
        'metric_versions',
        sa.Column('id', sa.String(length=200), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('definition', sa.Text(), nullable=False),
        sa.Column('author', sa.String(length=200), nullable=True),
        sa.Column('changed_at', sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint('id', 'version'),
    )


def downgrade() -> None:
    op.drop_table('metric_versions')
    op.drop_table('sync_health')
    op.drop_index('ix_sync_stock_members_group', table_name='sync_stock_members')
    op.drop_table('sync_stock_members')
    op.drop_table('sync_stock_groups')
    op.drop_table('sync_imports')
    op.drop_index('ix_sync_entities_touching', table_name='sync_entities')
    op.drop_table('sync_entities')
    op.drop_table('sync_cursors')
    op.drop_table('sync_stores')
