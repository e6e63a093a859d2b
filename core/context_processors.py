"""Template context: the signed-in user's roles, so templates can ask what to show."""

from .permissions import user_roles


def roles(request):
    user = getattr(request, "user", None)
    return {"user_roles": user_roles(user) if user is not None else frozenset()}
