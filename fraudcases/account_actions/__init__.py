"""Account actions to core banking, read side: role-filtered selectors and the request form.
The writes are ``fraudcases.services.account_actions``; docs/alerts.md, "Account actions"."""
