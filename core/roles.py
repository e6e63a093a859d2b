"""The four roles (Django groups created by a data migration). Imported by the permission
function and by the workflow table, so neither depends on the other for the names."""

INVESTIGATOR = "investigator"
SUPERVISOR = "supervisor"
ADMIN = "admin"
AUDITOR = "auditor"
ROLES = (INVESTIGATOR, SUPERVISOR, ADMIN, AUDITOR)
# Roles that work cases (claim, review, close); admins administer and auditors read.
CASE_WORKERS = frozenset({INVESTIGATOR, SUPERVISOR})
