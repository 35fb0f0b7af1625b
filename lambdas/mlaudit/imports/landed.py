"""The imports function's service: what it needs to import a file dropped in the landing
bucket (the handler, mlaudit.handlers.imports, reads the file and writes its report)."""

from __future__ import annotations

from dataclasses import dataclass

from mlaudit.adapters.landing import LandingFiles
from mlaudit.imports.service import FileImporter
from mlaudit.principal import Principal


@dataclass(frozen=True)
class ImportService:
    bucket: str  # the landing bucket: the only one whose files this function imports
    landing: LandingFiles
    importer: FileImporter
    principal: Principal  # the events' sender: the import itself
