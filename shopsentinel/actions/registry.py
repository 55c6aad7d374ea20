"""The one registry of playbook actions: every action key a playbook step may name, in one dict.

Nothing registers itself on import: an action is a plain ``run`` coroutine function plus its
``describe`` (dry run) in :mod:`~shopsentinel.actions.builtin` or :mod:`~shopsentinel.actions.platform`,
and one line here. :mod:`~shopsentinel.actions.model` validates step names against this dict.

>>> sorted(ACTIONS)[:3]
['crm_tag', 'cs_ticket', 'erp_purchase']
"""

from __future__ import annotations

from shopsentinel.actions import builtin, platform
from shopsentinel.actions.base import Action

ACTIONS: dict[str, Action] = {
    "notify": Action(builtin.notify, builtin.describe_notify, "通知：发送签名 webhook（未配置则仅站内记录）"),
    "jira_ticket": Action(builtin.jira_ticket, builtin.describe_jira, "建 Jira 工单"),
    "webhook_ticket": Action(builtin.webhook_ticket, builtin.describe_hook_ticket, "建工单：发送签名 webhook（如 Teambition）"),
    "cs_ticket": Action(builtin.cs_ticket, builtin.describe_cs, "建客服工单（紧急）"),
    "erp_purchase": Action(builtin.erp_purchase, builtin.describe_erp, "向 ERP 提交采购建议（按库存档位补足可售天数）"),
    "pause_ads": Action(builtin.pause_ads, builtin.describe_ads, "暂停 ROI 低于底线的广告计划并出对比报告"),
    "lock_item": Action(platform.lock_item, platform.describe_lock, "锁定商品：平台可售数量置 0（记住原数量）"),
    "unlock_item": Action(platform.unlock_item, platform.describe_unlock, "解除锁定：恢复记住的可售数量"),
    "crm_tag": Action(platform.crm_tag, platform.describe_crm, "CRM 打标：受影响订单的买家（售后关怀）"),
    "restore_price": Action(platform.restore_price, platform.describe_restore, "恢复原价：通过平台 API 改回价格"),
}  # fmt: skip

__all__ = ["ACTIONS"]
