"""stockout_forecasts: the stock-out forecasts' track record (what was forecast, what happened), which
the predictive alert recalibrates itself from

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from shopsentinel.store.state import UTCDateTime

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'stockout_forecasts',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('platform', sa.String(length=64), nullable=False),
        sa.Column('store', sa.String(length=200), nullable=False),
        sa.Column('sku', sa.String(length=200), nullable=False),
        sa.Column('made_at', UTCDateTime(), nullable=False),
        sa.Column('probability', sa.Float(), nullable=False),
        sa.Column('calibrated', sa.Float(), nullable=False),
        sa.Column('stock', sa.Float(), nullable=False),
        sa.Column('supply', sa.String(length=16), nullable=False),
        sa.Column('ran_out', sa.Boolean(), nullable=True),
        sa.Column('settled_at', UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('platform', 'store', 'sku', 'made_at', name='uq_stockout_forecasts_sku_hour'),
    )
    op.create_index('ix_stockout_forecasts_made_at', 'stockout_forecasts', ['made_at'])
    op.create_index('ix_stockout_forecasts_open', 'stockout_forecasts', ['settled_at', 'made_at'])


def downgrade() -> None:
    op.drop_index('ix_stockout_forecasts_open', table_name='stockout_forecasts')
    op.drop_index('ix_stockout_forecasts_made_at', table_name='stockout_forecasts')
    op.drop_table('stockout_forecasts')
