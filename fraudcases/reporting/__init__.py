"""Read side of reporting: dashboard aggregates, team KPIs, case reports and SAR exports.

- ``filters``: the dashboard's filters (date range, channel, country, risk level, model
  version), parsed from the URL;
- ``sql``: database expressions the aggregates need on SQLite and PostgreSQL (median, seconds
  between two times);
- ``dashboard``: one grouped query per chart, cached briefly, and the charts' CSV;
- ``kpis``: per-investigator and team figures for supervisors, and the workload view;
- ``case_report`` / ``sar``: the case report PDF and the suspicious-activity export.

Nothing here writes, except that the views audit downloads (``audit_record``).
"""
