"""The plugin manager: built-in and third-party plugins, loaded through the entry-point group
``tagsight``, each isolated so that one broken plugin cannot take the application down."""

from __future__ import annotations

import importlib
import logging
import os
import threading
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, Callable

import pluggy

from tagsight.engine import hookspecs

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "tagsight"
DISABLE_ENV = "TAGSIGHT_DISABLE_PLUGINS"
# Loaded even when the distribution's entry points are missing (a source checkout run in place).
BUILTIN_PLUGINS = ("glove", "word2vec", "user_backends", "vocabularies", "models", "exporters", "gui")


@dataclass
class PluginInfo:
    name: str
    version: str | None
    source: str  # "built-in" or the distribution's name
    hooks: list[str]
    error: str | None = None


@dataclass
class _State:
    manager: pluggy.PluginManager
    infos: dict[str, PluginInfo] = field(default_factory=dict)


_state: _State | None = None
_lock = threading.Lock()


def disabled_names() -> set[str]:
    return {n.strip() for n in os.environ.get(DISABLE_ENV, "").split(",") if n.strip()}


def _new_manager() -> pluggy.PluginManager:
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    return manager


def _record(state: _State, name: str, plugin: Any, version: str | None, source: str) -> None:
    """Register one plugin, or record why it could not be."""
    try:
        state.manager.register(plugin, name=name)
        state.manager.check_pending()  # a misspelt hook fails loudly, and only this plugin
    except Exception as exc:  # a broken plugin is reported and left out
        if state.manager.is_registered(plugin):
            state.manager.unregister(plugin)
        log.error("plugin %s disabled: %s", name, exc)
        state.infos[name] = PluginInfo(name, version, source, [], error=f"{type(exc).__name__}: {exc}")
        return
    hooks = sorted(h.name for h in state.manager.get_hookcallers(plugin) or [])
    state.infos[name] = PluginInfo(name, version, source, hooks)


def _load(state: _State) -> None:
    blocked = disabled_names()
    for name in blocked:
        state.manager.set_blocked(name)
    seen: set[str] = set()
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in blocked or ep.name in seen:
            continue
        seen.add(ep.name)
        dist = ep.dist.name if ep.dist else None
        builtin = ep.value.startswith("tagsight.plugins.")
        source = "built-in" if builtin else (dist or "unknown")
        version = ep.dist.version if ep.dist else None
        try:
            plugin = ep.load()
        except Exception as exc:
            log.error("plugin %s disabled: it failed to load: %s", ep.name, exc)
            state.infos[ep.name] = PluginInfo(ep.name, version, source, [], f"{type(exc).__name__}: {exc}")
            continue
        _record(state, ep.name, plugin, version, source)
    for name in BUILTIN_PLUGINS:
        if name not in seen and name not in blocked:
            from tagsight import __version__

            _record(state, name, importlib.import_module(f"tagsight.plugins.{name}"), __version__, "built-in")


def manager() -> pluggy.PluginManager:
    """The process-wide plugin manager, loaded on first use."""
    return _get_state().manager


def _get_state() -> _State:
    global _state
    with _lock:
        if _state is None:
            state = _State(_new_manager())
            _load(state)
            _state = state
        return _state


def register_plugin(plugin: Any, name: str, source: str = "test") -> None:
    """Register a plugin object by hand (tests, embedding applications)."""
    _record(_get_state(), name, plugin, None, source)


def unregister_plugin(name: str) -> None:
    state = _get_state()
    plugin = state.manager.get_plugin(name)
    if plugin is not None:
        state.manager.unregister(plugin)
    state.infos.pop(name, None)


def reset() -> None:
    """Forget every plugin; the next use loads them again (tests, and after changing the block list)."""
    global _state
    with _lock:
        _state = None


def plugin_infos() -> list[PluginInfo]:
    return sorted(_get_state().infos.values(), key=lambda i: i.name)


def collect(hook_name: str, kind: type | Callable[[Any], str | None]) -> list[tuple[str, Any]]:
    """Call a ``register_*`` hook on every plugin; returns (plugin name, registered object) pairs.

    `kind` is the type every registration must have, or a function returning why a registration is
    refused (None when it is fine). A plugin whose hook raises or registers something else is
    reported and disabled, and the others still answer.
    """
    refused = kind if not isinstance(kind, type) else _not_a(kind)
    state = _get_state()
    found: list[tuple[str, Any]] = []
    for impl in getattr(state.manager.hook, hook_name).get_hookimpls():
        items: list[Any] = []

        def register(*args: Any, _items: list[Any] = items) -> None:
            _items.append(args[0] if len(args) == 1 else args)

        try:
            impl.function(register=register)
        except Exception as exc:
            _disable(state, impl.plugin_name, f"{hook_name} raised {type(exc).__name__}: {exc}")
            continue
        problems = [reason for reason in map(refused, items) if reason is not None]
        if problems:
            _disable(state, impl.plugin_name, f"{hook_name}: {problems[0]}")
            continue
        found.extend((impl.plugin_name, item) for item in items)
    return found


def collect_by_name(
    hook_name: str, kind: type | Callable[[Any], str | None], name_of: Callable[[Any], str]
) -> dict[str, Any]:
    """What plugins registered through `hook_name`, by name; the first registration of a name wins."""
    found: dict[str, Any] = {}
    for _plugin, item in collect(hook_name, kind):
        found.setdefault(name_of(item), item)
    return found


def _not_a(kind: type) -> Callable[[Any], str | None]:
    return lambda item: None if isinstance(item, kind) else f"registered {item!r}; expected {kind.__name__}"


def _disable(state: _State, name: str, reason: str) -> None:
    log.error("plugin %s disabled: %s", name, reason)
    plugin = state.manager.get_plugin(name)
    if plugin is not None:
        state.manager.unregister(plugin)
    info = state.infos.get(name)
    if info is not None:
        info.error = reason
        info.hooks = []

