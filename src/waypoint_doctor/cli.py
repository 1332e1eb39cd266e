"""The command line: parse flags into frozen options, call the core, render, exit with a code.

Kept cheap to import: `kubernetes` is imported only by the live collector, and only when a
command actually reads a cluster; rich only by the table renderer and the spinner.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext, suppress
from typing import IO, Annotated, Any

import typer

from waypoint_doctor import __version__
from waypoint_doctor.options import (
    CheckCommand,
    ClusterOptions,
    OutputOptions,
    UsageError,
    parse_duration,
    validate_namespace,
    validate_service_name,
    validate_target_scope,
)

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE, EXIT_CLUSTER = 0, 1, 2, 3
FORMATS = ("table", "json", "yaml", "markdown", "junit", "sarif")

app = typer.Typer(
    name="waypoint-doctor",
    help="Explain why L7 authorization through an Istio ambient waypoint is not doing what you expect.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

# -- shared option declarations (help panels group them in --help) -----------------------------
NamespaceOpt = Annotated[
    str | None,
    typer.Option(
        "-n",
        "--namespace",
        metavar="NAMESPACE",
        help="Namespace of the service (default: the context's, else default).",
        rich_help_panel="Cluster",
    ),
]
ContextOpt = Annotated[
    str | None,
    typer.Option("--context", metavar="NAME", help="Kubeconfig context to use.", rich_help_panel="Cluster"),
]
KubeconfigOpt = Annotated[
    str | None,
    typer.Option(
        "--kubeconfig",
        metavar="FILE",
        help="Kubeconfig file (default: $KUBECONFIG, ~/.kube/config, in-cluster).",
        rich_help_panel="Cluster",
    ),
]
SnapshotOpt = Annotated[
    str | None,
    typer.Option(
        "--snapshot",
        metavar="PATH",
        help="Read a snapshot directory or .tar.gz instead of a live cluster.",
        rich_help_panel="Cluster",
    ),
]
TimeoutOpt = Annotated[
    float,
    typer.Option(
        "--request-timeout",
        metavar="SECONDS",
        help="Seconds to wait for each API request; failed reads are retried for up to twice this (at least 10 s).",
        rich_help_panel="Cluster",
    ),
]
OutputOpt = Annotated[
    str,
    typer.Option(
        "-o",
        "--output",
        metavar="FORMAT",
        help="table, json, yaml, markdown, junit or sarif.",
        rich_help_panel="Output",
    ),
]
NoColorOpt = Annotated[
    bool, typer.Option("--no-color", metavar="", help="Never colour the output.", rich_help_panel="Output")
]
AllServicesOpt = Annotated[
    bool,
    typer.Option(
        "--all", metavar="", help="Every waypoint-bound or policy-targeted service of the namespace."
    ),
]
AllNamespacesOpt = Annotated[
    bool, typer.Option("-A", "--all-namespaces", metavar="", help="Every namespace.")
]
SinceOpt = Annotated[
    str,
    typer.Option("--since", metavar="DURATION", help="Log window, e.g. 15m, 1h.", rich_help_panel="Evidence"),
]
NoLogsOpt = Annotated[
    bool,
    typer.Option(
        "--no-logs", metavar="", help="Do not read ztunnel or waypoint logs.", rich_help_panel="Evidence"
    ),
]
IstioctlOpt = Annotated[
    str | None,
    typer.Option(
        "--istioctl",
        metavar="PATH",
        help="Path to istioctl (default: found on PATH).",
        rich_help_panel="Evidence",
    ),
]
FailOnOpt = Annotated[
    str | None,
    typer.Option(
        "--fail-on",
        metavar="LEVEL",
        help="Exit 1 at this level or worse: fail (default), warn, or never.",
        rich_help_panel="CI gate",
        show_default=False,
    ),
]
SelectOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--select",
        metavar="CHECKS",
        help="Run only these checks: IDs or prefixes (WD4, WD40), comma-separated or repeated.",
        rich_help_panel="CI gate",
        show_default=False,
    ),
]
IgnoreOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--ignore",
        metavar="CHECKS",
        help="Do not run these checks (IDs or prefixes); wins over --select.",
        rich_help_panel="CI gate",
        show_default=False,
    ),
]
SuppressOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--suppress",
        metavar="RULE",
        help="CHECK[=[KIND ]NAMESPACE/NAME] (globs): list those findings as suppressed, not counted. Repeatable.",
        rich_help_panel="CI gate",
        show_default=False,
    ),
]
ConfigOpt = Annotated[
    str | None,
    typer.Option(
        "--config",
        metavar="FILE",
        help="Gate settings file (default: the nearest .waypoint-doctor.yaml from here upward).",
        rich_help_panel="CI gate",
        show_default=False,
    ),
]
NoConfigOpt = Annotated[
    bool,
    typer.Option(
        "--no-config", metavar="", help="Ignore any .waypoint-doctor.yaml.", rich_help_panel="CI gate"
    ),
]
OutputFileOpt = Annotated[
    str | None,
    typer.Option(
        "--output-file",
        metavar="PATH",
        help="Write the report to PATH instead of stdout (replaced only once complete).",
        rich_help_panel="Output",
        show_default=False,
    ),
]


def _err(message: str) -> None:
    from waypoint_doctor.render.safe import clean_text

    sys.stderr.write(f"waypoint-doctor: {clean_text(message, keep_newlines=False)}\n")


def _use_color(no_color: bool) -> bool:
    return not no_color and "NO_COLOR" not in os.environ and sys.stdout.isatty()


def _spinner(text: str) -> AbstractContextManager[Any]:
    """A spinner on stderr while collecting, only when a person is watching."""
    if not sys.stderr.isatty() or ("NO_COLOR" in os.environ and os.environ.get("TERM") == "dumb"):
        return nullcontext()
    from rich.console import Console

    return Console(stderr=True).status(text, spinner="dots")


def _output_options(output: str, no_color: bool, fail_on: str, to_file: bool = False) -> OutputOptions:
    if output not in FORMATS:
        raise UsageError(f"unknown output format {output!r}: use one of {', '.join(FORMATS)}")
    color = output == "table" and not to_file and _use_color(no_color)
    return OutputOptions(fmt=output, color=color, fail_on=fail_on)


def _gate(
    fail_on: str | None,
    select: list[str] | None,
    ignore: list[str] | None,
    suppress: list[str] | None,
    config: str | None,
    no_config: bool,
) -> Any:
    from waypoint_doctor.gate.config import resolve_gate

    return resolve_gate(
        fail_on=fail_on,
        select=select,
        ignore=ignore,
        suppress=suppress,
        config=config,
        use_config=not no_config,
    )


def _terminal_width() -> int | None:
    """COLUMNS when set (as `COLUMNS=80 waypoint-doctor …`), else the terminal's width, else None
    (the renderer's default, for a pipe or a file)."""
    import shutil

    size = shutil.get_terminal_size(fallback=(0, 0))
    return size.columns if size.columns >= 40 else None


def _render(report: Any, out: OutputOptions, stream: IO[str]) -> None:
    from waypoint_doctor.render import get_renderer

    renderer = get_renderer(out.fmt)
    if out.fmt == "junit":
        renderer(report, stream, out.color, fail_on_warn=out.fail_on == "warn")  # type: ignore[call-arg]
    elif out.fmt == "table":
        width = _terminal_width() if stream is sys.stdout else None
        renderer(report, stream, out.color, width=width)  # type: ignore[call-arg]
    else:
        renderer(report, stream, out.color)


@contextmanager
def _output_stream(path: str | None) -> Iterator[IO[str]]:
    """stdout, or a file written beside PATH and renamed over it once the report is complete (a
    run that fails half-way never leaves half a report for the next CI step to read)."""
    if path is None or path == "-":
        yield sys.stdout
        sys.stdout.flush()
        return
    import tempfile
    from pathlib import Path

    target = Path(path)
    if target.is_dir():
        raise UsageError(f"--output-file {path}: is a directory")
    parent = target.parent if str(target.parent) else Path(".")
    if not parent.is_dir():
        raise UsageError(f"--output-file {path}: no directory {parent}")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=parent)
    except OSError as exc:
        raise UsageError(f"--output-file {path}: cannot write: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as stream:
            yield stream
        os.chmod(tmp, 0o644 & ~_umask())
        os.replace(tmp, target)
    except BaseException:
        with suppress(OSError):
            os.unlink(tmp)
        raise


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def findings_exit_code(results: Iterable[Any], fail_on: str) -> int:
    """1 when a finding that is not suppressed reaches `fail_on` (fail, warn; never: always 0)."""
    if fail_on == "never":
        return EXIT_OK
    worst = {"fail", "error"} | ({"warn"} if fail_on == "warn" else set())
    counted = (r.status.value for r in results if getattr(r, "suppressed", None) is None)
    return EXIT_FINDINGS if any(s in worst for s in counted) else EXIT_OK


def _run_guarded(fn: Any) -> None:
    """Map every expected failure to one clear line and its exit code; never a traceback."""
    import warnings

    from waypoint_doctor.collect.errors import ClusterUnreachable
    from waypoint_doctor.collect.snapshot_dir import SnapshotError

    # The kubeconfig's insecure-skip-tls-verify is the user's choice, as with kubectl: urllib3's
    # per-request warning would only clutter stderr (a CI log, a terminal mid-incident).
    warnings.filterwarnings("ignore", message="Unverified HTTPS request")
    try:
        code = fn()
    except UsageError as exc:
        _err(str(exc))
        raise typer.Exit(EXIT_USAGE) from None
    except SnapshotError as exc:
        _err(f"cannot read snapshot: {exc}")
        raise typer.Exit(EXIT_USAGE) from None
    except ClusterUnreachable as exc:
        _err(str(exc))
        raise typer.Exit(EXIT_CLUSTER) from None
    except KeyboardInterrupt:
        _err("interrupted")
        raise typer.Exit(130) from None
    except BrokenPipeError:
        raise typer.Exit(EXIT_OK) from None
    except typer.Exit:
        raise
    except Exception as exc:  # a bug of ours: one line, the traceback only on request
        if os.environ.get("WAYPOINT_DOCTOR_DEBUG"):
            raise
        _err(f"internal error: {type(exc).__name__}: {exc} (set WAYPOINT_DOCTOR_DEBUG=1 for the traceback)")
        raise typer.Exit(EXIT_CLUSTER) from None
    raise typer.Exit(code)


# -- check -------------------------------------------------------------------------------------
@app.command("check")
def check_cmd(
    service: Annotated[
        str | None, typer.Argument(metavar="SERVICE", help="The Service to diagnose.", show_default=False)
    ] = None,
    namespace: NamespaceOpt = None,
    all_services: AllServicesOpt = False,
    all_namespaces: AllNamespacesOpt = False,
    context: ContextOpt = None,
    kubeconfig: KubeconfigOpt = None,
    snapshot: SnapshotOpt = None,
    request_timeout: TimeoutOpt = 15.0,
    output: OutputOpt = "table",
    output_file: OutputFileOpt = None,
    no_color: NoColorOpt = False,
    fail_on: FailOnOpt = None,
    select: SelectOpt = None,
    ignore: IgnoreOpt = None,
    suppress_rules: SuppressOpt = None,
    config: ConfigOpt = None,
    no_config: NoConfigOpt = False,
    since: SinceOpt = "15m",
    no_logs: NoLogsOpt = False,
    istioctl: IstioctlOpt = None,
) -> None:
    """Run the whole checklist for a Service and print a graded report."""

    def run() -> int:
        validate_target_scope(service, all_services, all_namespaces)
        gate = _gate(fail_on, select, ignore, suppress_rules, config, no_config)
        cmd = CheckCommand(
            service=validate_service_name(service) if service is not None else None,
            namespace=validate_namespace(namespace) if namespace is not None else None,
            all_in_namespace=all_services,
            all_namespaces=all_namespaces,
            cluster=ClusterOptions(
                kubeconfig=kubeconfig, context=context, snapshot=snapshot, request_timeout=request_timeout
            ),
            output=_output_options(output, no_color, gate.fail_on, to_file=output_file is not None),
            since_seconds=parse_duration(since),
            logs=not no_logs,
            istioctl=istioctl,
            gate=gate,
        )
        from waypoint_doctor.app import run_check

        report = run_check(cmd, spinner=_spinner)
        with _output_stream(output_file) as stream:
            _render(report, cmd.output, stream)
        return findings_exit_code(report_results(report), cmd.output.fail_on)

    _run_guarded(run)


def report_results(report: Any) -> list[Any]:
    from waypoint_doctor.report.model import FleetReport

    if isinstance(report, FleetReport):
        return [*report.cluster_checks, *(c for s in report.services for c in s.checks)]
    return list(report.checks)


@app.command("version")
def version_cmd() -> None:
    """Print the version."""
    typer.echo(f"waypoint-doctor {__version__}")


def main() -> None:
    app()


# -- snapshot (collect once, diagnose anywhere) --------------------------------------------------
@app.command("snapshot")
def snapshot_cmd(
    service: Annotated[
        str | None,
        typer.Argument(metavar="SERVICE", help="The Service the snapshot is for.", show_default=False),
    ] = None,
    namespace: NamespaceOpt = None,
    dest: Annotated[
        str,
        typer.Option(
            "-o",
            "--output",
            metavar="PATH",
            help="Where to write: a new directory, or a file ending in .tar.gz.",
            rich_help_panel="Output",
        ),
    ] = "",
    anonymize: Annotated[
        bool,
        typer.Option(
            "--anonymize",
            metavar="",
            help="Mask names and IP addresses (consistently: the snapshot still diagnoses the same).",
            rich_help_panel="Output",
        ),
    ] = False,
    all_services: AllServicesOpt = False,
    all_namespaces: AllNamespacesOpt = False,
    context: ContextOpt = None,
    kubeconfig: KubeconfigOpt = None,
    snapshot: SnapshotOpt = None,
    request_timeout: TimeoutOpt = 15.0,
    since: SinceOpt = "15m",
    no_logs: NoLogsOpt = False,
    istioctl: IstioctlOpt = None,
) -> None:
    """Save what `check` reads (objects, logs, istioctl outputs) to diagnose later or elsewhere.

    Secrets never go in; --anonymize also masks names and addresses.

    Read it back with: waypoint-doctor check SERVICE -n NS --snapshot PATH
    """

    def run() -> int:
        from waypoint_doctor.collect.snapshot_write import (
            SnapshotCommand,
            SnapshotWriteError,
            run_snapshot,
            summary_lines,
        )

        if not dest:
            raise UsageError("name where to write the snapshot: -o DIR or -o FILE.tar.gz")
        validate_target_scope(service, all_services, all_namespaces)
        cmd = SnapshotCommand(
            service=validate_service_name(service) if service is not None else None,
            namespace=validate_namespace(namespace) if namespace is not None else None,
            all_in_namespace=all_services,
            all_namespaces=all_namespaces,
            cluster=ClusterOptions(
                kubeconfig=kubeconfig, context=context, snapshot=snapshot, request_timeout=request_timeout
            ),
            dest=dest,
            anonymize=anonymize,
            since_seconds=parse_duration(since),
            logs=not no_logs,
            istioctl=istioctl,
        )
        try:
            written = run_snapshot(cmd, spinner=_spinner)
        except SnapshotWriteError as exc:
            raise UsageError(str(exc)) from None
        from waypoint_doctor.render.safe import clean_text

        for line in summary_lines(written):
            sys.stderr.write(clean_text(line, keep_newlines=False) + "\n")
        typer.echo(str(written.path))
        return EXIT_OK

    _run_guarded(run)


# -- lint (manifests, before they are applied) ---------------------------------------------------
@app.command("lint")
def lint_cmd(
    files: Annotated[
        list[str],
        typer.Option(
            "-f",
            "--filename",
            metavar="FILE",
            help="A manifest file, a directory (recursively) or - for stdin; repeatable.",
            show_default=False,
        ),
    ],
    namespace: Annotated[
        str | None,
        typer.Option(
            "-n",
            "--namespace",
            metavar="NAMESPACE",
            help="Namespace for objects that do not name one (as kubectl apply -n).",
        ),
    ] = None,
    output: OutputOpt = "table",
    output_file: OutputFileOpt = None,
    no_color: NoColorOpt = False,
    fail_on: FailOnOpt = None,
    select: SelectOpt = None,
    ignore: IgnoreOpt = None,
    suppress_rules: SuppressOpt = None,
    config: ConfigOpt = None,
    no_config: NoConfigOpt = False,
) -> None:
    """Check waypoint Gateways, waypoint labels and AuthorizationPolicies in YAML before applying them."""

    def run() -> int:
        from waypoint_doctor.lint.run import LintCommand, run_lint

        gate = _gate(fail_on, select, ignore, suppress_rules, config, no_config)
        cmd = LintCommand(
            paths=tuple(files),
            output=_output_options(output, no_color, gate.fail_on, to_file=output_file is not None),
            namespace=validate_namespace(namespace) if namespace is not None else None,
            gate=gate,
        )
        report = run_lint(cmd)
        with _output_stream(output_file) as stream:
            if cmd.output.fmt in ("table", "markdown"):
                from waypoint_doctor.lint.render import render_lint_markdown, render_lint_table

                if cmd.output.fmt == "table":
                    width = _terminal_width() if stream is sys.stdout else None
                    render_lint_table(report, stream, cmd.output.color, width=width)
                else:
                    render_lint_markdown(report, stream, cmd.output.color)
            else:
                _render(report, cmd.output, stream)
        return findings_exit_code(report.checks, cmd.output.fail_on)

    _run_guarded(run)


if __name__ == "__main__":
    main()


# -- what-if -----------------------------------------------------------------------------------
@app.command("what-if")
def what_if_cmd(
    service: Annotated[
        str, typer.Argument(metavar="SERVICE", help="The Service the request goes to.", show_default=False)
    ],
    source: Annotated[
        str,
        typer.Option(
            "--from",
            metavar="SOURCE",
            help="Who asks: a principal (cluster.local/ns/NS/sa/SA), pod/NAME, sa/NAME, or plaintext "
            "(a caller without a mesh identity).",
            show_default=False,
        ),
    ],
    method: Annotated[str, typer.Option("--method", metavar="METHOD", help="HTTP method.")] = "GET",
    path: Annotated[str, typer.Option("--path", metavar="PATH", help="HTTP path.")] = "/",
    port: Annotated[
        int | None, typer.Option("--port", metavar="PORT", help="Service port (default: its first port).")
    ] = None,
    host: Annotated[str | None, typer.Option("--host", metavar="HOST", help="Host/authority header.")] = None,
    headers: Annotated[
        list[str] | None,
        typer.Option(
            "--header",
            metavar="NAME=VALUE",
            help="A request header (repeatable); once one is given, headers not given are absent.",
            show_default=False,
        ),
    ] = None,
    source_ip: Annotated[
        str | None,
        typer.Option(
            "--source-ip",
            metavar="IP",
            help="The client's address (default: the pod's IP for pod/NAME).",
            show_default=False,
        ),
    ] = None,
    namespace: NamespaceOpt = None,
    context: ContextOpt = None,
    kubeconfig: KubeconfigOpt = None,
    snapshot: SnapshotOpt = None,
    request_timeout: TimeoutOpt = 15.0,
    output: Annotated[
        str,
        typer.Option(
            "-o", "--output", metavar="FORMAT", help="table, json or yaml.", rich_help_panel="Output"
        ),
    ] = "table",
    output_file: OutputFileOpt = None,
    no_color: NoColorOpt = False,
) -> None:
    """Would this request be allowed? Walks it through every hop and names the policy and rule.

    Exit codes as `kubectl auth can-i`: 0 allowed, 1 denied, 4 undecidable, 2 usage, 3 unreachable.

    Undecidable: a CUSTOM authorizer, or a condition on data the question did not give.
    """

    def run() -> int:
        if output not in ("table", "json", "yaml"):
            raise UsageError(f"unknown output format {output!r}: use table, json or yaml")
        if port is not None and not 0 < port < 65536:
            raise UsageError(f"invalid port {port}")
        ns = validate_namespace(namespace) if namespace is not None else None
        name = validate_service_name(service)
        from waypoint_doctor.app import run_what_if
        from waypoint_doctor.whatif import WhatIfRequest, parse_headers

        cluster = ClusterOptions(
            kubeconfig=kubeconfig, context=context, snapshot=snapshot, request_timeout=request_timeout
        )
        result = run_what_if(
            cluster,
            ns,
            name,
            WhatIfRequest(
                source=source,
                method=method,
                path=path,
                port=port,
                host=host,
                headers=parse_headers(headers),
                source_ip=source_ip,
            ),
            spinner=_spinner,
        )
        with _output_stream(output_file) as stream:
            if output == "table":
                from waypoint_doctor.render.whatif import render_whatif_text

                to_terminal = stream is sys.stdout
                color = to_terminal and _use_color(no_color)
                render_whatif_text(result, stream, color, width=_terminal_width() if to_terminal else None)
            else:
                from waypoint_doctor.render.structured import render_json, render_yaml

                (render_json if output == "json" else render_yaml)(result, stream)
        return int(result.exit_code)

    _run_guarded(run)
