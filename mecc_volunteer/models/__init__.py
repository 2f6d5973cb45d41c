"""All models, imported in one place so Alembic sees every table."""

from mecc_volunteer.models.app_secret import AppSecret
from mecc_volunteer.models.audit import ActorKind, AuditAction, AuditEvent
from mecc_volunteer.models.base import Base, utcnow
from mecc_volunteer.models.data_version import (
    PUBLIC_DATA,
    PUBLIC_TABLES,
    REFERENCE_DATA,
    REFERENCE_TABLES,
    DataVersion,
)
from mecc_volunteer.models.evaluation import DownloadRecord, EvaluationAnswer, EvaluationResponse, Survey
from mecc_volunteer.models.outbox import EmailStatus, OutgoingEmail
from mecc_volunteer.models.pending import PendingRegistration, RateLimitHit
from mecc_volunteer.models.prepared_download import PreparedDownload, PreparedDownloadPart, PreparedStatus
from mecc_volunteer.models.programme import District, Organisation, OrganisationType, Programme
from mecc_volunteer.models.retention import RetentionRun
from mecc_volunteer.models.staff import RecoveryCode, SignInAttempt, StaffLink, StaffLinkPurpose, StaffRole, StaffUser
from mecc_volunteer.models.training import (
    ACTIVE_STATUSES,
    HOLDING_PLACE_STATUSES,
    LONDON,
    Booking,
    BookingStatus,
    SessionKind,
    SessionStatus,
    SessionSummary,
    TrainingSession,
    registration_closes_at,
)
from mecc_volunteer.models.volunteer import LinkPurpose, PersonalLink, Volunteer

__all__ = [
    "ACTIVE_STATUSES",
    "HOLDING_PLACE_STATUSES",
    "LONDON",
    "PUBLIC_DATA",
    "PUBLIC_TABLES",
    "REFERENCE_DATA",
    "REFERENCE_TABLES",
    "ActorKind",
    "AppSecret",
    "AuditAction",
    "AuditEvent",
    "Base",
    "Booking",
    "BookingStatus",
    "DataVersion",
    "District",
    "DownloadRecord",
    "EmailStatus",
    "EvaluationAnswer",
    "EvaluationResponse",
    "LinkPurpose",
    "Organisation",
    "OrganisationType",
    "OutgoingEmail",
    "PendingRegistration",
    "PersonalLink",
    "PreparedDownload",
    "PreparedDownloadPart",
    "PreparedStatus",
    "Programme",
    "RateLimitHit",
    "RecoveryCode",
    "RetentionRun",
    "SessionKind",
    "SessionStatus",
    "SessionSummary",
    "SignInAttempt",
    "StaffLink",
    "StaffLinkPurpose",
    "StaffRole",
    "StaffUser",
    "Survey",
    "TrainingSession",
    "Volunteer",
    "registration_closes_at",
    "utcnow",
]
