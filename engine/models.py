"""Every mapped table, imported once so that the metadata is complete (Alembic, tests)."""

from engine.accounts.models import ApiKey
from engine.agencies.models import Agency, AgencyApplication, AgencyCommune
from engine.audit import AuditEntry
from engine.billing.einvoicing_models import (
    DocumentPayment,
    EInvoice,
    EInvoiceExclusion,
    EInvoiceStatus,
    EInvoiceTransmission,
    PaymentTransmission,
)
from engine.billing.models import (
    BillingRun,
    CreditNote,
    DocumentLine,
    Dunning,
    Invoice,
    NumberSeries,
    PaymentAttempt,
    StripeEvent,
)
from engine.crm.models import (
    AgendaDigest,
    Appointment,
    CalendarFeed,
    ContactInteraction,
    ContactReminder,
)
from engine.db import Base
from engine.estimation.models import PropertySale
from engine.geo.models import (
    BanAddress,
    BanStreet,
    Commune,
    CommuneAlias,
    DatasetLoad,
    Departement,
    PostalCode,
)
from engine.intake.models import ConsentText, Estimation, Lead, LeadConsent
from engine.notify.models import OutboxMessage
from engine.partners.models import Partner
from engine.people.models import (
    AgencyUser,
    PersonPasskey,
    PersonRecoveryCode,
    PersonToken,
    PersonTotp,
    RateBucket,
    WebauthnChallenge,
    WebSession,
)
from engine.pricing.models import PriceGridVersion
from engine.refunds.models import RefundRequest
from engine.sales.models import AgencyMonthSpend, IdempotencyKey, LedgerLine, Offer, Purchase
from engine.settings import Setting

__all__ = [
    "Agency",
    "AgencyApplication",
    "AgencyCommune",
    "AgencyMonthSpend",
    "AgencyUser",
    "AgendaDigest",
    "ApiKey",
    "Appointment",
    "AuditEntry",
    "BanAddress",
    "BanStreet",
    "Base",
    "BillingRun",
    "CalendarFeed",
    "Commune",
    "CommuneAlias",
    "ConsentText",
    "ContactInteraction",
    "ContactReminder",
    "CreditNote",
    "DatasetLoad",
    "Departement",
    "DocumentLine",
    "DocumentPayment",
    "Dunning",
    "EInvoice",
    "EInvoiceExclusion",
    "EInvoiceStatus",
    "EInvoiceTransmission",
    "Estimation",
    "IdempotencyKey",
    "Invoice",
    "Lead",
    "LeadConsent",
    "LedgerLine",
    "NumberSeries",
    "Offer",
    "OutboxMessage",
    "Partner",
    "PaymentAttempt",
    "PaymentTransmission",
    "PersonPasskey",
    "PersonRecoveryCode",
    "PersonToken",
    "PersonTotp",
    "PostalCode",
    "PriceGridVersion",
    "PropertySale",
    "Purchase",
    "RateBucket",
    "RefundRequest",
    "Setting",
    "StripeEvent",
    "WebSession",
    "WebauthnChallenge",
]
