"""Security and inspection values and calls shared by `Client` and
`AsyncClient`: TLS settings (`Tls`), ACL entries (`ACL`), quotas (`Quota`),
a lock's line (`LockInfo` of `LockContender`s), and the mixins that add
`whoami`, `get_acl` / `set_acl` / `create_with_acl`, `set_quota` /
`get_quota` / `clear_quota` and `lock_info` to both clients.

Only conversion lives here: the native core checks ACLs, speaks TLS and
decides who holds a lock.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, List, Optional, Sequence, Tuple, Union

from . import _coord
from ._coord import Stat

PERMS = "cdrwa"
"""Permission letters, ZooKeeper's: create, delete, read, write, admin."""


@dataclass(frozen=True)
class Tls:
    """How a client speaks TLS: `ca` is the PEM file of the CA certificates
    that sign the servers' certificates; `cert` and `key` (both or neither)
    the client certificate chain and its key, for servers that require one;
    `server_name` the name the servers' certificates must carry (default:
    each server's host; an IP must be an IP SAN)."""

    ca: "PathLike"
    """PEM file of the CA certificates that sign the servers' certificates."""
    cert: Optional["PathLike"] = None
    """PEM file of the client certificate chain (with `key`), or None."""
    key: Optional["PathLike"] = None
    """PEM file of the client certificate's private key (with `cert`), or None."""
    server_name: Optional[str] = None
    """The name the servers' certificates must carry (None: each server's host)."""

    def _native(self) -> Tuple[str, Optional[str], Optional[str], Optional[str]]:
        return (os.fspath(self.ca), _opt(self.cert), _opt(self.key), self.server_name)


PathLike = Union[str, "os.PathLike[str]"]
"""A file name: a `str` or a `pathlib.Path`."""


def _opt(p: Optional[PathLike]) -> Optional[str]:
    return None if p is None else os.fspath(p)


@dataclass(frozen=True)
class ACL:
    """One ACL entry: `perms` (letters of `cdrwa`) granted to the identity
    `scheme:id`. `ACL.parse("world:anyone:r")`; `str(acl)` gives the text
    back. `ACL("auth", "", "cdrwa")` stands for every identity of the
    creating session; a digest id is `user:base64(sha1(user:password))`."""

    scheme: str
    """The identity's scheme: `world`, `auth`, `digest`, `ip`, `x509`, `token`..."""
    id: str
    """The identity within the scheme (`anyone` for `world`)."""
    perms: str
    """Letters of `cdrwa`: create, delete, read, write, admin."""

    @classmethod
    def parse(cls, text: str) -> "ACL":
        """An entry from ZooKeeper's text `scheme:id:perms` (the id may hold
        colons). Bad text raises `BadArgumentsError` when sent."""
        rest, _, perms = text.rpartition(":")
        scheme, _, ident = rest.partition(":")
        return cls(scheme, ident, perms)

    def __str__(self) -> str:
        return f"{self.scheme}:{self.id}:{self.perms}"


ACLLike = Union[ACL, str]


def _acl_texts(acl: Sequence[ACLLike]) -> List[str]:
    if isinstance(acl, (str, ACL)):
        acl = [acl]
    return [str(a) for a in acl]


@dataclass(frozen=True)
class Quota:
    """A subtree quota: the limits set (None: no limit of that kind) and what
    the subtree holds now (`nodes` counts its root)."""

    max_nodes: Optional[int]
    """The most nodes the subtree may hold, its root counted (None: no limit)."""
    max_bytes: Optional[int]
    """The most data bytes the subtree may hold (None: no limit)."""
    nodes: int
    """Nodes the subtree holds now, its root counted."""
    bytes: int
    """Data bytes the subtree holds now."""


@dataclass(frozen=True)
class LockContender:
    """One node in a lock's line: its `node` name, the `owner` id it starts
    with, `kind` ("exclusive": mutex, writer, election candidate; "shared":
    reader; "lease": a semaphore's lease), the `session` holding it, the fencing `token` a holder got and
    `since_ms`, when it joined the line (ms since the epoch)."""

    node: str
    """The contender's node name in the lock's directory."""
    owner: str
    """The owner id the node name starts with."""
    kind: str
    """"exclusive" (mutex, writer, election candidate) or "shared" (reader)."""
    session: int
    """The session holding the node."""
    token: int
    """The fencing token a holder got."""
    since_ms: int
    """When it joined the line, ms since the epoch."""


@dataclass(frozen=True)
class LockInfo:
    """A lock's (read-write lock's, election's) line at one moment: who
    holds it and who waits, in line order."""

    path: str
    """The lock's path."""
    holders: List[LockContender]
    """Who holds it now (several only for readers or semaphore leases)."""
    waiters: List[LockContender]
    """Who waits, in line order."""


def _line(raw: Any) -> LockInfo:
    path, holders, waiters = raw
    return LockInfo(path, [LockContender(*h) for h in holders], [LockContender(*w) for w in waiters])


def _quota(raw: Any) -> Quota:
    return Quota(*raw)


def _acl_stat(raw: Any) -> Tuple[List[ACL], Stat]:
    texts, stat = raw
    return [ACL.parse(t) for t in texts], stat


def connect_args(tls: Optional[Tls], token: Optional[str], digest: Optional[Tuple[str, str]]) -> Tuple[Any, ...]:
    """The credential arguments of the native `connect`."""
    if tls is not None and not isinstance(tls, Tls):
        raise TypeError(f"tls must be a coord.Tls, got {type(tls).__name__}")
    if digest is not None:
        user, password = digest
        digest = (str(user), str(password))
    return (None if tls is None else tls._native(), token, digest)


class SecurityMixin:
    """The blocking calls (mixed into `coord.Client`)."""

    _core: _coord.ClientCore

    def whoami(self) -> List[str]:
        """The identities this session holds, `"scheme:id"` each
        (`world:anyone` when none)."""
        return _coord.whoami(self._core).wait()  # type: ignore[no-any-return]

    def get_acl(self, path: str) -> Tuple[List[ACL], Stat]:
        """`(entries, Stat)` of a node's ACL. Needs no permission."""
        return _acl_stat(_coord.get_acl(self._core, path).wait())

    def set_acl(self, path: str, acl: Sequence[ACLLike], version: int = -1) -> Stat:
        """Replaces a node's ACL (needs ADMIN on it, else `NoAuthError`);
        `version` is the expected ACL version (-1: any). Returns the Stat."""
        return _coord.set_acl(self._core, path, _acl_texts(acl), version).wait()  # type: ignore[no-any-return]

    def create_with_acl(
        self,
        path: str,
        data: bytes = b"",
        acl: Sequence[ACLLike] = (),
        ephemeral: bool = False,
        sequential: bool = False,
        container: bool = False,
        ttl: Optional[float] = None,
    ) -> str:
        """`create` giving the node `acl` (empty: `world:anyone:cdrwa`)."""
        return _coord.create_acl(  # type: ignore[no-any-return]
            self._core, path, bytes(data), _acl_texts(acl), ephemeral, sequential, container, ttl
        ).wait()

    def set_quota(self, path: str, max_nodes: Optional[int] = None, max_bytes: Optional[int] = None) -> None:
        """Sets the hard quota on the subtree at `path` (at least one limit);
        writes past it raise `QuotaExceededError`."""
        _coord.set_quota(self._core, path, max_nodes, max_bytes).wait()

    def get_quota(self, path: str) -> Quota:
        """The quota on exactly `path` and its usage (`NoNodeError` if none)."""
        return _quota(_coord.get_quota(self._core, path).wait())

    def clear_quota(self, path: str) -> None:
        """Removes the quota on `path`."""
        _coord.clear_quota(self._core, path).wait()

    def lock_info(self, path: str) -> LockInfo:
        """Who holds the lock (read-write lock, election) at `path` and who
        waits, in line order."""
        return _line(_coord.lock_info(self._core, path).wait())


class AsyncSecurityMixin:
    """The asyncio calls (mixed into `coord.AsyncClient`)."""

    @property
    def _core(self) -> _coord.ClientCore:
        raise NotImplementedError  # pragma: no cover - AsyncClient's

    async def whoami(self) -> List[str]:
        """The identities this session holds, `"scheme:id"` each."""
        return await _coord.whoami(self._core)  # type: ignore[no-any-return]

    async def get_acl(self, path: str) -> Tuple[List[ACL], Stat]:
        """`(entries, Stat)` of a node's ACL."""
        return _acl_stat(await _coord.get_acl(self._core, path))

    async def set_acl(self, path: str, acl: Sequence[ACLLike], version: int = -1) -> Stat:
        """Replaces a node's ACL (needs ADMIN on it)."""
        return await _coord.set_acl(self._core, path, _acl_texts(acl), version)  # type: ignore[no-any-return]

    async def create_with_acl(
        self,
        path: str,
        data: bytes = b"",
        acl: Sequence[ACLLike] = (),
        ephemeral: bool = False,
        sequential: bool = False,
        container: bool = False,
        ttl: Optional[float] = None,
    ) -> str:
        """`create` giving the node `acl`."""
        return await _coord.create_acl(  # type: ignore[no-any-return]
            self._core, path, bytes(data), _acl_texts(acl), ephemeral, sequential, container, ttl
        )

    async def set_quota(self, path: str, max_nodes: Optional[int] = None, max_bytes: Optional[int] = None) -> None:
        """Sets the hard quota on the subtree at `path`."""
        await _coord.set_quota(self._core, path, max_nodes, max_bytes)

    async def get_quota(self, path: str) -> Quota:
        """The quota on exactly `path` and its usage."""
        return _quota(await _coord.get_quota(self._core, path))

    async def clear_quota(self, path: str) -> None:
        """Removes the quota on `path`."""
        await _coord.clear_quota(self._core, path)

    async def lock_info(self, path: str) -> LockInfo:
        """Who holds the lock at `path` and who waits, in line order."""
        return _line(await _coord.lock_info(self._core, path))
