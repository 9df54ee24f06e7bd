"""Handlers change an accepted post, one small step each; pipeline.py orders them.

Each module has `handle(ctx: InFlight) -> None` and edits ctx.headers (and,
for the footer only, ctx.body) in place.
"""
