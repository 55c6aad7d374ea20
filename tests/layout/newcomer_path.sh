#!/usr/bin/env bash
# A new contributor's path, followed literally from docs/ARCHITECTURE.md "How to add …" in a scratch
# copy of main: a channel (bark), a detector (mad_band) and a platform (weidian). Prints the files each
# touched and runs the contract suites that discover them from the registries.
set -euo pipefail
SRC=$(cd "$(dirname "$0")/../.." && pwd); W=$(mktemp -d)
cd $SRC && git archive HEAD | tar -x -C $W && cd $W && git init -q && git add -A && git -c user.email=n@x -c user.name=n commit -qm base
PY=$SRC/.venv/bin/python
# --- a channel: one new file + one registry line
cat > shopsentinel/notify/channels/bark.py <<'PYEOF'
"""Bark (iOS push): POST {title, body, url} to https://api.day.app/<device_key>."""
from __future__ import annotations
import httpx
from pydantic import BaseModel, ConfigDict, SecretStr
from shopsentinel.notify.base import DeliveryResult, Notification
from shopsentinel.notify.channels._http import raise_for_http_status, send_request
class Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    device_key: SecretStr
    server: str = "https://api.day.app"
    timeout_seconds: float = 10.0
class BarkNotifier:
    channel = "bark"
    def __init__(self, config: Config) -> None:
        self.config = config
    def __repr__(self) -> str:
        return "BarkNotifier(device_key=SecretStr('**********'))"
    async def send(self, notification: Notification, client: httpx.AsyncClient) -> DeliveryResult:
        url = f"{self.config.server}/{self.config.device_key.get_secret_value()}"
        response = await send_request(client, self.channel, "POST", url, timeout=self.config.timeout_seconds,
                                      json={"title": notification.title, "body": notification.title, "url": notification.detail_url or ""})
        raise_for_http_status(response, self.channel, response.text[:100])
        return DeliveryResult(channel=self.channel)
PYEOF
$PY - <<'PYEOF'
p='shopsentinel/notify/registry.py'; t=open(p).read()
t=t.replace(')  # fmt: skip', '    ChannelSpec("bark", bark.Config, lambda c, clock: bark.BarkNotifier(c), "Bark iOS 推送", {"device_key": "bark-device-key"}),\n)  # fmt: skip',1)
t=t.replace('from shopsentinel.notify.channels import (\n', 'from shopsentinel.notify.channels import (\n    bark,\n',1)
open(p,'w').write(t)
PYEOF
# --- a detector: condition model + scorer + one registry line + its injection
cat > shopsentinel/detect/mad_band.py <<'PYEOF'
"""A robust same-hour band: median ± k·MAD of the same hour over the last days (causal)."""
from __future__ import annotations
import numpy as np
from shopsentinel.detect.detectors import Score
from shopsentinel.detect.rules import MadBandCondition
from shopsentinel.detect.series import SeriesResolver, SeriesView
class MadBandScorer:
    def score(self, view: SeriesView, cond: MadBandCondition, resolver: SeriesResolver, tail_hours: int) -> Score:
        x = view.values
        hist = np.full((cond.days,) + x.shape, np.nan)
        for d in range(1, cond.days + 1):
            hist[d - 1, 24 * d:] = x[: x.shape[0] - 24 * d]
        enough = np.sum(~np.isnan(hist), axis=0) >= 3
        with np.errstate(invalid="ignore"), __import__("warnings").catch_warnings():
            __import__("warnings").simplefilter("ignore", RuntimeWarning)
            med = np.nanmedian(hist, axis=0)
            mad = np.nanmedian(np.abs(hist - med), axis=0)
            width = cond.k * np.maximum(1.4826 * mad, 0.05 * np.abs(med) + 1e-9)
            lower, upper = med - width, med + width
            up, down = x > upper, x < lower
            up_r, down_r = x > med + 0.6 * width, x < med - 0.6 * width
        outside = (up if cond.direction != "down" else False) | (down if cond.direction != "up" else False)
        relaxed = (up_r if cond.direction != "down" else False) | (down_r if cond.direction != "up" else False)
        known = ~np.isnan(x) & enough
        return Score(x, med, lower, upper, known, np.asarray(outside) & known, np.asarray(relaxed) & known)
PYEOF
$PY - <<'PYEOF'
p='shopsentinel/detect/rules.py'; t=open(p).read()
t=t.replace('\n_ConditionUnion = (', '''
class MadBandCondition(_Directional):
    """The same hour of the last ``days`` days: median ± ``k`` × MAD."""

    type: Literal["mad_band"]
    days: int = Field(default=7, ge=3, le=60)
    k: float = Field(default=6.0, gt=0)


_ConditionUnion = (''',1)
t=t.replace('| AutoCondition | EventCondition', '| AutoCondition | EventCondition | MadBandCondition',1)
open(p,'w').write(t)
p='shopsentinel/detect/registry.py'; t=open(p).read()
t=t.replace('REGISTRY: dict[str, DetectorSpec[Any]] = {', 'REGISTRY: dict[str, DetectorSpec[Any]] = {\n    "mad_band": DetectorSpec(MadBandCondition, MadBandScorer(), example={"days": 7, "k": 6}),',1)
t=t.replace('from shopsentinel.detect.models import', 'from shopsentinel.detect.mad_band import MadBandScorer\nfrom shopsentinel.detect.models import',1)
t=t.replace('from shopsentinel.detect.rules import (', 'from shopsentinel.detect.rules import (\n    MadBandCondition,',1)
open(p,'w').write(t)
p='tests/detect/test_detector_conformance.py'; t=open(p).read()
t=t.replace('INJECTIONS: dict[str, Injection] = {', 'INJECTIONS: dict[str, Injection] = {\n    "mad_band": lambda d, r: _spikes_and_dips(d, r, dips=True),',1)
open(p,'w').write(t)
PYEOF
# --- a platform: a new package (here a copy of kuaishou's, renamed) + its row + one registry line
cp -r shopsentinel/sources/kuaishou shopsentinel/sources/weidian
sed -i 's/kuaishou/weidian/g; s/Kuaishou/Weidian/g; s/快手小店/微店/g' shopsentinel/sources/weidian/*
$PY - <<'PYEOF'
p='shopsentinel/core/types.py'; t=open(p).read()
t=t.replace('    "amazon": ("亚马逊", None),', '    "weidian": ("微店", "Asia/Shanghai"),\n    "amazon": ("亚马逊", None),',1)
open(p,'w').write(t)
p='shopsentinel/sources/registry.py'; t=open(p).read()
t=t.replace('from shopsentinel.sources.kuaishou import mapping as kuaishou_mapping', 'from shopsentinel.sources.kuaishou import mapping as kuaishou_mapping\nfrom shopsentinel.sources.weidian import mapping as weidian_mapping\nfrom shopsentinel.sources.weidian.connector import WeidianConfig, WeidianSource',1)
t=t.replace('    "amazon": PlatformEntry(AmazonSource', '''    "weidian": PlatformEntry(WeidianSource, WeidianConfig, {"store": "example", "app_key": "k", "app_secret": "s", "sign_secret": "g", "refresh_token": "r", "start": _START}, {"ORDER_STATUS": weidian_mapping.ORDER_STATUS, "REFUND_STATUS": weidian_mapping.REFUND_STATUS}, rotates_tokens=True),
    "amazon": PlatformEntry(AmazonSource''',1)
open(p,'w').write(t)
PYEOF
echo "== files touched (git status in the scratch copy):"; git status --short
echo "== contract suites (scratch copy in $W):"
PYTHONPATH=$W $SRC/.venv/bin/pytest -q -p no:cacheprovider tests/notify/test_notifier_contract.py tests/detect/test_detector_conformance.py tests/sources/test_source_contract.py -k "bark or mad_band or weidian or registry or platform" 2>&1 | tail -4
