"""``manage.py consume_stream``: bad options and a missing broker are clear CLI errors.

Running consumers are in ``test_e2e_consumers.py`` (real processes).
"""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--batch", "0"], "--batch must be between 1 and 5000; got 0."),
        (["--batch", "5001"], "--batch must be between 1 and 5000; got 5001."),
        (["--block-ms", "0"], "--block-ms must be at least 1; got 0."),
        (["--claim-min-idle-ms", "-5"], "--claim-min-idle-ms must be at least 1; got -5."),
        (["--max-deliveries", "-1"], "--max-deliveries must be 0 (never) or more."),
        (["--stream", " "], "--stream and --group must not be empty."),
        (["--dead-letter", "transactions"], "The dead-letter stream must differ"),
        (["--redis-url", "http://127.0.0.1:6379"], "--redis-url: Redis URL must specify"),
    ],
)
def test_bad_options_are_refused_with_the_reason(args, message):
    with pytest.raises(CommandError) as caught:
        call_command("consume_stream", "--redis-url", "redis://127.0.0.1:6379/7", *args)
    assert message in str(caught.value)


def test_without_redis_the_command_says_what_to_set(settings):
    settings.STREAM_REDIS_URL = ""  # the embedded demo: no Redis anywhere
    with pytest.raises(CommandError, match="set STREAM_REDIS_URL"):
        call_command("consume_stream", "--redis-url", "")
