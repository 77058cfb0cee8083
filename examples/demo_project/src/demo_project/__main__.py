"""Run the project with ``python -m demo_project``."""

from pathlib import Path

from kedro.framework.project import configure_project
from kedro.framework.session import KedroSession


def main() -> None:
    configure_project(Path(__file__).parent.name)
    with KedroSession.create(project_path=Path.cwd()) as session:
        session.run()


if __name__ == "__main__":
    main()
