"""Code every test app would otherwise compile again: each test gets an app of its own (create_app), and each new
app compiled its ~100 URL builders and every template it rendered from scratch, about half a test's time. Here
the compiled code is kept for the run and given to every later app; each app still has its own URL map, Jinja
environment, config and state, so nothing one test does reaches another.

- Templates: a Jinja bytecode cache in memory (Jinja's own mechanism, `Environment.bytecode_cache`), keyed by
  the template's name and file and checked against its source's checksum, so an edited template is compiled
  again. Every test app's environment is made by the same create_app, with the same options.
- URL builders: werkzeug compiles a Python function for each rule of each app (`Rule._compile_builder`, an
  `ast` tree then `compile()`), made only from the rule's text, its parts and its defaults' names, and bound to
  the rule. The same rule in the next app gets the same function, bound to that app's rule.

Installed from conftest.py's pytest_configure, for the test process only (a gunicorn the tests start compiles
as in production)."""

from typing import Any

from flask import Flask
from jinja2 import BytecodeCache
from jinja2.bccache import Bucket
from werkzeug.routing import Rule


class TemplatesInMemory(BytecodeCache):
    def __init__(self) -> None:
        self.kept: dict[str, tuple[str, Any]] = {}

    def load_bytecode(self, bucket: Bucket) -> None:
        kept = self.kept.get(bucket.key)
        if kept is not None and kept[0] == bucket.checksum:
            bucket.code = kept[1]

    def dump_bytecode(self, bucket: Bucket) -> None:
        self.kept[bucket.key] = (bucket.checksum, bucket.code)

    def clear(self) -> None:
        self.kept.clear()


_BUILDERS: dict[tuple, Any] = {}


class RuleWithSharedBuilders(Rule):
    def _compile_builder(self, append_unknown: bool = True):
        defaults = self.defaults or {}
        if any(is_dynamic and part in defaults for is_dynamic, part in self._trace):
            # A default for a part of the URL is turned into text by the rule's own converter: not shared.
            return super()._compile_builder(append_unknown)
        key = (self.rule, tuple(self._trace), tuple(sorted(defaults)), append_unknown)
        builder = _BUILDERS.get(key)
        if builder is None:
            builder = _BUILDERS[key] = super()._compile_builder(append_unknown)
        return builder


def install() -> None:
    Flask.jinja_options = {**Flask.jinja_options, "bytecode_cache": TemplatesInMemory()}
    Flask.url_rule_class = RuleWithSharedBuilders
