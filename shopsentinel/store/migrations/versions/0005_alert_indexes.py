"""alert indexes for the alert center (counts over time, incident pages, per-rule history)

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_alerts_created_at', 'alerts', ['created_at'])
    op.create_index('ix_alerts_incident', 'alerts', ['incident'])
    op.create_index('ix_alerts_rule_state', 'alerts', ['rule', 'state'])


def downgrade() -> None:
    op.drop_index('ix_alerts_rule_state', table_name='alerts')
    op.drop_index('ix_alerts_incident', table_name='alerts')
    op.drop_index('ix_alerts_created_at', table_name='alerts')
