"""The connector kit: what every ``sources/<platform>/`` folder builds on. One kit, two bases.

Which base a platform uses depends on how its API authenticates and pages:

* **Router platforms** (Taobao/Tmall TOP, JD JOS, Pinduoduo) POST every call to one router URL and
  sign the *query parameters* with the app secret (sorted ``k1v1k2v2…``, MD5/HMAC); they speak GMT+8
  wall-clock strings and yuan decimals, and page by time window + page number. They subclass
  :class:`RouterClient` (signing, envelope, token refresh) and :class:`RouterConnector` (the
  :class:`~shopsentinel.sources.base.Source` on top of :class:`WindowedStream` /
  :class:`SnapshotStream` declarations, read by :func:`read_stream`).
* **REST platforms** (Douyin, Kuaishou, Amazon SP-API, Shopify, the generic HTTP/JSON source) call
  one endpoint per resource with a bearer/access token (plus a per-request signature where the
  platform wants one), speak ISO or epoch UTC times and page by cursor. They subclass
  :class:`IncrementalSource` and declare a :class:`StreamSpec` per stream, read by
  :func:`read_incremental` with an :class:`UpdatedCursor`.

Both bases share the pacing pieces (:data:`Sleep`, :func:`wall_sleep`, :class:`ThrottleWaiter`) and
:func:`resend_dropped`, which resends an idempotent read whose connection dropped.

Modules: :mod:`.pacing` (sleep, throttle waits), :mod:`.resend` (dropped connections),
:mod:`.router` + :mod:`.incremental` + :mod:`.connector` (router base), :mod:`.http` (REST base).
"""

from shopsentinel.sources.kit.connector import RouterConnector
from shopsentinel.sources.kit.http import (
    IncrementalSource,
    Keyed,
    PageFetcher,
    StreamSpec,
    TrafficPage,
    TrafficPoint,
    UpdatedCursor,
    iso_z,
    parse_iso,
    read_incremental,
    utc,
)
from shopsentinel.sources.kit.incremental import (
    FetchPage,
    FetchWindow,
    RawPage,
    ReadPlan,
    Record,
    SnapshotStream,
    Stream,
    WindowedStream,
    changed_at,
    primary_key,
    raw_page,
    read_stream,
    version,
)
from shopsentinel.sources.kit.pacing import Sleep, ThrottleWaiter, wall_sleep
from shopsentinel.sources.kit.resend import DROPPED, ConnectionDroppedError, resend_dropped
from shopsentinel.sources.kit.router import (
    CHINA_TZ,
    RouterClient,
    RouterConfig,
    SignMethod,
    TokenExpiredError,
    TokenListener,
    Tokens,
    concat_sorted,
    field_of,
    format_china_time,
    format_money,
    from_unix_seconds,
    parse_china_time,
    parse_money,
    parse_optional_china_time,
    sign_params,
    stringify,
    unix_seconds,
)

__all__ = [
    "CHINA_TZ",
    "DROPPED",
    "ConnectionDroppedError",
    "FetchPage",
    "FetchWindow",
    "IncrementalSource",
    "Keyed",
    "PageFetcher",
    "RawPage",
    "ReadPlan",
    "Record",
    "RouterClient",
    "RouterConfig",
    "RouterConnector",
    "SignMethod",
    "Sleep",
    "SnapshotStream",
    "Stream",
    "StreamSpec",
    "ThrottleWaiter",
    "TokenExpiredError",
    "TokenListener",
    "Tokens",
    "TrafficPage",
    "TrafficPoint",
    "UpdatedCursor",
    "WindowedStream",
    "changed_at",
    "concat_sorted",
    "field_of",
    "format_china_time",
    "format_money",
    "from_unix_seconds",
    "iso_z",
    "parse_china_time",
    "parse_iso",
    "parse_money",
    "parse_optional_china_time",
    "primary_key",
    "raw_page",
    "read_incremental",
    "read_stream",
    "resend_dropped",
    "sign_params",
    "stringify",
    "unix_seconds",
    "utc",
    "version",
    "wall_sleep",
]
