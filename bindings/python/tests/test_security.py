"""Credentials, identities, ACLs, quotas and lock lines from Python:
`Client(tls=coord.Tls(...), token=..., digest=(...))` against a real
`coord serve` with mTLS and a tokens file (certificates from
scripts/make-local-ca.sh), a refused wrong CA, `whoami`, ACLs, quotas and
`lock_info` (sync and asyncio)."""

from __future__ import annotations

import asyncio
import os
import pathlib
import shutil
import subprocess
import tempfile
import threading
from typing import Iterator, List, Optional

import pytest

import coord
import coord.testing
from cluster_util import ROOT, coord_bin


class TlsServer:
    """`coord serve` with --tls-cert/--tls-key/--tls-client-ca and
    --tokens-file (token `tok-alice` for user alice); `dir` holds ca.pem,
    client.pem, client-key.pem and other/ca.pem (a CA that signed nothing
    the server shows)."""

    def __init__(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="coord-py-tls-")
        ca = os.path.join(ROOT, "scripts", "make-local-ca.sh")
        for d in (self.dir, os.path.join(self.dir, "other")):
            subprocess.run([ca, d], check=True, timeout=120, stdout=subprocess.DEVNULL)
        with open(os.path.join(self.dir, "tokens"), "w") as f:
            f.write("alice tok-alice\n")
        self.log: List[str] = []
        self.address: Optional[str] = None
        announced = threading.Event()
        self.proc = subprocess.Popen(
            [coord_bin(), "serve", "--listen", "127.0.0.1:0", "--data-dir", os.path.join(self.dir, "data"),
             "--tls-cert", self.file("server.pem"), "--tls-key", self.file("server-key.pem"),
             "--tls-client-ca", self.file("ca.pem"), "--tokens-file", self.file("tokens")],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )

        def read() -> None:
            assert self.proc.stderr is not None
            for line in self.proc.stderr:
                self.log.append(line.rstrip("\n"))
                if line.startswith("coord: serving on ") and self.address is None:
                    self.address = line[len("coord: serving on "):].strip()
                    announced.set()
            announced.set()

        threading.Thread(target=read, daemon=True).start()
        announced.wait(60)
        if self.address is None:
            self.stop()
            raise RuntimeError("the TLS server did not start:\n" + "\n".join(self.log))

    def file(self, name: str) -> str:
        return os.path.join(self.dir, name)

    def tls(self, ca: str = "ca.pem", client: bool = True) -> coord.Tls:
        if not client:
            return coord.Tls(ca=self.file(ca))
        # Paths work as well as strings.
        return coord.Tls(ca=pathlib.Path(self.file(ca)), cert=self.file("client.pem"), key=self.file("client-key.pem"))

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=30)
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def tls_server() -> Iterator[TlsServer]:
    s = TlsServer()
    try:
        yield s
    finally:
        s.stop()


def test_tls_with_client_certificate_token_and_digest(tls_server: TlsServer) -> None:
    with coord.Client(tls_server.address, session_timeout=5.0, tls=tls_server.tls(),
                      token="tok-alice", digest=("bob", "secret")) as c:
        ids = c.whoami()
        assert any(i.startswith("x509:") for i in ids), ids
        assert "token:alice" in ids
        assert any(i.startswith("digest:bob:") for i in ids), ids
        c.create("/py-tls", b"v", ephemeral=True)
        assert c.get("/py-tls")[0] == b"v"


def test_tls_refuses_a_server_signed_by_another_ca(tls_server: TlsServer) -> None:
    with pytest.raises(coord.ConnectionLossError) as e:
        coord.Client(tls_server.address, session_timeout=1.0, tls=tls_server.tls(ca="other/ca.pem"))
    assert "not signed by the trusted CA" in str(e.value)


def test_tls_without_client_certificate_is_refused_saying_why(tls_server: TlsServer) -> None:
    with pytest.raises(coord.ConnectionLossError) as e:
        coord.Client(tls_server.address, session_timeout=1.0, tls=tls_server.tls(client=False))
    assert "requires a client certificate" in str(e.value)


def test_bad_credentials_are_named(tls_server: TlsServer) -> None:
    with pytest.raises(coord.BadArgumentsError) as e:
        coord.Client(tls_server.address, tls=coord.Tls(ca=tls_server.file("no-such.pem")))
    assert "no-such.pem" in str(e.value)
    with pytest.raises(coord.BadArgumentsError, match="cert and key"):
        coord.Client(tls_server.address, tls=coord.Tls(ca=tls_server.file("ca.pem"), cert=tls_server.file("client.pem")))
    with pytest.raises(coord.AuthFailedError):
        coord.Client(tls_server.address, session_timeout=1.0, tls=tls_server.tls(), token="not-a-token")
    with pytest.raises(TypeError):
        coord.Client(tls_server.address, tls="ca.pem")  # type: ignore[arg-type]


def test_acls_with_digest_credentials(server: coord.testing.Server, base: str) -> None:
    path = f"{base}/acl"
    with coord.Client(server.address, digest=("carol", "pw")) as owner, coord.Client(server.address) as other:
        ids = other.whoami()
        assert "ip:127.0.0.1" in ids and not any(i.startswith("digest:") for i in ids), ids
        created = owner.create_with_acl(path, b"x", acl=[coord.ACL("auth", "", "cdrwa"), "world:anyone:r"])
        assert created == path
        acl, stat = other.get_acl(path)
        assert coord.ACL("world", "anyone", "r") in acl
        mine = [a for a in acl if a.scheme == "digest"]
        assert len(mine) == 1 and mine[0].id.startswith("carol:") and mine[0].perms == "cdrwa"
        assert str(coord.ACL.parse("digest:carol:h=:cdrwa")) == "digest:carol:h=:cdrwa"
        assert other.get(path)[0] == b"x"
        with pytest.raises(coord.NoAuthError):
            other.set(path, b"y")
        with pytest.raises(coord.NoAuthError):
            other.set_acl(path, ["world:anyone:cdrwa"])
        assert stat.aversion == 0
        with pytest.raises(coord.BadVersionError):
            owner.set_acl(path, ["world:anyone:cdrwa"], version=stat.aversion + 5)
        assert owner.set_acl(path, ["world:anyone:cdrwa"], version=stat.aversion).aversion == 1
        assert other.get_acl(path)[1].aversion == 1
        other.set(path, b"y")
        with pytest.raises(coord.BadArgumentsError, match=r"acl\[1\]"):
            owner.set_acl(path, ["world:anyone:r", "world:anyone:xyz"])


def test_quotas(client: coord.Client, base: str) -> None:
    with pytest.raises(coord.NoNodeError):
        client.get_quota(base)
    client.set_quota(base, max_nodes=2)
    client.create(f"{base}/a", b"abc")
    with pytest.raises(coord.QuotaExceededError):
        client.create(f"{base}/b")
    assert client.get_quota(base) == coord.Quota(max_nodes=2, max_bytes=None, nodes=2, bytes=3)
    client.clear_quota(base)
    client.create(f"{base}/b")
    with pytest.raises(coord.NoNodeError):
        client.get_quota(base)


def test_lock_info_shows_holders_and_waiters(server: coord.testing.Server, client: coord.Client, base: str) -> None:
    path = f"{base}/lock"
    with pytest.raises(coord.NoNodeError):
        client.lock_info(path)
    with coord.Client(server.address) as other:
        lock = client.lock(path)
        with lock as token:
            other.create(f"{path}/w1__lock__", ephemeral=True, sequential=True)
            info = client.lock_info(path)
            assert info.path == path
            assert [h.token for h in info.holders] == [token]
            h = info.holders[0]
            assert h.kind == "exclusive" and h.session == client.session_id and h.since_ms > 0
            assert "__lock__" in h.node and h.owner
            assert [(w.owner, w.session) for w in info.waiters] == [("w1", other.session_id)]
        # Released: the next in line is the holder now. (Asked while that
        # node exists: an empty lock directory is a container the server
        # may remove.)
        info = client.lock_info(path)
        assert [h.owner for h in info.holders] == ["w1"] and info.waiters == []
    rw = client.rwlock(f"{base}/rw")
    with rw.read:
        info = client.lock_info(f"{base}/rw")
        assert [h.kind for h in info.holders] == ["shared"] and info.waiters == []


def test_async_client_has_the_same_calls(server: coord.testing.Server, base: str) -> None:
    async def main() -> None:
        async with coord.AsyncClient(server.address, digest=("dave", "pw")) as c:
            ids = await c.whoami()
            assert any(i.startswith("digest:dave:") for i in ids)
            await c.create_with_acl(f"{base}/a", b"", acl=["auth::cdrwa"])
            acl, _ = await c.get_acl(f"{base}/a")
            assert [a.scheme for a in acl] == ["digest"]
            await c.set_quota(base, max_bytes=10)
            q = await c.get_quota(base)
            assert q.max_bytes == 10 and q.max_nodes is None
            await c.clear_quota(base)
            lock = c.lock(f"{base}/l")
            async with lock:
                info = await c.lock_info(f"{base}/l")
                assert len(info.holders) == 1 and info.holders[0].session == c.session_id

    asyncio.run(main())
