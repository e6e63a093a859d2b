"""Write-side business logic of the scoring app (ingestion, scoring, registry, API keys)."""
