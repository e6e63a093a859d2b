"""Pages of the scoring app (the model registry lives here)."""

urlpatterns: list = []
