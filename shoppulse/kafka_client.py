"""Starting an aiokafka client, with one line of error when no broker answers.

aiokafka logs each failed connection ("Unable connect to ...") and then raises
KafkaConnectionError, and a client whose start failed stays open until stopped
("Unclosed AIOKafkaProducer" at exit). ``start_client`` turns that into one
BrokerUnreachable that says why and what to do, with the client closed.
"""

from __future__ import annotations

import logging

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaConnectionError

from shoppulse.exceptions import ShopPulseError

AIOKAFKA_LOG = logging.getLogger("aiokafka")


class BrokerUnreachable(ShopPulseError):
    """No Kafka broker answered at the bootstrap address a command was given."""

    def __init__(self, bootstrap: str, reason: str) -> None:
        super().__init__(
            f"no Kafka broker answers at {bootstrap} ({reason}): start one"
            " (shoppulse broker --port PORT) or pass --broker the host:port of a running one"
        )
        self.bootstrap = bootstrap
        self.reason = reason


class _ConnectFailures(logging.Filter):
    """Holds back aiokafka's connection errors and keeps the reason of each: the
    BrokerUnreachable raised after them says the same, once."""

    def __init__(self) -> None:
        super().__init__()
        self.reasons: list[str] = []

    def filter(self, record: logging.LogRecord) -> bool:
        if not str(record.msg).startswith("Unable connect to"):
            return True
        error = record.args[-1] if isinstance(record.args, tuple) and record.args else None
        if isinstance(error, OSError) and error.strerror:
            self.reasons.append(error.strerror)
        else:
            self.reasons.append(str(error) or type(error).__name__)
        return False


async def start_client(
    client: AIOKafkaProducer | AIOKafkaConsumer | AIOKafkaAdminClient, bootstrap: str
) -> None:
    """``client.start()``; when no broker answers, close the client and raise BrokerUnreachable.

    While it runs, aiokafka's "Unable connect to" records are not logged, other
    clients' included: start clients before traffic, as the commands do.
    """
    failures = _ConnectFailures()
    AIOKAFKA_LOG.addFilter(failures)
    try:
        await client.start()
    except KafkaConnectionError as exc:
        if isinstance(client, AIOKafkaAdminClient):
            await client.close()
        else:
            await client.stop()
        raise BrokerUnreachable(bootstrap, failures.reasons[-1] if failures.reasons else str(exc)) from exc
    finally:
        AIOKAFKA_LOG.removeFilter(failures)
