from accounts.roles import ROLE_PERMS
from accounts.selectors import memberships_of


def organizations(request) -> dict:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    ctx = getattr(request, "org_ctx", None)
    return {
        "my_memberships": memberships_of(user),
        "org_ctx": ctx,
        "org_perms": {p.value for p in ROLE_PERMS.get(ctx.role, ())} if ctx else set(),
    }
