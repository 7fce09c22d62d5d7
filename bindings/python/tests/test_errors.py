"""The exception hierarchy is the core's error table, class for class."""

from __future__ import annotations

import ast
import pathlib

import pytest

import coord
from coord import _coord


def test_every_core_error_maps_to_its_own_reachable_class():
    assert len(_coord.ERROR_TABLE) >= 20
    for code, variant, name, summary, cls_name in _coord.ERROR_TABLE:
        cls = getattr(coord, cls_name)
        assert issubclass(cls, coord.CoordError)
        assert (cls.code, cls.name) == (code, name)
        with pytest.raises(cls) as info:
            _coord.raise_error(code, "/some/path")
        assert type(info.value) is cls
        assert info.value.detail == "/some/path"
        assert str(info.value) == f"{summary}: /some/path"


def test_the_package_exports_exactly_the_table():
    exported = {n for n in coord.__all__ if isinstance(getattr(coord, n), type) and issubclass(getattr(coord, n), coord.CoordError)}
    table = {row[4] for row in _coord.ERROR_TABLE}
    assert exported == table | {"CoordError"}


def test_the_stub_declares_exactly_the_table():
    stub = pathlib.Path(coord.__file__).with_name("_coord.pyi").read_text()
    classes = {
        node.name
        for node in ast.parse(stub).body
        if isinstance(node, ast.ClassDef) and any(getattr(b, "id", "") == "CoordError" for b in node.bases)
    }
    assert classes == {row[4] for row in _coord.ERROR_TABLE}


def test_python_builtins_catch_the_matching_errors():
    assert issubclass(coord.LockTimeout, TimeoutError)
    assert issubclass(coord.OperationTimeoutError, TimeoutError)
    assert issubclass(coord.ConnectionLossError, ConnectionError)
    assert issubclass(coord.BadArgumentsError, ValueError)


def test_a_missing_node_says_which(client):
    with pytest.raises(coord.NoNodeError, match="/does/not/exist"):
        client.get("/does/not/exist")
    with pytest.raises(coord.NodeExistsError):
        client.create("/dup")
        client.create("/dup")
