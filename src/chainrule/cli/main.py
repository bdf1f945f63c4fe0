"""The ``chainrule`` command: ``train``, ``evaluate``, ``predict``, ``export``, ... (one module
each).

    chainrule train                        # an MLP on the bundled digits, a few seconds
    chainrule evaluate runs/digits/model.ckpt
    chainrule predict runs/digits/model.ckpt samples.npz

A bad argument or file gives one line on stderr, ``chainrule: error: ...``, and exit status 2;
a failure while running gives one such line and status 1; never a traceback, unless
``CHAINRULE_DEBUG=1`` is set.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any, NoReturn

from chainrule.cli import cost, evaluate, explain, export, gradcheck, plot_cmd, predict, train
from chainrule.cli import reproduce as reproduce_cmd
from chainrule.cli.common import CLIError, one_line

PROG = "chainrule"


def plain(text: str | None) -> str | None:
    """Docstring text for a terminal: reST's ``code`` marks become plain `code`."""
    return None if text is None else text.replace("``", "`")


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Descriptions as written (their examples keep their lines), and each option's default
    appended to its help unless the help already states it (or there is none to state)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        d = action.default
        if ("default" in text or "%(default)" in text or d is None or d is False
                or d is argparse.SUPPRESS or not action.option_strings):
            return text
        return f"{text} (default: %(default)s)"


class Parser(argparse.ArgumentParser):
    """argparse, with its usage errors on one line (``chainrule: error: ...``), help text free
    of reST markup and defaults shown."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["description"] = plain(kwargs.get("description"))
        kwargs["epilog"] = plain(kwargs.get("epilog"))
        kwargs.setdefault("formatter_class", HelpFormatter)
        if kwargs["formatter_class"] is argparse.RawDescriptionHelpFormatter:
            kwargs["formatter_class"] = HelpFormatter
        super().__init__(*args, **kwargs)

    def add_argument(self, *args: Any, **kwargs: Any) -> argparse.Action:
        if isinstance(kwargs.get("help"), str):
            kwargs["help"] = plain(kwargs["help"])
        return super().add_argument(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        sub = self.prog.removeprefix(PROG).strip()
        where = f" {sub}" if sub else ""
        self.exit(2, f"{PROG}: error: {one_line(message)} (see `{PROG}{where} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    from chainrule import __version__

    p = Parser(prog=PROG, description="Train, evaluate and run small neural networks with "
               "chainrule.", epilog="`chainrule COMMAND --help` lists a command's options.")
    p.add_argument("--version", action="version", version=f"chainrule {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for mod in (train, evaluate, predict, plot_cmd, gradcheck, cost, explain, export,
                reproduce_cmd):
        mod.add_parser(sub)
    return p


def _fail(message: str, code: int) -> int:
    print(f"{PROG}: error: {one_line(message)}", file=sys.stderr, flush=True)
    return code


def main(argv: list[str] | None = None) -> int:
    """Run the command line ``argv`` (default ``sys.argv[1:]``); return the exit status."""
    parser = build_parser()
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if getattr(args, "run", None) is None:
        parser.print_help(sys.stderr)
        return 2
    debug = os.environ.get("CHAINRULE_DEBUG", "") not in ("", "0")
    try:
        return int(args.run(args) or 0)
    except CLIError as e:
        return _fail(str(e), 2)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `chainrule predict ... | head`
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except MemoryError:
        return _fail("out of memory (try a smaller --batch-size, --layers or --limit)", 1)
    except Exception as e:
        if debug:
            raise
        return _fail(f"{type(e).__name__}: {e} (run with CHAINRULE_DEBUG=1 for the traceback)", 1)


if __name__ == "__main__":
    sys.exit(main())
