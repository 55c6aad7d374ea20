"""response loop: RCA notes, knowledge base, playbooks and runs, missed incidents

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import shopsentinel.store.state

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('kb_entries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('alert_id', sa.String(length=40), nullable=False),
    sa.Column('rule', sa.String(length=200), nullable=False),
    sa.Column('metric', sa.String(length=200), nullable=False),
    sa.Column('category', sa.String(length=64), nullable=False),
    sa.Column('platform', sa.String(length=64), nullable=False),
    sa.Column('store', sa.String(length=200), nullable=False),
    sa.Column('sku', sa.String(length=200), nullable=False),
    sa.Column('pattern', sa.String(length=32), nullable=False),
    sa.Column('cause', sa.Text(), nullable=False),
    sa.Column('fix', sa.Text(), nullable=False),
    sa.Column('tags', sa.JSON(), nullable=False),
    sa.Column('author', sa.String(length=200), nullable=False),
    sa.Column('created_at', shopsentinel.store.state.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_kb_entries_alert_id'), 'kb_entries', ['alert_id'], unique=False)
    op.create_index('ix_kb_entries_rule_metric', 'kb_entries', ['rule', 'metric'], unique=False)
    op.create_table('missed_incidents',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('platform', sa.String(length=64), nullable=False),
    sa.Column('store', sa.String(length=200), nullable=False),
    sa.Column('metric', sa.String(length=200), nullable=False),
    sa.Column('category', sa.String(length=64), nullable=False),
    sa.Column('starts_at', shopsentinel.store.state.UTCDateTime(), nullable=False),
    sa.Column('ends_at', shopsentinel.store.state.UTCDateTime(), nullable=True),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.Column('created_at', shopsentinel.store.state.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('playbook_runs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('playbook', sa.String(length=200), nullable=False),
    sa.Column('alert_id', sa.String(length=40), nullable=False),
    sa.Column('key', sa.String(length=300), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('dry_run', sa.Boolean(), nullable=False),
    sa.Column('step', sa.Integer(), nullable=False),
    sa.Column('context', sa.JSON(), nullable=False),
    sa.Column('started_at', shopsentinel.store.state.UTCDateTime(), nullable=False),
    sa.Column('updated_at', shopsentinel.store.state.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('key')
    )
    op.create_index(op.f('ix_playbook_runs_alert_id'), 'playbook_runs', ['alert_id'], unique=False)
    op.create_index('ix_playbook_runs_state', 'playbook_runs', ['state'], unique=False)
    op.create_table('playbooks',
    sa.Column('version', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('body', sa.JSON(), nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.Column('created_at', shopsentinel.store.state.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('version')
    )
    op.create_table('rca_notes',
    sa.Column('alert_id', sa.String(length=40), nullable=False),
    sa.Column('incident', sa.String(length=64), nullable=False),
    sa.Column('text_zh', sa.Text(), nullable=False),
    sa.Column('text_en', sa.Text(), nullable=False),
    sa.Column('cause', sa.String(length=64), nullable=False),
    sa.Column('result', sa.JSON(), nullable=False),
    sa.Column('computed_at', shopsentinel.store.state.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('alert_id')
    )
    op.create_table('playbook_steps',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('index', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('action_key', sa.String(length=400), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('owner', sa.String(length=200), nullable=False),
    sa.Column('deadline_at', shopsentinel.store.state.UTCDateTime(), nullable=True),
    sa.Column('approved_by', sa.String(length=200), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', shopsentinel.store.state.UTCDateTime(), nullable=True),
    sa.Column('wait_until', shopsentinel.store.state.UTCDateTime(), nullable=True),
    sa.Column('result', sa.JSON(), nullable=False),
    sa.Column('error', sa.Text(), nullable=False),
    sa.Column('updated_at', shopsentinel.store.state.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['run_id'], ['playbook_runs.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('action_key')
    )
    op.create_index(op.f('ix_playbook_steps_run_id'), 'playbook_steps', ['run_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_playbook_steps_run_id'), table_name='playbook_steps')
    op.drop_table('playbook_steps')
    op.drop_table('rca_notes')
    op.drop_table('playbooks')
    op.drop_index('ix_playbook_runs_state', table_name='playbook_runs')
    op.drop_index(op.f('ix_playbook_runs_alert_id'), table_name='playbook_runs')
    op.drop_table('playbook_runs')
    op.drop_table('missed_incidents')
    op.drop_index('ix_kb_entries_rule_metric', table_name='kb_entries')
    op.drop_index(op.f('ix_kb_entries_alert_id'), table_name='kb_entries')
    op.drop_table('kb_entries')
