"""The sender's lease: which machine may send and replicate, kept in the replica store itself
so that both machines see the same one, never only on one of them.

One small JSON object beside the replica: ``{"owner", "generation", "renewed", "expires"}``.
Every change is a conditional write on what was read (S3's ``If-None-Match: *`` to create,
``If-Match: <ETag>`` to replace; for a file replica the same under an flock beside it), so two
machines can never both believe they took it. The sender renews it; it lapses
``REPLICA_LEASE_SECONDS`` after the last renewal. Only ``take_over`` (``scripts/flask
failover``) moves it to another owner, and only once it lapsed: a machine that finds another
owner named refuses to send or replicate (fencing), even after that owner's lease lapsed,
because its own database is older than the copy the new owner restored.
"""

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import secrets
import socket
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from .db import now_iso

log = logging.getLogger(__name__)


class LeaseHeld(Exception):
    """Another machine holds a valid lease; ``holder`` says who and until when."""

    def __init__(self, message, holder):
        super().__init__(message)
        self.holder = holder


class LeaseTaken(Exception):
    """The lease names another machine: this one must not send or replicate."""

    def __init__(self, message, holder):
        super().__init__(message)
        self.holder = holder


class Conflict(Exception):
    """The object changed between read and write (the conditional write was refused)."""


@dataclass(frozen=True)
class Holder:
    owner: str
    generation: int
    renewed: float   # Unix time of the last renewal
    expires: float   # renewed + REPLICA_LEASE_SECONDS

    def remaining(self, now=None):
        return max(0.0, self.expires - (time.time() if now is None else now))

    def to_json(self):
        return json.dumps({"owner": self.owner, "generation": self.generation,
                           "renewed": self.renewed, "expires": self.expires,
                           # Two writes of equal content would have equal ETags.
                           "nonce": secrets.token_hex(8)}).encode()

    @classmethod
    def from_json(cls, data):
        fields = json.loads(data)
        return cls(str(fields["owner"]), int(fields["generation"]), float(fields["renewed"]),
                   float(fields["expires"]))


class FileStore:
    """The lease file beside a file replica (``<replica dir>.lease``)."""

    def __init__(self, directory):
        self.path = f"{directory.rstrip('/')}.lease"

    def describe(self):
        return self.path

    @contextlib.contextmanager
    def _locked(self):
        os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
        fd = os.open(f"{self.path}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _read(self):
        try:
            with open(self.path, "rb") as fh:
                data = fh.read()
        except FileNotFoundError:
            return None, None
        return Holder.from_json(data), hashlib.sha256(data).hexdigest()

    def read(self):
        with self._locked():
            return self._read()

    def write(self, holder, tag):
        """Write ``holder`` if the lease is still the one read with ``tag`` (None: absent)."""
        data = holder.to_json()
        with self._locked():
            _, current = self._read()
            if current != tag:
                raise Conflict(self.path)
            temporary = f"{self.path}.{os.getpid()}.new"
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(temporary, self.path)
        return hashlib.sha256(data).hexdigest()


class S3Store:
    """The lease object beside an S3 replica (``s3://bucket/path`` → ``path.lease``)."""

    def __init__(self, bucket, prefix, endpoint=None):
        self.bucket = bucket
        self.key = f"{prefix.strip('/') or 'infokanal'}.lease"
        self.endpoint = endpoint or None
        self._client = None

    def describe(self):
        return f"s3://{self.bucket}/{self.key}"

    def client(self):
        if self._client is None:
            import boto3  # only where the lease lives in S3: it takes a while to import
            from botocore.config import Config

            env = os.environ
            self._client = boto3.client(
                "s3", endpoint_url=self.endpoint,
                region_name=env.get("LITESTREAM_REGION") or env.get("AWS_REGION")
                or env.get("AWS_DEFAULT_REGION") or "us-east-1",
                aws_access_key_id=env.get("LITESTREAM_ACCESS_KEY_ID")
                or env.get("AWS_ACCESS_KEY_ID"),
                aws_secret_access_key=env.get("LITESTREAM_SECRET_ACCESS_KEY")
                or env.get("AWS_SECRET_ACCESS_KEY"),
                config=Config(connect_timeout=3, read_timeout=5,
                              retries={"max_attempts": 2},
                              s3={"addressing_style": "path" if self.endpoint else "auto"}))
        return self._client

    def read(self):
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            answer = self.client().get_object(Bucket=self.bucket, Key=self.key)
            data = answer["Body"].read()
        except ClientError as exc:
            if exc.response["Error"]["Code"] in ("NoSuchKey", "404"):
                return None, None
            raise OSError(f"reading {self.describe()}: {exc}") from None
        except BotoCoreError as exc:  # the store does not answer
            raise OSError(f"reading {self.describe()}: {exc}") from None
        return Holder.from_json(data), answer["ETag"]

    def write(self, holder, tag):
        from botocore.exceptions import BotoCoreError, ClientError

        condition = {"IfNoneMatch": "*"} if tag is None else {"IfMatch": tag}
        try:
            answer = self.client().put_object(Bucket=self.bucket, Key=self.key,
                                              Body=holder.to_json(), **condition)
        except ClientError as exc:
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if status in (409, 412) or exc.response["Error"]["Code"] in (
                    "PreconditionFailed", "ConditionalRequestConflict"):
                raise Conflict(self.describe()) from None
            raise OSError(f"writing {self.describe()}: {exc}") from None
        except BotoCoreError as exc:
            raise OSError(f"writing {self.describe()}: {exc}") from None
        return answer["ETag"]


def store_for(config):
    """The lease's store for REPLICA_URL, or None where there is no replica (or one whose
    store cannot hold a lease: sftp)."""
    url = config.get("REPLICA_URL") or ""
    parts = urlsplit(url)
    if parts.scheme == "file":
        return FileStore(parts.path)
    if parts.scheme == "s3":
        return S3Store(parts.netloc, parts.path, config.get("REPLICA_S3_ENDPOINT"))
    return None


def identity(config):
    """This machine's name in the lease: the host name and a token made once beside the
    database, so that a standby restored from the same data is still another machine."""
    path = f"{os.path.realpath(config['DATABASE_PATH'])}-node"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        with open(path, encoding="ascii") as fh:
            return fh.read().strip()
    name = f"{socket.gethostname()}/{secrets.token_hex(4)}"
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(name)
    return name


def _describe(holder, now=None):
    now = time.time() if now is None else now
    state = (f"valid for {holder.remaining(now):.0f} more seconds" if holder.remaining(now)
             else f"lapsed {now - holder.expires:.0f} seconds ago")
    return (f"{holder.owner} (generation {holder.generation}, renewed "
            f"{now - holder.renewed:.0f} seconds ago, {state})")


def hold(store, owner, seconds):
    """Create the lease (first start) or renew this machine's own; LeaseTaken when it names
    another machine. Returns the Holder written."""
    for _ in range(3):
        holder, tag = store.read()
        if holder is not None and holder.owner != owner:
            raise LeaseTaken(
                f"the lease in {store.describe()} names another machine: "
                f"{_describe(holder)}. This one was replaced by a failover and must not send "
                "or replicate; set it up again as a standby (README: Standby and failover).",
                holder)
        now = time.time()
        generation = holder.generation if holder else 1
        mine = Holder(owner, generation, now, now + seconds)
        try:
            store.write(mine, tag)
        except Conflict:
            continue  # another writer got there between read and write: read again
        return mine
    raise OSError(f"the lease in {store.describe()} kept changing while it was renewed")


def take_over(store, owner, seconds):
    """Move the lease to this machine (a failover). LeaseHeld while another machine's lease
    is still valid; the message says how long to wait."""
    holder, tag = store.read()
    now = time.time()
    if holder is not None and holder.owner != owner and holder.remaining(now) > 0:
        raise LeaseHeld(
            f"the primary still holds the lease: {_describe(holder, now)}. It may still be "
            f"sending. Wait {holder.remaining(now):.0f} seconds (or stop the primary) and "
            "run this again.", holder)
    generation = (holder.generation + 1) if holder and holder.owner != owner else \
        (holder.generation if holder else 1)
    mine = Holder(owner, generation, now, now + seconds)
    try:
        store.write(mine, tag)
    except Conflict:
        raise LeaseHeld(f"the lease in {store.describe()} changed while it was taken over: "
                        "the primary renewed it. Run this again once it lapsed.",
                        holder) from None
    return mine


def _note_path(database_path):
    return f"{os.path.realpath(database_path)}-replaced"


def mark_replaced(database_path, owner):
    """Note beside this machine's database (``<DATABASE_PATH>-replaced``, never in it, so that
    Litestream cannot copy it to the store the new primary restores from) that ``owner`` took
    it over in a failover: its web process and commands then take no change any more
    (``bot/web/fence.py``). A sender restarted again and again keeps the first time, unless
    another failover named another owner since. ``failover`` on this machine removes it."""
    if (replaced_by(database_path) or {}).get("owner") == owner:
        return
    path = _note_path(database_path)
    try:
        fd = os.open(f"{path}.new", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump({"owner": owner, "at": now_iso()}, fh)
        os.replace(f"{path}.new", path)
    except OSError as exc:
        # The caller stops sending or replicating all the same; only the web is not fenced.
        log.error("Could not note the failover in %s (%s): this machine's web process still "
                  "takes changes; stop it", path, exc)


def replaced_by(database_path):
    """{"owner", "at"} once a failover replaced this machine, else None."""
    try:
        with open(_note_path(database_path), encoding="utf-8") as fh:
            return json.load(fh)
    except FileNotFoundError:
        return None


def clear_replaced(database_path):
    """This machine is the primary again (``failover`` restored the replica here)."""
    with contextlib.suppress(FileNotFoundError):
        os.remove(_note_path(database_path))
