"""The declarative base every table module maps onto, with the constraint naming convention.

It lives apart from the table modules so that each of them depends on it alone and none on the
other; :mod:`hubbub.storage.models` imports every table module, so ``Base.metadata`` is complete
once it is imported (what the migrations and ``create_all`` rely on).
"""

from __future__ import annotations

from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
