"""The command's help texts (issue 13 item 17): no raw reST backticks, a distinct description per
subcommand, help on every option, and the defaults shown."""

from __future__ import annotations

import argparse
import re

import pytest

from chainrule.cli.main import build_parser


def subparsers() -> dict[str, argparse.ArgumentParser]:
    p = build_parser()
    action = next(a for a in p._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


SUBS = sorted(subparsers())


@pytest.mark.parametrize("name", ["", *SUBS])
def test_help_has_no_rest_backticks(name: str) -> None:
    text = (subparsers()[name] if name else build_parser()).format_help()
    assert "``" not in text, text


def test_every_subcommand_has_its_own_description() -> None:
    descs = {n: p.description for n, p in subparsers().items()}
    assert all(descs.values()), descs
    assert len(set(descs.values())) == len(descs), descs


@pytest.mark.parametrize("name", SUBS)
def test_every_option_has_help(name: str) -> None:
    missing = [a.option_strings or a.dest for a in subparsers()[name]._actions
               if not a.help and not isinstance(a, argparse._HelpAction)]
    assert not missing, f"chainrule {name}: options without help: {missing}"


@pytest.mark.parametrize(("name", "flag", "shown"), [
    ("train", "--epochs", "default: 10"), ("train", "--batch-size", "default: 64"),
    ("train", "--optimizer", "default: adam"), ("train", "--seed", "default: 0"),
    ("train", "--layers", "default: 256,128"), ("evaluate", "--batch-size", "default: 256"),
    ("cost", "--budget", "default 2"), ("gradcheck", "--seed", "default: 0"),
])
def test_defaults_are_shown(name: str, flag: str, shown: str) -> None:
    text = subparsers()[name].format_help()
    entry = re.search(rf"\n  {flag}[ ,].*?(?=\n  -|\Z)", text, re.S)  # its entry in the list
    assert entry, text
    assert shown in " ".join(entry.group(0).split()), entry.group(0)
