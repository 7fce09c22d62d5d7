"""Service discovery, blocking and asyncio: `Discovery` / `Registration`
and `AsyncDiscovery` / `AsyncRegistration` (`Client.discovery`): register
instances, list them, pick one by a strategy. Wraps the native recipe.
"""

from __future__ import annotations

import threading
import uuid
from typing import Any, Dict, List, Optional, Tuple

from . import _coord
from ._coord import Instance


class Registration:
    """A registered service instance; `with` / `unregister()` removes it."""

    def __init__(self, core: _coord.RegistrationCore, instance: Instance) -> None:
        self._core = core
        self.instance = instance
        """The registered instance."""

    def update(self, instance: Instance) -> None:
        """Replaces the instance's data (same id)."""
        self._core.update(instance).wait()
        self.instance = instance

    @property
    def is_lost(self) -> bool:
        """True once the registration was lost with its session."""
        return bool(self._core.is_lost().wait())

    def unregister(self) -> None:
        """Removes the instance (again: no-op)."""
        self._core.unregister().wait()

    def __enter__(self) -> "Registration":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.unregister()


class Discovery:
    """Service discovery under a base path (`c.discovery()`)."""

    def __init__(self, core: _coord.DiscoveryCore) -> None:
        self._core = core
        self._providers: Dict[Tuple[str, str], _coord.ProviderCore] = {}
        self._mutex = threading.Lock()

    def register(
        self,
        name: str,
        address: str,
        port: int,
        id: Optional[str] = None,
        metadata: Optional[Dict[str, str]] = None,
    ) -> Registration:
        """Registers an instance of service `name` for the life of the session."""
        inst = Instance(id or uuid.uuid4().hex, address, port, metadata)
        return Registration(self._core.register(name, inst).wait(), inst)

    def instances(self, name: str) -> List[Instance]:
        """The registered instances of `name` (read now)."""
        return self._core.instances(name).wait()  # type: ignore[no-any-return]

    def pick(self, name: str, strategy: str = "round_robin") -> Optional[Instance]:
        """An instance of `name` by `strategy` (`"round_robin"`, `"random"`,
        `"sticky"`), or None; follows the service from the first call on."""
        with self._mutex:
            p = self._providers.get((name, strategy))
            if p is None:
                p = self._core.provider(name, strategy).wait()
                self._providers[(name, strategy)] = p
        return p.pick()

    def close(self) -> None:
        """Stops following the services `pick` looked at."""
        with self._mutex:
            providers, self._providers = list(self._providers.values()), {}
        for p in providers:
            p.close().wait()


class AsyncRegistration:
    """A registered service instance."""

    def __init__(self, core: _coord.RegistrationCore, instance: Instance) -> None:
        self._core = core
        self.instance = instance
        """The registered instance."""

    async def unregister(self) -> None:
        """Removes the instance."""
        await self._core.unregister()

    async def __aenter__(self) -> "AsyncRegistration":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.unregister()


class AsyncDiscovery:
    """Service discovery under a base path."""

    def __init__(self, core: _coord.DiscoveryCore) -> None:
        self._core = core
        self._providers: Dict[Tuple[str, str], _coord.ProviderCore] = {}

    async def register(self, name: str, address: str, port: int, id: Optional[str] = None, metadata: Optional[Dict[str, str]] = None) -> AsyncRegistration:
        """Registers an instance of service `name`."""
        inst = Instance(id or uuid.uuid4().hex, address, port, metadata)
        return AsyncRegistration(await self._core.register(name, inst), inst)

    async def instances(self, name: str) -> List[Instance]:
        """The registered instances of `name`."""
        return await self._core.instances(name)  # type: ignore[no-any-return]

    async def pick(self, name: str, strategy: str = "round_robin") -> Optional[Instance]:
        """An instance of `name` by `strategy`, or None."""
        p = self._providers.get((name, strategy))
        if p is None:
            p = await self._core.provider(name, strategy)
            self._providers[(name, strategy)] = p
        return p.pick()

    async def close(self) -> None:
        """Stops following the services `pick` looked at."""
        providers, self._providers = list(self._providers.values()), {}
        for p in providers:
            await p.close()
