"""Sends one story to a running Hatchery through Segment's official Python library, unchanged.

Usage: python3 segment_python.py HOST WRITE_KEY

Driven by crates/web/tests/segment_client.rs, which then checks through the REST API what was
stored. Exits 0 only when every request was accepted and the two deliberately bad ones were
rejected with a status and an error code the library reads; 3 when the library is not installed.
Nothing here prints message contents: the test data is synthetic, but the habit stays.
"""

import sys
from datetime import datetime, timedelta, timezone

try:
    import segment.analytics as analytics
    from segment.analytics import Client
    from segment.analytics.request import APIError
except ImportError:
    print(
        "Segment's Python library is missing: "
        "python3 -m pip install -r crates/web/tests/clients/requirements.txt",
        file=sys.stderr,
    )
    sys.exit(3)

host, write_key = sys.argv[1], sys.argv[2]
failures = []


def on_error(error, batch):
    # The error names the status and Hatchery's error code and field, never a value.
    failures.append("{} ({} messages)".format(error, len(batch)))


# 1. The module-level API, as in the library's README and docs/ingestion.md. sync_mode sends each
#    call at once (still as a one-message POST /v1/batch) and raises on any error response.
analytics.write_key = write_key
analytics.host = host
analytics.sync_mode = True
analytics.max_retries = 1
analytics.timeout = 10

# A visitor on a second device, known later through alias.
analytics.page(anonymous_id="py-anon-2", name="Case Studies", properties={"path": "/cases"})
# A visitor browsing before filling in a form.
analytics.page(
    anonymous_id="py-anon-1",
    category="Docs",
    name="Pricing",
    properties={"path": "/pricing", "referrer": "https://www.baidu.com/"},
    context={"campaign": {"source": "baidu", "medium": "cpc", "name": "expo-2026"}},
)
analytics.identify(
    "py-user-1",
    {
        "email": "Zhang.Wei@Example.CN",
        "phone": "+86 138 0013 8000",
        "name": "张伟",
        "company": "深圳云启科技有限公司",
        "province": "广东省",
        "city": "深圳",
        "title": "采购经理",
        "favourite_glyph": "𠀀🚀",  # outside the BMP: sent as JSON surrogate pairs
    },
    anonymous_id="py-anon-1",
)
# An explicit event time, one hour before the call, to check timestamp and sentAt handling.
analytics.track(
    "py-user-1",
    "Requested Trial",
    {"plan": "pro", "seats": 20, "price": 1999.5},
    timestamp=datetime.now(timezone.utc) - timedelta(hours=1),
)
analytics.group(
    "py-user-1",
    "grp-py-42",
    {"name": "深圳云启科技有限公司", "industry": "SaaS", "employees": 120},
)
analytics.alias("py-anon-2", "py-user-1")

# 2. A queued client, as a long-running service uses the library: messages are batched by the
#    consumer thread, gzip-compressed, and sent on flush.
client = Client(
    write_key,
    host=host,
    gzip=True,
    upload_size=100,
    upload_interval=0.2,
    max_retries=1,
    timeout=10,
    on_error=on_error,
)
for i in range(25):
    client.track("py-user-1", "Viewed Case Study", {"case": i})
client.screen("py-user-1", name="App Home", properties={"build": "2026.11"})
client.flush()
client.shutdown()

# 3. Errors reach the library as Segment's do: a status, a `code` and a `message` it can read.
def rejection(client, call):
    try:
        call(client)
    except APIError as error:
        return error.status, error.code
    return None


strict = Client(write_key, host=host, sync_mode=True, max_retries=0, timeout=10)
got = rejection(strict, lambda c: c.track("py-user-1", ""))  # an empty event name
if got != (422, "invalid_field"):
    failures.append("an invalid message gave {!r}, not (422, 'invalid_field')".format(got))
unknown = Client("not-a-write-key", host=host, sync_mode=True, max_retries=0, timeout=10)
got = rejection(unknown, lambda c: c.track("py-user-1", "Requested Demo"))
if got != (401, "unauthorized"):
    failures.append("an unknown write key gave {!r}, not (401, 'unauthorized')".format(got))

if failures:
    for failure in failures:
        print("upload failed: " + failure, file=sys.stderr)
    sys.exit(1)
print("sent")
