"""The file formats of ``MLflowDataSet``: each dataset code's Kedro dataset and file."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from typing import Any

from kedro.io import DatasetError


@dataclass(frozen=True)
class ArtifactFormat:
    """How one file code of ``MLflowDataSet`` is written and read.

    Attributes:
        dataset_type: The kedro-datasets type that writes and reads the file.
        suffix: The file name's extension.
        needs: Modules the dataset imports, checked when the catalog is built.
        extra: The ``pipelinex-mlflow`` extra that installs ``needs``.
        config: Arguments for the dataset besides ``filepath``.
        load_type: The dataset that reads the file back, when the writer cannot.
    """

    dataset_type: str
    suffix: str
    needs: tuple[str, ...] = ()
    extra: str | None = None
    config: dict[str, Any] = field(default_factory=dict)
    load_type: str | None = None


_IMAGE = ArtifactFormat("pillow.ImageDataset", "png", ("PIL",), "image")
_EXCEL = ArtifactFormat("pandas.ExcelDataset", "xlsx", ("openpyxl",), "xls")
_PICKLE = ArtifactFormat("pickle.PickleDataset", "pkl")
_TEXT = ArtifactFormat("text.TextDataset", "txt")
_YAML = ArtifactFormat("yaml.YAMLDataset", "yml", ("yaml",), "yaml")

#: Dataset code -> format. Read-only: each dataset copies what it uses.
ARTIFACT_FORMATS: dict[str, ArtifactFormat] = {
    "json": ArtifactFormat("json.JSONDataset", "json"),
    "csv": ArtifactFormat("pandas.CSVDataset", "csv"),
    # openpyxl writes the xlsx format, so the file says so whatever the code.
    "xls": _EXCEL,
    "xlsx": _EXCEL,
    "parquet": ArtifactFormat(
        "pandas.ParquetDataset", "parquet", ("pyarrow",), "parquet"
    ),
    "feather": ArtifactFormat(
        "pandas.FeatherDataset", "feather", ("pyarrow",), "parquet"
    ),
    "png": _IMAGE,
    "img": _IMAGE,
    "jpg": ArtifactFormat("pillow.ImageDataset", "jpg", ("PIL",), "image"),
    "jpeg": ArtifactFormat("pillow.ImageDataset", "jpeg", ("PIL",), "image"),
    "svg": ArtifactFormat(
        "matplotlib.MatplotlibDataset",
        "svg",
        ("matplotlib",),
        "matplotlib",
        load_type="text.TextDataset",
    ),
    "pdf": ArtifactFormat(
        "matplotlib.MatplotlibDataset", "pdf", ("matplotlib",), "matplotlib"
    ),
    "pkl": _PICKLE,
    "pickle": _PICKLE,
    "txt": _TEXT,
    "md": ArtifactFormat("text.TextDataset", "md"),
    "yml": _YAML,
    "yaml": ArtifactFormat("yaml.YAMLDataset", "yaml", ("yaml",), "yaml"),
    # Plotly's JavaScript is inlined so the page renders in the MLflow UI offline.
    "html": ArtifactFormat(
        "plotly.HTMLDataset",
        "html",
        ("plotly",),
        None,
        {"save_args": {"include_plotlyjs": True, "full_html": True}},
        load_type="text.TextDataset",
    ),
}

#: Writers used instead when the data is a matplotlib figure (``png``, ``jpg``...).
MATPLOTLIB_TYPE = "matplotlib.MatplotlibDataset"


def check_installed(code: str) -> None:
    """Fail when the catalog is built if the format's optional dependency is missing.

    Raises:
        DatasetError: Naming the missing module and the exact ``pip install``.
    """
    fmt = ARTIFACT_FORMATS[code]
    missing = [m for m in fmt.needs if not _importable(m)]
    if missing:
        extra = fmt.extra or "all"
        raise DatasetError(
            f"MLflowDataSet(dataset={code!r}) needs {', '.join(missing)}, which is not "
            f'installed. Install it with: pip install "pipelinex-mlflow[{extra}]"'
        )


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        # ValueError: the module was blocked or half-imported (sys.modules[m] is None).
        return False


def is_matplotlib_figure(data: Any) -> bool:
    """Tell whether ``data`` is a matplotlib figure, without importing matplotlib."""
    return any(
        cls.__module__.startswith("matplotlib.") and cls.__name__ == "Figure"
        for cls in type(data).__mro__
    )


def is_plotly_figure(data: Any) -> bool:
    """Tell whether ``data`` is a plotly figure, without importing plotly."""
    return any(
        cls.__module__.startswith("plotly.") and cls.__name__ == "BaseFigure"
        for cls in type(data).__mro__
    )
