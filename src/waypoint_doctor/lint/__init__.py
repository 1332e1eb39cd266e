"""`waypoint-doctor lint`: the checks that need only manifests, run on YAML before it is applied.

- :mod:`source`: read files (or stdin) into documents that remember the line of every field;
- :mod:`rules`: the findings, built on the AuthorizationPolicy engine (:mod:`waypoint_doctor.authz`)
  and the mesh helpers, each carrying the catalog check ID it corresponds to;
- :mod:`report`: the lint report (one :class:`~waypoint_doctor.report.model.CheckResult` per
  finding, plus a pass or skip per check that found nothing);
- :mod:`render`: the terminal table and Markdown for it (JSON, YAML, JUnit and SARIF use the
  shared renderers);
- :mod:`run`: the command's core.
"""
