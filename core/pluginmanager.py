"""Plugin manager factory: built-in and third-party plugins, loaded alike.

(Named pluginmanager, not plugins: ``qrdr.plugins`` is the package of the built-in plugins.)

Plugins are entry points in three groups; qrdr's own plugins are entry points
of qrdr's distribution in the very same groups:

``qrdr.exchange``
    one per Exchange version (built in: ``exchange2000``, ``exchange2003``; any third
    party's too); chosen with ``--plugin``, default ``exchange<version>``.
``qrdr.snap``
    one per snap engine (``qsnap``, ``vss``); chosen with ``--snap``.
``qrdr.addons``
    anything else; loaded when the site config lists it in ``plugins = [...]``.

Only the named plugins are loaded, never a whole group. Every call of
:func:`make_plugin_manager` returns a fresh manager: nothing is global, so an
embedding program can run several sites side by side.
"""

from __future__ import annotations

from importlib import metadata
from typing import Any, Iterable

import attrs
import pluggy

from . import hookspecs
from .errors import PluginError, QrdrError

GROUPS = {
    "exchange": "qrdr.exchange",
    "snap": "qrdr.snap",
    "addon": "qrdr.addons",
}


@attrs.frozen
class ConfigSection:
    """What a plugin's ``qrdr_config_section`` returns: its section name and attrs class."""

    name: str
    model: type


@attrs.frozen
class LoadedPlugin:
    name: str
    kind: str
    distribution: str | None
    module: Any


def installed(kind: str) -> list[str]:
    """Names of the installed plugins of a kind ("exchange", "snap", "addon"), sorted."""
    return sorted({ep.name for ep in metadata.entry_points(group=GROUPS[kind])})


def _entry_point(kind: str, name: str) -> metadata.EntryPoint:
    matches = [ep for ep in metadata.entry_points(group=GROUPS[kind]) if ep.name == name]
    if not matches:
        names = ", ".join(installed(kind)) or "none"
        raise PluginError(f"no {kind} plugin named {name!r} is installed (installed: {names})")
    if len(matches) > 1:
        owners = ", ".join(sorted(ep.dist.name if ep.dist else "?" for ep in matches))
        raise PluginError(f"{kind} plugin {name!r} is provided by more than one distribution: {owners}")
    return matches[0]


def load_plugin(kind: str, name: str) -> LoadedPlugin:
    """Import one plugin by entry point name; errors name the distribution and the reason."""
    entry_point = _entry_point(kind, name)
    distribution = entry_point.dist.name if entry_point.dist else None
    try:
        module = entry_point.load()
    except Exception as exc:  # any import-time failure of third-party code
        raise PluginError(
            f"{kind} plugin {name!r} from distribution {distribution or 'unknown'} failed to import: "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    return LoadedPlugin(name=name, kind=kind, distribution=distribution, module=module)


def make_plugin_manager(
    *,
    exchange: str | None,
    snap: str | None,
    addons: Iterable[str] = (),
    extra_objects: Iterable[tuple[str, Any]] = (),
) -> tuple[pluggy.PluginManager, list[LoadedPlugin]]:
    """A fresh plugin manager with exactly the named plugins registered.

    ``extra_objects`` registers in-process plugin objects under a name (for
    embedders and tests); they are treated exactly like loaded plugins.
    """
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    loaded: list[LoadedPlugin] = []
    wanted = [("exchange", exchange), ("snap", snap)] + [("addon", name) for name in addons]
    for kind, name in wanted:
        if name is None:
            continue
        plugin = load_plugin(kind, name)
        _register(manager, plugin.name, plugin.module, plugin.distribution)
        loaded.append(plugin)
    for name, obj in extra_objects:
        _register(manager, name, obj, None)
        loaded.append(LoadedPlugin(name=name, kind="addon", distribution=None, module=obj))
    return manager, loaded


def _register(manager: pluggy.PluginManager, name: str, obj: Any, distribution: str | None) -> None:
    if manager.has_plugin(name):
        raise PluginError(f"two plugins are named {name!r}; plugin names must be unique")
    try:
        manager.register(obj, name=name)
    except pluggy.PluginValidationError as exc:
        raise PluginError(f"plugin {name!r} ({distribution or 'in-process'}) is invalid: {exc}") from exc
    # A hook-named function without @hookimpl would otherwise be silently ignored.
    unmarked = sorted(attr for attr in dir(obj) if attr.startswith(f"{hookspecs.PROJECT}_")
                      and callable(getattr(obj, attr, None)) and manager.parse_hookimpl_opts(obj, attr) is None)
    if unmarked:
        manager.unregister(obj)
        raise PluginError(f"plugin {name!r} ({distribution or 'in-process'}) defines {', '.join(unmarked)} "
                          "without @hookimpl (from qrdr.hookspecs import hookimpl); it would never be called")
    # A misspelt hook name would otherwise be silently ignored.
    try:
        manager.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginError(f"plugin {name!r} ({distribution or 'in-process'}) implements an unknown hook: {exc}") from exc


def call_each(manager: pluggy.PluginManager, hook_name: str, **kwargs: Any) -> list[tuple[str, Any]]:
    """Call every implementation of a hook, returning ``(plugin name, result)`` pairs.

    pluggy's own call returns results without saying who sent which; the
    engine needs that to name the plugin behind a bad step or a duplicate id.
    Implementations receive only the arguments they name, as with pluggy.
    An implementation raising anything but a :class:`~qrdr.errors.QrdrError` is a bug in that
    plugin: :class:`PluginError` naming the plugin and the hook, the exception as its cause.
    """
    caller = getattr(manager.hook, hook_name)
    results = []
    # get_hookimpls() is in registration order; pluggy calls in reverse (LIFO), keep that.
    for impl in reversed(caller.get_hookimpls()):
        args = {name: kwargs[name] for name in impl.argnames}
        try:
            result = impl.function(**args)
        except QrdrError:
            raise  # the plugin says what is wrong in qrdr's own terms (a secret it cannot resolve, ...)
        except Exception as exc:  # a bug in the plugin: name it and the hook; the CLI logs the traceback
            raise PluginError(f"plugin {impl.plugin_name!r} failed in {hook_name}: {type(exc).__name__}: {exc}") from exc
        results.append((impl.plugin_name, result))
    return results
