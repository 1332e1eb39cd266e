"""The command line: parse flags into frozen options, call the core, render, exit with a code.

Kept cheap to import: `kubernetes` is imported only by the live collector, and only when a
command actually reads a cluster; rich only by the table renderer and the spinner.
"""

from __future__ import annotations

import os
import sys
from contextlib import AbstractContextManager, nullcontext
from typing import Annotated, Any

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
        help="Seconds to wait for each API request.",
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
    str,
    typer.Option(
        "--fail-on",
        metavar="LEVEL",
        help="Exit 1 at this level or worse: fail or warn.",
        rich_help_panel="Output",
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


def _output_options(output: str, no_color: bool, fail_on: str) -> OutputOptions:
    if output not in FORMATS:
        raise UsageError(f"unknown output format {output!r}: use one of {', '.join(FORMATS)}")
    if fail_on not in ("fail", "warn"):
        raise UsageError(f"--fail-on must be 'fail' or 'warn', not {fail_on!r}")
    return OutputOptions(fmt=output, color=output == "table" and _use_color(no_color), fail_on=fail_on)


def _terminal_width() -> int | None:
    """COLUMNS when set (as `COLUMNS=80 waypoint-doctor …`), else the terminal's width, else None
    (the renderer's default, for a pipe or a file)."""
    import shutil

    size = shutil.get_terminal_size(fallback=(0, 0))
    return size.columns if size.columns >= 40 else None


def _render(report: Any, out: OutputOptions) -> None:
    from waypoint_doctor.render import get_renderer

    renderer = get_renderer(out.fmt)
    if out.fmt == "junit":
        renderer(report, sys.stdout, out.color, fail_on_warn=out.fail_on == "warn")  # type: ignore[call-arg]
    elif out.fmt == "table":
        renderer(report, sys.stdout, out.color, width=_terminal_width())  # type: ignore[call-arg]
    else:
        renderer(report, sys.stdout, out.color)
    sys.stdout.flush()


def findings_exit_code(statuses: list[str], fail_on: str) -> int:
    worst = {"fail", "error"} | ({"warn"} if fail_on == "warn" else set())
    return EXIT_FINDINGS if any(s in worst for s in statuses) else EXIT_OK


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
    no_color: NoColorOpt = False,
    fail_on: FailOnOpt = "fail",
    since: SinceOpt = "15m",
    no_logs: NoLogsOpt = False,
    istioctl: IstioctlOpt = None,
) -> None:
    """Run the whole checklist for a Service and print a graded report."""

    def run() -> int:
        validate_target_scope(service, all_services, all_namespaces)
        cmd = CheckCommand(
            service=validate_service_name(service) if service is not None else None,
            namespace=validate_namespace(namespace) if namespace is not None else None,
            all_in_namespace=all_services,
            all_namespaces=all_namespaces,
            cluster=ClusterOptions(
                kubeconfig=kubeconfig, context=context, snapshot=snapshot, request_timeout=request_timeout
            ),
            output=_output_options(output, no_color, fail_on),
            since_seconds=parse_duration(since),
            logs=not no_logs,
            istioctl=istioctl,
        )
        from waypoint_doctor.app import run_check

        report = run_check(cmd, spinner=_spinner)
        _render(report, cmd.output)
        return findings_exit_code(report_statuses(report), cmd.output.fail_on)

    _run_guarded(run)


def report_statuses(report: Any) -> list[str]:
    from waypoint_doctor.report.model import FleetReport

    if isinstance(report, FleetReport):
        return [c.status.value for c in report.cluster_checks] + [
            c.status.value for s in report.services for c in s.checks
        ]
    return [c.status.value for c in report.checks]


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
    no_color: NoColorOpt = False,
    fail_on: FailOnOpt = "fail",
) -> None:
    """Check waypoint Gateways, waypoint labels and AuthorizationPolicies in YAML before applying them."""

    def run() -> int:
        from waypoint_doctor.lint.run import LintCommand, run_lint

        cmd = LintCommand(
            paths=tuple(files),
            output=_output_options(output, no_color, fail_on),
            namespace=validate_namespace(namespace) if namespace is not None else None,
        )
        report = run_lint(cmd)
        if cmd.output.fmt in ("table", "markdown"):
            from waypoint_doctor.lint.render import render_lint_markdown, render_lint_table

            if cmd.output.fmt == "table":
                render_lint_table(report, sys.stdout, cmd.output.color, width=_terminal_width())
            else:
                render_lint_markdown(report, sys.stdout, cmd.output.color)
            sys.stdout.flush()
        else:
            _render(report, cmd.output)
        return findings_exit_code([c.status.value for c in report.checks], cmd.output.fail_on)

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
        if output == "table":
            from waypoint_doctor.render.whatif import render_whatif_text

            render_whatif_text(result, sys.stdout, _use_color(no_color), width=_terminal_width())
        else:
            from waypoint_doctor.render.structured import render_json, render_yaml

            (render_json if output == "json" else render_yaml)(result, sys.stdout)
        return int(result.exit_code)

    _run_guarded(run)
