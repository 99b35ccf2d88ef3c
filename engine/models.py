"""Every mapped table, imported once so that the metadata is complete (Alembic, tests)."""

from engine.accounts.models import ApiKey
from engine.agencies.models import Agency, AgencyCommune
from engine.db import Base
from engine.estimation.models import ComparableSale
from engine.geo.models import Commune, CommuneAlias, DatasetLoad, Departement, PostalCode
from engine.intake.models import Estimation
from engine.settings import Setting

__all__ = [
    "Agency",
    "AgencyCommune",
    "ApiKey",
    "Base",
    "Commune",
    "CommuneAlias",
    "ComparableSale",
    "DatasetLoad",
    "Departement",
    "Estimation",
    "PostalCode",
    "Setting",
]
