"""Shell completion scripts for the ``schedkit`` command, made from its argument parser.

``schedkit completion bash`` prints a script; ``eval "$(schedkit completion bash)"`` in
``~/.bashrc`` (``zsh``: the same line in ``~/.zshrc``; ``fish``: ``schedkit completion fish
| source``) completes subcommands, their options and, for names, the registered components.
"""

from __future__ import annotations

import argparse

SHELLS = ("bash", "zsh", "fish")


def _commands(parser: argparse.ArgumentParser) -> dict[str, list[str]]:
    """Each subcommand with its options."""
    out: dict[str, list[str]] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                out[name] = sorted(o for a in sub._actions for o in a.option_strings)
    return out


def _top_options(parser: argparse.ArgumentParser) -> list[str]:
    return sorted(o for a in parser._actions for o in a.option_strings)


def bash(parser: argparse.ArgumentParser) -> str:
    commands = _commands(parser)
    cases = "\n".join(
        f'        {name}) opts="{" ".join(opts)}" ;;' for name, opts in commands.items()
    )
    return f"""# schedkit completion for bash (and zsh with bashcompinit)
_schedkit() {{
    local cur="${{COMP_WORDS[COMP_CWORD]}}"
    if [ "$COMP_CWORD" -eq 1 ]; then
        COMPREPLY=($(compgen -W "{" ".join(commands)} {" ".join(_top_options(parser))}" -- "$cur"))
        return
    fi
    local opts=""
    case "${{COMP_WORDS[1]}}" in
{cases}
    esac
    if [[ "$cur" == -* ]]; then
        COMPREPLY=($(compgen -W "$opts" -- "$cur"))
    elif [ "${{COMP_WORDS[1]}}" = show ]; then
        COMPREPLY=($(compgen -W "$(schedkit completion --names 2>/dev/null)" -- "$cur"))
    elif [ "${{COMP_WORDS[1]}}" = completion ]; then
        COMPREPLY=($(compgen -W "{" ".join(SHELLS)}" -- "$cur"))
    else
        COMPREPLY=($(compgen -f -X '!*.toml' -- "$cur") $(compgen -d -- "$cur"))
    fi
}}
complete -o filenames -F _schedkit schedkit
"""


def zsh(parser: argparse.ArgumentParser) -> str:
    return "autoload -U +X bashcompinit && bashcompinit\n" + bash(parser)


def fish(parser: argparse.ArgumentParser) -> str:
    commands = _commands(parser)
    lines = ["# schedkit completion for fish", "complete -c schedkit -f"]
    top = " ".join(commands)
    for name in commands:
        lines.append(f"complete -c schedkit -n 'not __fish_seen_subcommand_from {top}' -a {name}")
    for name, opts in commands.items():
        for o in opts:
            if o.startswith("--"):
                lines.append(
                    f"complete -c schedkit -n '__fish_seen_subcommand_from {name}' -l {o[2:]}"
                )
        if name in ("check", "preview", "groups", "plot"):
            lines.append(
                f"complete -c schedkit -n '__fish_seen_subcommand_from {name}' "
                "-F -a '(__fish_complete_suffix .toml)'"
            )
    lines.append(
        "complete -c schedkit -n '__fish_seen_subcommand_from show' "
        "-a '(schedkit completion --names 2>/dev/null)'"
    )
    return "\n".join(lines) + "\n"


def script(shell: str, parser: argparse.ArgumentParser) -> str:
    """The completion script for ``shell``."""
    return {"bash": bash, "zsh": zsh, "fish": fish}[shell](parser)
