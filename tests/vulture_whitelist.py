"""Names vulture (``make deadcode``) cannot see used: Django, DRF, Celery, the template engine
and the stdlib find them by name, or another process or the tests call them.

Reviewed by hand; an entry names where it is defined. Anything vulture reports that is not here
is dead: remove it (do not add it here unless something really finds it by name).
"""

# ruff: noqa

_.__qualname__  # core/admin_rules.py
_._account_takeover  # scoring/engine/synthetic.py
_._card_testing  # scoring/engine/synthetic.py
_._new_geography  # scoring/engine/synthetic.py
_._unusual_amount  # scoring/engine/synthetic.py
_._unusual_time  # scoring/engine/synthetic.py
_._velocity_burst  # scoring/engine/synthetic.py
add_data  # core/admin_rules.py
add_transaction_components  # scoring/api/openapi.py
added_at  # fraudcases/models.py
age  # fraudcases/filters.py
algorithm  # scoring/models.py
application  # fraudcases/wsgi.py
AUDIT_FILTERS  # fraudcases/selectors.py
_.as_postgresql  # scoring/bulk.py (Django calls as_<vendor> on a lookup)
_.authenticate  # scoring/api/authentication.py
_.authenticate_header  # scoring/api/authentication.py
auto_schema  # scoring/api/authentication.py
batched_into  # alerts/models.py
BrokerSafeRequest  # core/celery_request.py (named by Task.Request; Celery imports it by that name)
challenger_model_version  # scoring/models.py
challenger_model_version_id  # scoring/services/scoring.py (_ScoreRow: written by attname, getattr in _write_scores)
challenger_score  # scoring/models.py
champion_cache  # scoring/services/registry.py
change_data  # core/admin_rules.py
closed_per_day  # fraudcases/reporting/kpis.py
_.closed_per_day  # fraudcases/reporting/kpis.py
closure_requested_by  # fraudcases/models.py
_.closure_requested_by  # fraudcases/services/merge.py, fraudcases/services/transitions.py
created_from  # fraudcases/filters.py
created_to  # fraudcases/filters.py
_.current_app  # fraudcases/admin.py
_.daemon_threads  # alerts/management/commands/alerts_receiver.py
date_from  # fraudcases/reporting/filters.py
date_to  # fraudcases/reporting/filters.py
datefmt  # core/logging.py
DELIVERY_FILTERS  # alerts/selectors.py
_.disabled  # alerts/forms.py, fraudcases/admin.py
dispatched_at  # alerts/models.py
encode_transaction  # scoring/streams/messages.py
error_count  # scoring/models.py
escalation_rate  # fraudcases/reporting/kpis.py
_.escalation_rate  # fraudcases/reporting/kpis.py
example  # core/admin_rules.py
finished_at  # alerts/models.py
formsets  # core/admin_rules.py
fp  # alerts/transport.py
generator  # scoring/api/openapi.py
head_seq  # core/audit.py
holdout_share  # scoring/models.py
_.idempotency_key  # alerts/admin.py, alerts/services/channels.py
idempotency_key  # alerts/models.py
_.index_title  # fraudcases/admin.py
ingest_batch  # scoring/models.py
_.input_type  # fraudcases/reporting/filters.py
label_source  # scoring/models.py
labelled_at  # scoring/models.py
last_error_at  # scoring/models.py
last_failure  # alerts/selectors.py
last_status_code  # alerts/models.py
_.last_status_code  # alerts/services/delivery.py
last_success  # alerts/selectors.py
latitude  # scoring/models.py
LEGACY_BROKEN_OVERRIDE  # core/audit.py
logging_config  # core/logging.py
longitude  # scoring/models.py
matched  # alerts/selectors.py
matched_count  # alerts/selectors.py
median_handling_hours  # fraudcases/reporting/kpis.py
_.median_handling_hours  # fraudcases/reporting/kpis.py
merged_into  # fraudcases/models.py
_.merged_into  # fraudcases/services/merge.py
mtime_ns  # core/audit.py
_.n_transactions  # fraudcases/views/cases.py
newurl  # alerts/transport.py
open_deliveries  # alerts/selectors.py
overturn_rate  # fraudcases/reporting/kpis.py
_.overturn_rate  # fraudcases/reporting/kpis.py
parser_context  # scoring/api/parsers.py
_.password_change  # fraudcases/admin.py
preview_limit  # scoring/forms.py
priority_rank  # fraudcases/models.py
_.priority_rank  # fraudcases/models.py
public  # scoring/api/openapi.py
raised  # scoring/services/rules.py
RECORD_KEYS  # scoring/engine/synthetic.py
req  # alerts/transport.py
response_excerpt  # alerts/models.py
reviewed_at  # fraudcases/models.py
_.reviewed_at  # fraudcases/quality/services.py
risk_max  # fraudcases/filters.py
risk_min  # fraudcases/filters.py
sample_reason  # fraudcases/models.py
sampled_at  # fraudcases/models.py
scanned  # alerts/selectors.py
schedule_reason  # alerts/models.py
scored_at  # scoring/models.py
scoring_attempts  # scoring/models.py
sent_at  # alerts/models.py
_.sent_at  # alerts/services/delivery.py
_.short_description  # core/admin_rules.py
_.site_header  # fraudcases/admin.py
_.site_title  # fraudcases/admin.py
sla  # fraudcases/filters.py
sla_state  # fraudcases/api/serializers.py
_.small  # fraudcases/reporting/pdf.py
snooze_reason  # fraudcases/models.py
_.snooze_reason  # fraudcases/services/merge.py, fraudcases/services/snooze.py
snoozed  # fraudcases/filters.py
snoozed_by  # fraudcases/models.py
_.snoozed_by  # fraudcases/services/merge.py, fraudcases/services/snooze.py
started_at  # alerts/models.py
_.total_amount  # fraudcases/views/cases.py
_.total_currency  # fraudcases/views/cases.py
_.valid_value  # fraudcases/forms.py
# Account actions (acct): read by templates, DRF and Django's system-check registry.
can_decide  # fraudcases/account_actions/selectors.py (templates/cases/_account_actions.html)
own_request  # fraudcases/account_actions/selectors.py (templates/cases/_account_actions.html)
kind_label  # fraudcases/api/account_actions.py
status_label  # fraudcases/api/account_actions.py
read_only_fields  # fraudcases/api/account_actions.py
check_approval_policy  # fraudcases/services/account_actions.py (@checks.register)
_.decision_note  # fraudcases/services/account_actions.py (templates/cases/_account_actions.html)
_.delivered_at  # fraudcases/services/account_actions.py (templates/cases/_account_actions.html)
_.result_detail  # fraudcases/services/account_actions.py (templates/cases/_account_actions.html)
_.exc_text  # core/logging.py (logging.Formatter reads it)
case_merge  # fraudcases/services/merge.py (named by fraudcases/workflow.py)
case_transaction_move  # fraudcases/services/merge.py (named by fraudcases/workflow.py)
case_snooze  # fraudcases/services/snooze.py (named by fraudcases/workflow.py)
case_wake  # fraudcases/services/snooze.py (named by fraudcases/workflow.py)
rr_last_user  # fraudcases/models.py (CaseQueue: the round-robin cursor, read in SQL by routing)
added_by  # fraudcases/models.py (QueueMembership, set by the admin)
updated_by  # fraudcases/models.py, fraudcases/services/routing.py (InvestigatorDuty)
_.HOLD_PAYMENTS  # fraudcases/models.py (AccountAction.Kind; named in settings by value)
hits_handler_resolves  # scoring/checks.py (@checks.register)
app_configs  # scoring/checks.py (Django passes it by keyword to every check)
compute_peer_features  # scoring/engine/features.py (the tests and evaluation call it)
serving_history_mask  # scoring/engine/features.py (the tests state what serving must load)
fraud_pattern  # scoring/models.py (the generator's and importer's pattern label, read by evaluation)
case_status  # fraudcases/rollup_models.py (CaseLinkFact; dashboard.py reads f"{c.case}status")
case_disposition  # fraudcases/rollup_models.py (CaseLinkFact; dashboard.py, f"{c.case}…")
case_risk_level  # fraudcases/rollup_models.py (CaseLinkFact; dashboard.py, f"{c.case}…")
case_closed_at  # fraudcases/rollup_models.py (CaseLinkFact; dashboard.py, f"{c.case}…")
show_full_result_count  # scoring/admin.py (TransactionAdmin: read by Django's ChangeList)
search_help_text  # scoring/admin.py (TransactionAdmin: read by Django's ChangeList)
model_admin  # scoring/admin.py (SimpleListFilter.lookups: Django passes it)
estimated  # scoring/admin.py (EstimatedCountPaginator: read by templates/admin/scoring/transaction/pagination.html)
capped  # scoring/admin.py (EstimatedCountPaginator: read by the same template)
