"""A TraceQL-compatible query language: parser, evaluation, and the engine backends plug into.

``parse`` turns text into ``ast.Query``; ``evaluate`` holds the one definition of what a
query means over a trace; ``engine`` runs searches and metrics over any storage that can
list candidate spans (see ``spyglass.storage.api.traceql``). The language is described in
docs/query-language.md.
"""

from spyglass.traceql import ast
from spyglass.traceql.parser import TraceQLError, parse

__all__ = ["TraceQLError", "ast", "parse"]
