"""MLflowArtifactsLoggerHook: files, folders, globs and dataset files."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from kedro.io import MemoryDataset
from kedro.io.core import Version
from kedro_datasets.json import JSONDataset

from pipelinex_mlflow import MLflowArtifactsLoggerHook
from pipelinex_mlflow.hooks.artifacts import resolve_paths
from pipelinex_mlflow.kedro_helpers import dataset_local_path
from tests._kedro import artifact_paths
from tests.hooks._pipeline import failing_pipeline, inputs, only_run, run

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

    from pipelinex_mlflow import MLflowBasicLoggerHook
    from pipelinex_mlflow.hooks._credential_files import FilteredUploads


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / "conf" / "base").mkdir(parents=True)
    (root / "conf" / "base" / "parameters.yml").write_text("factor: 10\n")
    (root / "conf" / "base" / "catalog.yml").write_text("{}\n")
    (root / "logs" / "old").mkdir(parents=True)
    (root / "logs" / "info.log").write_text("info")
    (root / "logs" / "errors.log").write_text("errors")
    (root / "logs" / "old" / "past.log").write_text("past")
    (root / "README.md").write_text("readme")
    return root


class TestFilepaths:
    def test_files_folders_and_globs_with_one_warning_for_missing(
        self,
        basic_hook: MLflowBasicLoggerHook,
        client: MlflowClient,
        project: Path,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        hook = MLflowArtifactsLoggerHook(
            filepaths_before_pipeline_run=["conf/base", "README.md", "missing.txt"],
            filepaths_after_pipeline_run=["logs/**/*.log", "nothing/*.zip"],
        )
        run((basic_hook, hook), project_path=str(project))
        logged = only_run(client)
        assert logged.info.status == "FINISHED"
        assert artifact_paths(client, logged.info.run_id) == {
            "conf",
            "conf/base",
            "conf/base/parameters.yml",
            "conf/base/catalog.yml",
            "README.md",
            "logs",
            "logs/info.log",
            "logs/errors.log",
            "logs/old",
            "logs/old/past.log",
        }
        warnings = [r.message for r in caplog.records if "found nothing" in r.message]
        assert len(warnings) == 2
        assert "missing.txt" in warnings[0]
        assert "nothing/*.zip" in warnings[1]

    def test_relative_to_the_current_folder_outside_a_project(
        self,
        basic_hook: MLflowBasicLoggerHook,
        client: MlflowClient,
        project: Path,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.chdir(project)
        hook = MLflowArtifactsLoggerHook(filepaths_before_pipeline_run=["README.md"])
        run((basic_hook, hook))
        assert artifact_paths(client, only_run(client).info.run_id) == {"README.md"}

    def test_after_list_uploaded_when_the_pipeline_fails(
        self, basic_hook: MLflowBasicLoggerHook, client: MlflowClient, project: Path
    ) -> None:
        hook = MLflowArtifactsLoggerHook(
            filepaths_after_pipeline_run=["logs/errors.log"]
        )
        with pytest.raises(ValueError, match="node exploded"):
            run((basic_hook, hook), pipe=failing_pipeline(), project_path=str(project))
        logged = only_run(client)
        assert logged.info.status == "FAILED"
        assert artifact_paths(client, logged.info.run_id) == {"logs", "logs/errors.log"}

    def test_disabled(
        self, basic_hook: MLflowBasicLoggerHook, client: MlflowClient, project: Path
    ) -> None:
        hook = MLflowArtifactsLoggerHook(
            filepaths_before_pipeline_run=["README.md"], enable_mlflow=False
        )
        run((basic_hook, hook), project_path=str(project))
        assert not client.list_artifacts(only_run(client).info.run_id)


class TestDatasets:
    def test_dataset_files_after_they_are_saved(
        self,
        basic_hook: MLflowBasicLoggerHook,
        client: MlflowClient,
        tmp_path: Path,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        """Plain and versioned files go up; a dataset without a file only warns."""
        versioned = JSONDataset(
            filepath=str(tmp_path / "doubled.json"), version=Version(None, None)
        )
        datasets = inputs(
            squared=JSONDataset(filepath=str(tmp_path / "squared.json")),
            doubled=versioned,
            combined=MemoryDataset(),
        )
        hook = MLflowArtifactsLoggerHook(
            datasets_after_node_run=["squared", "doubled", "combined"]
        )
        run((basic_hook, hook), datasets=datasets)
        logged = only_run(client)
        assert logged.info.status == "FINISHED"
        assert artifact_paths(client, logged.info.run_id) == {
            "squared.json",
            "doubled.json",
        }
        assert "cannot upload dataset 'combined': it has no local file" in caplog.text

    def test_local_path_of_datasets(self, tmp_path: Path) -> None:
        assert dataset_local_path(MemoryDataset()) is None
        assert (
            dataset_local_path(JSONDataset(filepath="memory://bucket/a.json")) is None
        )
        plain = JSONDataset(filepath=str(tmp_path / "a.json"))
        assert dataset_local_path(plain) == tmp_path / "a.json"
        versioned = JSONDataset(
            filepath=str(tmp_path / "b.json"),
            version=Version(None, "2026-01-01T00.00.00.000Z"),
        )
        versioned.save({"a": 1})
        assert dataset_local_path(versioned) == (
            tmp_path / "b.json" / "2026-01-01T00.00.00.000Z" / "b.json"
        )


def test_resolve_paths_keeps_order_and_drops_duplicates(project: Path) -> None:
    found, missing = resolve_paths(
        ["README.md", "logs/*.log", str(project / "README.md"), "no/*.txt"], project
    )
    assert found == [
        project / "README.md",
        project / "logs" / "errors.log",
        project / "logs" / "info.log",
    ]
    assert missing == ["no/*.txt"]


def test_without_a_run_warns_once(
    project: Path, caplog: pytest.LogCaptureFixture
) -> None:
    hook = MLflowArtifactsLoggerHook(
        filepaths_before_pipeline_run=["README.md"],
        filepaths_after_pipeline_run=["README.md"],
    )
    run((hook,), project_path=str(project))
    warnings = [
        r for r in caplog.records if "Register MLflowBasicLoggerHook" in r.message
    ]
    assert len(warnings) == 1


def test_a_lone_string_is_one_path_not_characters() -> None:
    """``"conf/base"`` must not become ``["c", "o", ..., "/", ...]`` (uploading /)."""
    hook = MLflowArtifactsLoggerHook(
        filepaths_before_pipeline_run="conf/base",
        filepaths_after_pipeline_run=Path("logs"),
        datasets_after_node_run="model",
    )
    assert hook.filepaths_before_pipeline_run == ["conf/base"]
    assert hook.filepaths_after_pipeline_run == [Path("logs")]
    assert hook.datasets_after_node_run == ["model"]


class TestCredentialsFiles:
    """Kedro's credentials files and their kin never go up by accident."""

    @pytest.fixture
    def secret_project(self, project: Path) -> Path:
        (project / "conf" / "local").mkdir()
        (project / "conf" / "local" / "credentials.yml").write_text("db: pw-creds\n")
        (project / "conf" / "local" / "parameters.yml").write_text("factor: 2\n")
        (project / ".env").write_text("TOKEN=pw-dotenv\n")
        (project / "deploy.pem").write_text("-----BEGIN PRIVATE KEY-----\n")
        return project

    def test_left_out_of_folders_globs_and_exact_names_with_one_warning_each(
        self,
        basic_hook: MLflowBasicLoggerHook,
        client: MlflowClient,
        secret_project: Path,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        hook = MLflowArtifactsLoggerHook(
            filepaths_before_pipeline_run=["conf", "**/*.yml", ".env"],
            filepaths_after_pipeline_run=["deploy.pem"],
        )
        run((basic_hook, hook), project_path=str(secret_project))
        paths = artifact_paths(client, only_run(client).info.run_id)
        assert "conf/local/parameters.yml" in paths
        assert "conf/base/parameters.yml" in paths
        assert not {
            p for p in paths if "credentials" in p or p in (".env", "deploy.pem")
        }
        skipped = [
            r.getMessage() for r in caplog.records if "did not upload" in r.getMessage()
        ]
        assert len(skipped) == 2  # before and after the pipeline
        assert "conf/local/credentials.yml" in skipped[0]
        assert ".env" in skipped[0]
        assert "deploy.pem" in skipped[1]
        assert "allow_credentials_files argument to True" in skipped[0]

    def test_opt_in_uploads_only_the_files_named_exactly(
        self,
        basic_hook: MLflowBasicLoggerHook,
        client: MlflowClient,
        secret_project: Path,
    ) -> None:
        hook = MLflowArtifactsLoggerHook(
            filepaths_before_pipeline_run=["conf/local/credentials.yml", "*.pem", "."],
            allow_credentials_files=True,
        )
        run((basic_hook, hook), project_path=str(secret_project))
        paths = artifact_paths(client, only_run(client).info.run_id)
        assert "conf/local/credentials.yml" in paths
        # A glob and a folder still leave them out.
        assert "deploy.pem" not in paths
        assert not any(p.endswith(".env") for p in paths)

    def test_the_opt_in_must_be_a_bool(self) -> None:
        with pytest.raises(ValueError, match="allow_credentials_files"):
            MLflowArtifactsLoggerHook(allow_credentials_files="yes")  # type: ignore[arg-type]


def _partitions() -> dict[str, dict[str, str]]:
    return {"credentials": {"password": "pw-partition"}, "report": {"a": "1"}}


def test_a_folder_dataset_goes_up_without_its_credentials_files(
    basic_hook: MLflowBasicLoggerHook,
    client: MlflowClient,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from kedro.io import DataCatalog
    from kedro.pipeline import Pipeline, node
    from kedro_datasets.partitions import PartitionedDataset

    from tests._kedro import run_with_hooks

    parts = PartitionedDataset(
        path=str(tmp_path / "parts"),
        dataset="json.JSONDataset",
        filename_suffix=".json",
    )
    hook = MLflowArtifactsLoggerHook(datasets_after_node_run=["parts"])
    run_with_hooks(
        Pipeline([node(_partitions, None, "parts", name="write")]),
        DataCatalog({"parts": parts}),
        (basic_hook, hook),
        project_path=str(tmp_path),
    )
    paths = artifact_paths(client, only_run(client).info.run_id)
    assert "parts/report.json" in paths
    assert not [p for p in paths if "credentials" in p]
    assert "parts/credentials.json" in caplog.text


_CREDENTIAL_CONTENTS = {
    "gcp.json": (
        '{"type": "service_account", "private_key_id": "k1", '
        '"private_key": "-----BEGIN PRIVATE KEY-----\\nMII\\n"}'
    ),
    "adc.json": '{"type": "authorized_user", "refresh_token": "1//x", "client_id": "c"}',
    "deploy_id": "-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn\n",
    "server.crt.bak": "-----BEGIN RSA PRIVATE KEY-----\nMIIE\n",
    "putty.txt": "PuTTY-User-Key-File-3: ssh-ed25519\n",
    "aws_profile.ini": "[default]\naws_secret_access_key = abc\n",
    "machines": "machine api.example.com login bob password pw\n",
    "cluster.yaml": "apiVersion: v1\nkind: Config\nusers:\n- user:\n    token: t\n",
    "docker.json": '{"auths": {"ghcr.io": {"auth": "Ym9iOnB3"}}}',
}
_ORDINARY_CONTENTS = {
    "parameters.yml": "lr: 0.1\nprivate_key_path: ${oc.env:KEY}\n",
    "catalog.yml": "raw:\n  type: pandas.CSVDataset\n  filepath: data/raw.csv\n",
    "users.csv": "name,password_hash\nbob,abc\n",
    "service.json": '{"type": "service", "name": "api"}',
    "cert.crt": "-----BEGIN CERTIFICATE-----\nMIIB\n",
    "notes.md": "Use `kind: Config` with a token: see the wiki.\n",
    "defaults.yml": "default:\n  password_length: 12\n",
    "aws.yml": "s3:\n  aws_secret_access_key: ${oc.env:AWS_SECRET}\n",
}


class TestCredentialsByContentAndEnvironment:
    """Credentials files under innocent names, and the files variables name."""

    @pytest.mark.parametrize("name", sorted(_CREDENTIAL_CONTENTS))
    def test_recognised_by_content(self, tmp_path: Path, name: str) -> None:
        from pipelinex_mlflow.hooks._credential_files import credentials_content

        path = tmp_path / name
        path.write_text(_CREDENTIAL_CONTENTS[name])
        assert credentials_content(path) is not None

    @pytest.mark.parametrize("name", sorted(_ORDINARY_CONTENTS))
    def test_ordinary_files_are_not(self, tmp_path: Path, name: str) -> None:
        from pipelinex_mlflow.hooks._credential_files import credentials_content

        path = tmp_path / name
        path.write_text(_ORDINARY_CONTENTS[name])
        assert credentials_content(path) is None

    def test_a_file_a_variable_names_never_goes_up_even_named_and_allowed(
        self, tmp_path: Path
    ) -> None:
        from pipelinex_mlflow.hooks._credential_files import filter_uploads

        opaque = tmp_path / "conf" / "token.txt"
        opaque.parent.mkdir()
        opaque.write_text("opaque")
        kube = tmp_path / "kube"
        kube.write_text("opaque too")
        named = tmp_path / "conf" / "named.txt"
        named.write_text("opaque three")
        environ = {
            "VAULT_TOKEN_FILE": str(opaque),
            "KUBECONFIG": f"/no/such/file{os.pathsep}{kube}",
            "MY_SECRET": str(named),
            "HOME": str(tmp_path),
        }
        explicit = {opaque, kube, named}
        filtered = filter_uploads(
            [*explicit, opaque.parent],
            explicit,
            allow_credentials=True,
            environ=environ,
        )
        # The folder went up as a copy without them; no file went up alone.
        (copy,) = filtered.uploads
        assert copy.source == opaque.parent
        assert sorted(p.name for p in copy.local.iterdir()) == []
        _clean(filtered)
        assert set(filtered.skipped) == {opaque, kube, named}
        assert filtered.reasons[kube] == "$KUBECONFIG names it"
        assert filtered.reasons[opaque] == "$VAULT_TOKEN_FILE names it"
        assert filtered.reasons[named] == "$MY_SECRET names it"

    def test_a_hard_link_or_copy_of_a_file_a_variable_names_stays_home(
        self, tmp_path: Path
    ) -> None:
        from pipelinex_mlflow.hooks._credential_files import filter_uploads

        token = tmp_path / "vault" / "token"
        token.parent.mkdir()
        token.write_text("s.opaque-vault-token")
        conf = tmp_path / "conf"
        conf.mkdir()
        linked = conf / "linked.txt"
        os.link(token, linked)
        copied = conf / "copied.txt"
        copied.write_text(token.read_text())
        (conf / "empty.txt").write_text("")
        (conf / "other.txt").write_text("s.opaque-vault-tokeN")
        filtered = filter_uploads(
            [conf],
            set(),
            allow_credentials=False,
            environ={"VAULT_TOKEN_FILE": str(token)},
        )
        (copy,) = filtered.uploads
        assert sorted(p.name for p in copy.local.iterdir()) == [
            "empty.txt",
            "other.txt",
        ]
        _clean(filtered)
        assert filtered.reasons == {
            linked: "$VAULT_TOKEN_FILE names it",
            copied: "$VAULT_TOKEN_FILE names it",
        }

    def test_content_recognised_files_go_up_only_named_and_allowed(
        self, tmp_path: Path
    ) -> None:
        from pipelinex_mlflow.hooks._credential_files import filter_uploads

        key = tmp_path / "deploy_id"
        key.write_text(_CREDENTIAL_CONTENTS["deploy_id"])
        refused = filter_uploads([key], set(), allow_credentials=True, environ={})
        assert (refused.skipped, refused.reasons) == ([key], {key: "a private key"})
        allowed = filter_uploads([key], {key}, allow_credentials=True, environ={})
        assert [u.local for u in allowed.uploads] == [key]

    def test_configuration_goes_up_masked_and_the_files_stay_as_they_were(
        self, tmp_path: Path
    ) -> None:
        from pipelinex_mlflow.hooks._credential_files import filter_uploads

        conf = tmp_path / "conf"
        conf.mkdir()
        catalog = conf / "catalog.yml"
        text = "db:\n  con: postgresql://u:pw-cat@h/db\n  url: https://h/x?a=1&sig=s1\n"
        catalog.write_text(text)
        (conf / "plain.yml").write_text("lr: 0.1\n")
        # A link in the folder: its masked copy must not write through to the target.
        target = tmp_path / "elsewhere.yml"
        target.write_text("password: pw-link\n")
        (conf / "linked.yml").symlink_to(target)
        filtered = filter_uploads(
            [conf, catalog],
            {catalog},
            allow_credentials=False,
            mask_config_files=True,
            environ={},
        )
        copies = {u.local.name: u.local for u in filtered.uploads}
        folder, single = copies["conf"], copies["catalog.yml"]
        for masked in (folder / "catalog.yml", single):
            assert masked.read_text() == (
                "db:\n  con: postgresql://u:*****@h/db\n  url: https://h/x?a=1&sig=*****\n"
            )
        assert (folder / "linked.yml").read_text() == "password: *****\n"
        assert (folder / "plain.yml").read_text() == "lr: 0.1\n"
        assert catalog.read_text() == text
        assert target.read_text() == "password: pw-link\n"
        assert sorted(filtered.masked) == sorted(
            [catalog, conf / "linked.yml", catalog]
        )
        _clean(filtered)


def _clean(filtered: FilteredUploads) -> None:
    """Remove the temporary copies, as the upload does once it is done."""
    for upload in filtered.uploads:
        if isinstance(upload.keep_alive, tempfile.TemporaryDirectory):
            upload.keep_alive.cleanup()
