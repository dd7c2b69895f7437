"""One restore drill, pure of pytest: find the backup, restore it somewhere ephemeral, check it.

:func:`run_drill` never raises for a bad backup or an unusable server: it returns a
:class:`DrillResult` whose verdict is FAIL or ERROR with the cause in words. On SIGTERM or
Ctrl-C (a KeyboardInterrupt) it cleans up and raises :class:`DrillAborted` carrying the
result. Cleanup (drop the database, stop the throwaway server, delete every temporary file)
runs in a ``finally`` whatever happened.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from ...target.stack import run_command
from .checks import (
    CheckResult,
    CheckVerdict,
    TableEvidence,
    Tables,
    judge_slo,
    judge_sql,
    unchecked,
)
from .databases import PostgresDatabase, RestoredDatabase, SqliteDatabase, restore_sqlite
from .discover import find_backup
from .errors import DrillAborted, DrillError, DrillFailure
from .inspect import inspect_backup
from .manifest import MANIFEST_MARK, ManifestError, manifest_slos, read_manifest
from .pg_tools import restore_postgres
from .result import DrillResult
from .spec import age_slo, spec_secrets
from .target import PostgresTarget

if TYPE_CHECKING:
    from collections.abc import Callable

    from ...slo.grammar import SLO
    from .endpoint import Endpoint
    from .pg_tools import RestoreRun
    from .spec import DrillSpec

__all__ = ["run_drill"]


def _masker(secrets: list[str], redact: Callable[[str], str] | None) -> Callable[[str], str]:
    def scrub(text: str) -> str:
        for secret in sorted(set(secrets), key=len, reverse=True):
            if len(secret) >= 4:
                text = text.replace(secret, "[REDACTED]")
        return redact(text) if redact is not None else text

    return scrub


class _Drill:
    """The state of one run, so the ``finally`` knows what to clean up."""

    def __init__(self, spec: DrillSpec, redact: Callable[[str], str] | None,
                 on_event: Callable[[str], None] | None) -> None:  # fmt: skip
        self.spec = spec
        self.result = DrillResult(secrets=spec_secrets(spec))
        self.scrub = _masker(self.result.secrets, redact)
        self.on_event = on_event
        self.target: PostgresTarget | None = None
        self.database: RestoredDatabase | None = None
        self.workdir: Path | None = None
        self.manifest: dict[str, int] = {}
        self.slos: list[SLO] = []
        self.sql_judged: list[CheckResult] = []

    def note(self, message: str) -> None:
        if self.on_event is not None:
            self.on_event(self.scrub(message))

    def add_unchecked(self) -> None:
        """List every expectation the drill stopped before, as an error row."""
        judged = {id(c.slo_result.slo) for c in self.result.checks if c.slo_result is not None}
        why = "the drill stopped before it (see the drill's reason)"
        self.result.checks.extend(unchecked(s, why) for s in self.slos if id(s) not in judged)
        self.result.checks.extend(
            CheckResult(c.name or f"sql: {c.query[:80]}", "error", f"not checked: {why}")
            for c in self.spec.sql_checks[len(self.sql_judged) :]
        )
        if self.spec.then and not any(c.name.startswith("then") for c in self.result.checks):
            self.result.checks.append(CheckResult("then", "error", f"not run: {why}"))

    def expectations(self) -> list[SLO]:
        slos = list(self.spec.expectations)
        if self.spec.max_age_s is not None:
            slos.append(age_slo(self.spec.max_age_s))
        if self.spec.manifest is not None:
            self.manifest = read_manifest(self.spec.manifest)
            slos.extend(manifest_slos(self.manifest, self.spec.manifest_tolerance))
        return slos

    def manifest_words(self, slo: SLO) -> str:
        """``; the manifest says 1000 at backup time (5 % tolerance)`` for manifest rows."""
        if slo.text.endswith(MANIFEST_MARK) and slo.scope in self.manifest:
            tolerance = f"{self.spec.manifest_tolerance * 100:g} %"
            expected = self.manifest[slo.scope]
            return f"; the manifest says {expected} at backup time ({tolerance} tolerance)"
        return ""

    def run(self) -> None:
        spec, result = self.spec, self.result
        slos = self.slos = self.expectations()  # a bad manifest stops the drill early
        candidate = find_backup(spec.source)
        result.backup_time, result.backup_time_source = candidate.time, candidate.source
        self.note(f"backup {candidate.path} (time from its {candidate.source})")
        info = inspect_backup(candidate.path)
        result.backup = info
        self.workdir = Path(tempfile.mkdtemp(prefix="opsgate-restore-work-"))
        if info.format == "sqlite":
            result.target = "throwaway SQLite copy"
            self.note("copying the SQLite backup and checking its integrity")
            copy, run = restore_sqlite(info, self.workdir, timeout_s=spec.timeout_s)
            self._after_restore(
                run,
                slos,
                lambda: SqliteDatabase(copy, statement_timeout_s=spec.check_timeout_s),
                None,
            )
            return
        self.target = PostgresTarget(
            spec.dsn, bindir=spec.bindir, start_timeout_s=spec.start_timeout_s
        )
        endpoint = self.target.open(self.note)
        result.secrets.extend(self.target.secrets)
        result.target, result.database = self.target.description, self.target.database
        assert self.target.tools is not None
        self.note(f"restoring {info.format_label} into {result.database}")
        run = restore_postgres(
            info, endpoint, self.target.tools, timeout_s=spec.timeout_s, workdir=self.workdir
        )

        def connect() -> RestoredDatabase:
            return PostgresDatabase(
                endpoint.connect(autocommit=False), statement_timeout_s=spec.check_timeout_s
            )

        self._after_restore(run, slos, connect, endpoint)

    def _after_restore(
        self,
        run: RestoreRun,
        slos: list[SLO],
        connect: Callable[[], RestoredDatabase],
        endpoint: Endpoint | None,
    ) -> None:
        result = self.result
        result.restore_tool, result.restore_time_s = run.tool, run.duration_s
        result.tool_output = self.scrub(run.stderr[-8192:])
        verdict: CheckVerdict = "passed" if run.ok else "failed"
        words = (
            run.problem
            or f"{run.tool} finished in {run.duration_s:.1f} s with zero errors reported"
        )
        result.checks.append(CheckResult(f"restore with {run.tool}", verdict, self.scrub(words)))
        if not run.ok:
            return  # nothing restored is worth checking; the FAIL names the tool's problem
        self.note("checking the restored data")
        self.database = connect()
        try:
            tables = Tables(self.database)
        except Exception as error:  # the restored database cannot even be listed
            raise DrillError(f"listing the restored tables failed: {error}") from None
        if not any(slo.statistic == "tables" for slo in slos):
            found = len(tables.names)
            verdict = "passed" if found else "failed"
            why = (
                f"{found} tables restored"
                if found
                else "the restore holds no tables (an empty dump?)"
            )
            result.checks.append(CheckResult("restored database has tables", verdict, why))
        now = datetime.now(timezone.utc)
        assert result.backup_time is not None
        result.backup_age_s = max(0.0, (now - result.backup_time).total_seconds())
        for slo in slos:
            check = judge_slo(
                slo, tables, backup_time=result.backup_time, restore_s=run.duration_s, now=now
            )
            check.reason = self.scrub(check.reason + self.manifest_words(slo))
            result.checks.append(check)
        for sql_check in self.spec.sql_checks:
            check = judge_sql(sql_check, self.database)
            check.reason = self.scrub(check.reason)
            result.checks.append(check)
            self.sql_judged.append(check)
        result.tables = self._table_evidence(tables, slos)
        if self.spec.then and endpoint is not None:
            self._run_then(endpoint)
        elif self.spec.then:
            result.checks.append(
                CheckResult(
                    "then",
                    "error",
                    "--gate-restore-then needs a Postgres backup (it gets DATABASE_URL)",
                )
            )

    def _table_evidence(self, tables: Tables, slos: list[SLO]) -> list[TableEvidence]:
        manifest = self.manifest
        evidence = {name: TableEvidence(name, None) for name in tables.names}
        for name, expected in manifest.items():
            resolved = tables.resolve(name) or name
            evidence.setdefault(resolved, TableEvidence(resolved, None)).expected = expected
        for slo in slos:
            if slo.statistic == "rows" and slo.scope is not None:
                resolved = tables.resolve(slo.scope) or slo.scope
                row = evidence.setdefault(resolved, TableEvidence(resolved, None))
                row.minimum = (
                    max(row.minimum or 0, int(slo.budget)) if slo.op in (">=", ">") else row.minimum
                )
        for name, row in evidence.items():
            if name in tables.names:
                with contextlib.suppress(Exception):  # a failing count is already a check's error
                    row.found = tables.count(name)
        return sorted(evidence.values(), key=lambda row: row.name)

    def _run_then(self, endpoint: Endpoint) -> None:
        assert self.spec.then is not None
        self.note(f"running {self.spec.then!r} with DATABASE_URL set to the restored database")
        done = run_command("restore-then", self.spec.then, timeout_s=self.spec.then_timeout_s,
                           env={"DATABASE_URL": endpoint.url()}, redact=self.scrub)  # fmt: skip
        self.result.then_output = done.output[-8192:]
        verdict: CheckVerdict = "passed" if done.ok else "failed"
        if done.exit_code is None and not done.timed_out:
            verdict = "error"  # it did not start, so it was not judged
        words = done.error or f"{done.command!r} {done.status}"
        self.result.checks.append(CheckResult(f"then: {done.command}", verdict, words))

    def clean(self) -> None:
        interrupted: BaseException | None = None
        for step in (self._close_database, self._close_target, self._remove_workdir):
            try:
                step()
            except KeyboardInterrupt as error:  # finish cleaning, then stop
                interrupted = error
            except Exception as error:
                self.result.cleanup.append(self.scrub(f"could not clean up: {error}"))
        if interrupted is not None:
            raise interrupted

    def _close_database(self) -> None:
        if self.database is not None:
            self.database.close()

    def _close_target(self) -> None:
        if self.target is not None:
            self.result.cleanup.extend(self.scrub(note) for note in self.target.close())

    def _remove_workdir(self) -> None:
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.result.cleanup.append("deleted the drill's temporary files")


def run_drill(spec: DrillSpec, *, redact: Callable[[str], str] | None = None,
              on_event: Callable[[str], None] | None = None) -> DrillResult:  # fmt: skip
    """Run one drill (see the module docstring); ``redact`` scrubs every text it keeps."""
    started = time.monotonic()
    drill = _Drill(spec, redact, on_event)
    failure: str | None = None
    error: str | None = None
    aborted: KeyboardInterrupt | None = None
    try:
        try:
            drill.run()
        except DrillFailure as problem:
            failure = drill.scrub(str(problem))
        except (DrillError, ManifestError) as problem:
            error = drill.scrub(str(problem))
        finally:
            drill.clean()
    except KeyboardInterrupt as interrupt:
        aborted = interrupt
        with contextlib.suppress(KeyboardInterrupt):
            drill.clean()  # a second pass: the interrupt may have cut the first one short
    drill.add_unchecked()
    result = drill.result
    result.total_time_s = time.monotonic() - started
    result.decide(failure=failure, error=error, aborted=aborted is not None)
    if aborted is not None:
        if str(aborted).startswith("received signal"):
            result.reason = f"the drill was interrupted by {str(aborted).removeprefix('received ')}"
        raise DrillAborted(result, aborted)
    return result
