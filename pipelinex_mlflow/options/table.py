"""The README's table of options, printed from the options models.

``python -m pipelinex_mlflow.options.table`` prints it; a test checks that the
README holds exactly this table.

Examples:
    >>> print(options_table().splitlines()[2])
    | `MLflowBasicLoggerHook` | `uri` | `server.mlflow_tracking_uri` | `None` |
"""

from __future__ import annotations

from pipelinex_mlflow.options import ALL_OPTIONS


def options_table() -> str:
    """Every hook option, the ``mlflow.yml`` keys that set it, and its default."""
    rows = [
        "| hook | argument | `mlflow.yml` key | default |",
        "| --- | --- | --- | --- |",
    ]
    for options in ALL_OPTIONS:
        keys: dict[str, list[str]] = {}
        for key in options.yml_keys():
            shown = ".".join(key.path)
            keys.setdefault(key.option, []).append(
                f"`{shown}` (negated)" if key.negated else f"`{shown}`"
            )
        for name, field in options.model_fields.items():
            default = field.get_default(call_default_factory=True)
            shown_default = getattr(default, "__name__", None) or repr(default)
            in_yml = ", ".join(keys.get(name, [])) or "(constructor only)"
            rows.append(
                f"| `{options.hook}` | `{name}` | {in_yml} | `{shown_default}` |"
            )
    return "\n".join(rows) + "\n"


if __name__ == "__main__":  # pragma: no cover - a command for the README's editor
    print(options_table(), end="")  # noqa: T201
