"""The data files as the settings choose them, loaded into what the desk and workers use.

Every entry point builds from these, so ``CASETRAIL_DATA_DIR`` and the per-file settings
(``CASETRAIL_ORG_FILE``, ...) reach ``serve``, the workers, ``sla run``, the demo and the
reports alike. A bad file raises :class:`config.data_files.DataFileError` naming file, entry
and field.
"""

from __future__ import annotations

from bootstrap.catalogue import load_catalogue
from bootstrap.org_loader import load_directory
from config.settings import Settings
from domain.org import OrgDirectory
from domain.sla.policy import PolicyCatalogue
from workers.callbacks import CallbackPlanConfig, load_callback_plan


def catalogue_of(settings: Settings) -> PolicyCatalogue:
    """The SLA policy catalogue, with the calendars its business milestones count on."""
    return load_catalogue(
        settings.data_file("calendars").path, settings.data_file("sla_policies").path
    )


def directory_of(settings: Settings) -> OrgDirectory:
    """The org directory: departments, reorganisations, routing."""
    return load_directory(settings.data_file("org").path)


def callback_plan_of(settings: Settings) -> CallbackPlanConfig:
    """The callback plan (回访计划): which tickets are called back, how often customers are."""
    return load_callback_plan(settings.data_file("callback_plan").path)
