"""Runs the CLI executes in-process, recorded as runs of the platform's jobs in its code location.

``execute_in_process`` records a run under the job's name but with no code location, so the UI
lists it only in the global Runs list, never on the job's page or the Overview timeline. Each run
is therefore given the origin ``dagster dev`` reports for the same job (location ``platform_assets``,
as in workspace.yaml and ``-m platform_assets``): Dagster's own ``run migrate-repository`` step.
"""

from __future__ import annotations

import sys

import dagster as dg
from dagster._core.remote_origin import (
    ManagedGrpcPythonEnvCodeLocationOrigin,
    RemoteJobOrigin,
    RemoteRepositoryOrigin,
)
from dagster._core.storage.tags import REPOSITORY_LABEL_TAG
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin

# The code location name of workspace.yaml and of `dagster dev -m platform_assets`.
CODE_LOCATION = "platform_assets"


class RunFailed(RuntimeError):
    """A run failed; the message names the job, its partition and the errors."""


def job_origin(defs: dg.Definitions, job: str) -> RemoteJobOrigin:
    """Where ``dagster dev`` finds ``job``: the repository of ``defs`` in the platform's code location."""
    location = ManagedGrpcPythonEnvCodeLocationOrigin(
        LoadableTargetOrigin(executable_path=sys.executable, module_name="platform_assets"),
        location_name=CODE_LOCATION,
    )
    return RemoteJobOrigin(RemoteRepositoryOrigin(location, defs.get_repository_def().name), job)


class JobRunner:
    """Executes the platform's jobs in-process on one instance, each run filed under its job."""

    def __init__(self, defs: dg.Definitions, instance: dg.DagsterInstance) -> None:
        self.defs, self.instance = defs, instance
        self.runs = 0

    def execute(
        self,
        job: str,
        partition: str | None = None,
        run_config: dict | None = None,
        tags: dict | None = None,
        console_level: str = "WARNING",
    ) -> dg.ExecuteInProcessResult:
        """One run of ``job`` (failures are returned, not raised). The console shows
        ``console_level`` and above; every event is still in the run's history."""
        config = {**(run_config or {}), "loggers": {"console": {"config": {"log_level": console_level}}}}
        result = self.defs.resolve_job_def(job).execute_in_process(
            instance=self.instance,
            partition_key=partition,
            run_config=config,
            tags=tags,
            raise_on_error=False,
        )
        run = self.instance.get_run_by_id(result.run_id)
        if run is not None:
            origin = job_origin(self.defs, job)
            # the UI filters a job's runs by this tag: added first (replacing the origin updates the
            # tag but cannot add it), then the origin the UI groups runs by
            label = origin.repository_origin.get_label()
            self.instance.add_run_tags(run.run_id, {REPOSITORY_LABEL_TAG: label})
            run = self.instance.get_run_by_id(run.run_id)
            self.instance.run_storage.replace_job_origin(run, origin)
        self.runs += 1
        return result

    def run(
        self, job: str, partition: str | None = None, run_config: dict | None = None, tags: dict | None = None
    ) -> dg.ExecuteInProcessResult:
        """One run of ``job`` that must succeed, else ``RunFailed`` with its step errors."""
        result = self.execute(job, partition, run_config, tags)
        if not result.success:
            errors = [
                event.event_specific_data.error.message.strip()
                for event in result.all_events
                if event.event_type == dg.DagsterEventType.STEP_FAILURE and event.event_specific_data.error
            ]
            failed_checks = [
                f"{e.asset_key.to_user_string()}:{e.check_name}"
                for e in result.get_asset_check_evaluations()
                if not e.passed
            ]
            where = job + (f" [{partition}]" if partition else "")
            raise RunFailed(f"run {where} failed: {'; '.join(errors or failed_checks) or 'see the run log'}")
        return result
