"""`koxbot links`: the post links in lines of text, one JSON object per link.

Handy for ops checking a spreadsheet column of links, and for tests: it runs the same
extractor the bot runs on a submission (:mod:`bot.domain.links`), with no database and
no network.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Annotated, Any, TextIO

import typer

from bot.domain.links import find_links


def link_records(lines: Iterable[str], include_all: bool = False) -> Iterator[dict[str, Any]]:
    """One record per post link (per link of any kind with ``include_all``), by input line."""
    for number, line in enumerate(lines, start=1):
        for link in find_links(line):
            if link.kind != "post" and not include_all:
                continue
            record: dict[str, Any] = {
                "line": number,
                "platform": link.platform,
                "url": link.url,
                "canonical_url": link.canonical_url,
                "post_id": link.post_id,
                "short": link.short,
            }
            if include_all:
                record["kind"] = link.kind
            yield record


def _lines(stream: TextIO) -> Iterator[str]:
    for line in stream:
        yield line.rstrip("\r\n")


def links(
    file: Annotated[
        Path | None,
        typer.Argument(help="a text file to read (default: standard input; '-' too)"),
    ] = None,
    all_links: Annotated[
        bool,
        typer.Option("--all", help="also print profile, home, search and unknown links"),
    ] = False,
) -> None:
    """Print each post link found in the input as a JSON line: line, platform, url,
    canonical_url, post_id, short (with --all also non-post links, with a kind)."""
    if file is None or str(file) == "-":
        # undecodable bytes become U+FFFD instead of stopping the run
        stream: TextIO = open(  # noqa: SIM115 - closed below
            sys.stdin.fileno(), encoding="utf-8-sig", errors="replace", closefd=False
        )
    else:
        try:
            stream = file.open(encoding="utf-8-sig", errors="replace")
        except OSError as exc:
            typer.echo(f"links: cannot read {file}: {exc.strerror}", err=True)
            raise typer.Exit(2) from None
    with stream:
        for record in link_records(_lines(stream), all_links):
            typer.echo(json.dumps(record, ensure_ascii=False))
