from accounts.roles import ROLE_PERMS
from accounts.selectors import memberships_of


def organizations(request) -> dict:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    ctx = getattr(request, "org_ctx", None)
    perms = {p.value for p in ROLE_PERMS.get(ctx.role, ())} if ctx else set()
    return {
        "my_memberships": memberships_of(user),
        "org_ctx": ctx,
        "org_perms": perms,
        "approvals_waiting": _approvals_waiting(ctx) if "view_audit" in perms else 0,
    }


def _approvals_waiting(ctx) -> int:
    from policies.approvals import pending

    return pending(ctx).count()
