"""The dashboard ``serve`` shows at ``/``: tasks, schedules and the project, in a browser."""

from alumio_mistral.service.dashboard.app import Dashboard, dashboard_for
from alumio_mistral.service.dashboard.security import TOKEN_VARIABLE, BindRefused, check_bind, is_loopback
from alumio_mistral.service.dashboard.views import Section

__all__ = ["TOKEN_VARIABLE", "BindRefused", "Dashboard", "Section", "check_bind", "dashboard_for", "is_loopback"]
