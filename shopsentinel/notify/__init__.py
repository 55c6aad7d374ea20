"""Notification channels: the Notifier protocol, the channel registry, templates and action links.

>>> from shopsentinel.notify import Notification, builtin_registry
>>> sorted(builtin_registry().keys())[:3]
['alertmanager_webhook', 'aliyun_sms', 'aliyun_voice']
"""

from shopsentinel.notify.base import DeliveryResult, Language, Notification, Notifier
from shopsentinel.notify.links import (
    ActionClaim,
    ActionLinkError,
    ActionLinkExpired,
    ActionLinkInvalid,
    ActionLinkSigner,
    LinkAction,
    issue_action_token,
    link_key,
    verify_action_token,
)
from shopsentinel.notify.log_redaction import install_log_redaction
from shopsentinel.notify.registry import BUILTIN_CHANNELS, ChannelRegistry, ChannelSpec, builtin_registry

__all__ = [
    "BUILTIN_CHANNELS",
    "ActionClaim",
    "ActionLinkError",
    "ActionLinkExpired",
    "ActionLinkInvalid",
    "ActionLinkSigner",
    "ChannelRegistry",
    "ChannelSpec",
    "DeliveryResult",
    "Language",
    "LinkAction",
    "Notification",
    "Notifier",
    "builtin_registry",
    "install_log_redaction",
    "issue_action_token",
    "link_key",
    "verify_action_token",
]
