"""The Litestar application: routes, the error map, OpenAPI at /schema."""

from __future__ import annotations

from pathlib import Path

from litestar import Litestar
from litestar.config.compression import CompressionConfig
from litestar.datastructures import State
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.template.config import TemplateConfig

from api.admin.routes import AdminController
from api.agencies.routes import AgencyController
from api.billing.routes import BillingController, stripe_webhook
from api.crm.routes import ContactWorkController
from api.docs import swagger_assets, swagger_ui
from api.errors import EXCEPTION_HANDLERS, refuse_nul_characters
from api.homeowner.pages import HomeownerPages
from api.homeowner.routes import confirm, erase_data, my_data, not_me, renew, withdraw
from api.leads.routes import LeadController
from api.limits import MAX_BODY, Limiter, configured
from api.logging import lean_log_records, request_ids
from api.matching.routes import matching_preview
from api.metrics import PROMETHEUS, metrics
from api.pro import i18n as pro_i18n
from api.pro.inbox import STREAM_PATH, stop_offer_feed
from api.pro.pages import PRO_PAGES
from api.refunds.routes import RefundController
from api.routes.estimations import (
    create_estimation,
    create_lead,
    current_consent_text,
    staff_lead,
)
from api.routes.forms import PRECOMPRESSED, embed_script, form_asset, form_page
from api.routes.health import healthz, readyz
from api.routes.places import communes, streets
from api.routes.staff_pages import STAFF_PAGES
from api.security_headers import security_headers
from api.transparency.routes import transparency, transparency_page
from api.web.legal import legal_notice, privacy_policy
from api.web.public import public_static
from engine.db import AsyncDatabase


def create_app() -> Litestar:
    lean_log_records()
    limits = configured()
    # The few async connections the limiter and the purchase use on the event loop.
    database = AsyncDatabase()
    limiter = Limiter(limits, database) if limits is not None else None
    limited = [limiter.middleware] if limiter else []
    return Litestar(
        route_handlers=[
            healthz,
            metrics,
            readyz,
            AgencyController,
            AdminController,
            LeadController,
            ContactWorkController,
            BillingController,
            RefundController,
            stripe_webhook,
            matching_preview,
            communes,
            streets,
            create_estimation,
            create_lead,
            current_consent_text,
            staff_lead,
            embed_script,
            form_page,
            form_asset,
            *STAFF_PAGES,
            *PRO_PAGES,
            transparency,
            my_data,
            erase_data,
            withdraw,
            confirm,
            not_me,
            renew,
            transparency_page,
            HomeownerPages,
            legal_notice,
            privacy_policy,
            public_static,
            swagger_assets(),
        ],
        exception_handlers=EXCEPTION_HANDLERS,
        before_request=refuse_nul_characters,
        middleware=[request_ids, PROMETHEUS.middleware, *limited],
        before_send=[security_headers],
        request_max_body_size=MAX_BODY,
        template_config=TemplateConfig(
            directory=[
                Path(__file__).parent / "templates",
                Path(__file__).parent / "pro" / "templates",
            ],
            engine=JinjaTemplateEngine,
            engine_callback=lambda jinja: pro_i18n.install(jinja.engine),
        ),
        # The form and the catalogue travel gzipped: about a third of their size. Level 1 keeps
        # most of level 9's saving for a fifth of its CPU (benchmarks/polling.py measures each
        # level on a catalogue page); below one packet's payload there is nothing to save.
        # (not the inbox's event stream: each event must leave at once)
        # The form's files are gzipped once, at level 9, by their routes (api/routes/forms.py).
        compression_config=CompressionConfig(
            backend="gzip",
            gzip_compress_level=1,
            minimum_size=1400,
            exclude=[STREAM_PATH, *PRECOMPRESSED],
        ),
        on_startup=[database.open],
        on_shutdown=[stop_offer_feed, *([limiter.settled] if limiter else []), database.close],
        state=State({"database": database}),
        openapi_config=OpenAPIConfig(
            title="Mandat API",
            version="1.0.0",
            description="Seller leads for French real-estate agencies.",
            path="/schema",
            render_plugins=[swagger_ui()],
            components=Components(
                security_schemes={
                    "BearerAuth": SecurityScheme(
                        type="http", scheme="bearer", description="Authorization: Bearer <api key>"
                    )
                }
            ),
        ),
        debug=False,
        logging_config=None,  # logs are configured by the process (mandat serve: JSON lines)
    )
