"""The audit trail: one append-only row per change to a booking, session, staff account, reference list or setting,
and per message sent, with who did it.

No personal data goes in a row: it points at the booking or session, and its detail holds only counts, ids and
statuses, so the retention job can keep every row once it has removed what identifies a volunteer."""

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from mecc_volunteer.models.base import Base, utcnow
from mecc_volunteer.models.staff import StaffUser
from mecc_volunteer.models.training import Booking, BookingStatus


class ActorKind(enum.Enum):
    STAFF = "staff"
    VOLUNTEER = "volunteer"  # by their personal link
    SYSTEM = "system"  # `flask jobs run`, or an operator at the command line


class AuditAction(enum.Enum):
    # A booking's life (from and to are its statuses).
    BOOKED = "booked"
    WAITLISTED = "waitlisted"
    PROMOTED = "promoted"
    CANCELLED = "cancelled"
    MOVED = "moved"
    ATTENDED = "attended"
    DID_NOT_ATTEND = "did_not_attend"
    ELEARNING_RECORDED = "elearning_recorded"
    # Messages to one booking's volunteer.
    JOINING_LINK_SENT = "joining_link_sent"
    ELEARNING_REMINDER_SENT = "elearning_reminder_sent"
    DAY_BEFORE_REMINDER_SENT = "day_before_reminder_sent"
    EVALUATION_INVITATION_SENT = "evaluation_invitation_sent"
    EVALUATION_REMINDER_SENT = "evaluation_reminder_sent"
    FOLLOWUP_INVITATION_SENT = "followup_invitation_sent"
    EMAIL_RETRIED = "email_retried"
    # A session.
    SESSION_CREATED = "session_created"
    SESSION_UPDATED = "session_updated"
    SESSION_CANCELLED = "session_cancelled"
    ALL_MARKED_ATTENDED = "all_marked_attended"
    # Staff accounts (the account acted on is target_staff_user).
    STAFF_CREATED = "staff_created"
    STAFF_INVITED = "staff_invited"
    PASSWORD_SET = "password_set"  # noqa: S105 - names of actions, not passwords
    PASSWORD_RESET_SENT = "password_reset_sent"  # noqa: S105
    ROLE_CHANGED = "role_changed"
    STAFF_DEACTIVATED = "staff_deactivated"
    STAFF_REACTIVATED = "staff_reactivated"
    SIGNED_OUT_EVERYWHERE = "signed_out_everywhere"
    SECOND_FACTOR_ENROLLED = "second_factor_enrolled"
    SECOND_FACTOR_RESET = "second_factor_reset"
    RECOVERY_CODES_REGENERATED = "recovery_codes_regenerated"
    RECOVERY_CODE_USED = "recovery_code_used"
    # Reference lists and settings (detail names the row or the settings changed).
    ORGANISATION_ADDED = "organisation_added"
    ORGANISATION_CHANGED = "organisation_changed"
    ORGANISATION_RETIRED = "organisation_retired"
    ORGANISATION_RESTORED = "organisation_restored"
    ORGANISATION_TYPE_ADDED = "organisation_type_added"
    ORGANISATION_TYPE_CHANGED = "organisation_type_changed"
    ORGANISATION_TYPE_RETIRED = "organisation_type_retired"
    ORGANISATION_TYPE_RESTORED = "organisation_type_restored"
    AREA_ADDED = "area_added"
    AREA_CHANGED = "area_changed"
    AREA_RETIRED = "area_retired"
    AREA_RESTORED = "area_restored"
    SETTINGS_CHANGED = "settings_changed"
    # A volunteer's own data (volunteer_id names them).
    DATA_DOWNLOADED = "data_downloaded"
    DATA_DELETED = "data_deleted"
    IDENTITY_REMOVED = "identity_removed"  # by the retention job
    PRIVACY_NOTICE_ACKNOWLEDGED = "privacy_notice_acknowledged"
    RETENTION_RUN = "retention_run"

    @property
    def label(self) -> str:
        return _ACTION_LABELS[self]


_ACTION_LABELS = {
    AuditAction.BOOKED: "Booked a place",
    AuditAction.WAITLISTED: "Joined the waiting list",
    AuditAction.PROMOTED: "Given a place from the waiting list",
    AuditAction.CANCELLED: "Cancelled",
    AuditAction.MOVED: "Moved to another session",
    AuditAction.ATTENDED: "Marked as attended",
    AuditAction.DID_NOT_ATTEND: "Marked as did not attend",
    AuditAction.ELEARNING_RECORDED: "E-learning confirmed",
    AuditAction.JOINING_LINK_SENT: "Joining link sent",
    AuditAction.ELEARNING_REMINDER_SENT: "E-learning reminder sent",
    AuditAction.DAY_BEFORE_REMINDER_SENT: "Day-before reminder sent",
    AuditAction.EVALUATION_INVITATION_SENT: "Evaluation invitation sent",
    AuditAction.EVALUATION_REMINDER_SENT: "Evaluation reminder sent",
    AuditAction.FOLLOWUP_INVITATION_SENT: "Follow-up survey invitation sent",
    AuditAction.EMAIL_RETRIED: "Failed email sent again",
    AuditAction.SESSION_CREATED: "Session created",
    AuditAction.SESSION_UPDATED: "Session changed",
    AuditAction.SESSION_CANCELLED: "Session cancelled",
    AuditAction.ALL_MARKED_ATTENDED: "Everyone booked marked as attended",
    AuditAction.STAFF_CREATED: "Staff account created",
    AuditAction.STAFF_INVITED: "Invited to a staff account",
    AuditAction.PASSWORD_SET: "Password set",
    AuditAction.PASSWORD_RESET_SENT: "Password reset link sent",
    AuditAction.ROLE_CHANGED: "Role changed",
    AuditAction.STAFF_DEACTIVATED: "Account deactivated",
    AuditAction.STAFF_REACTIVATED: "Account reactivated",
    AuditAction.SIGNED_OUT_EVERYWHERE: "Signed out everywhere",
    AuditAction.SECOND_FACTOR_ENROLLED: "Authenticator app set up",
    AuditAction.SECOND_FACTOR_RESET: "Authenticator app reset",
    AuditAction.RECOVERY_CODES_REGENERATED: "New recovery codes made",
    AuditAction.RECOVERY_CODE_USED: "Signed in with a recovery code",
    AuditAction.ORGANISATION_ADDED: "Organisation added",
    AuditAction.ORGANISATION_CHANGED: "Organisation changed",
    AuditAction.ORGANISATION_RETIRED: "Organisation retired",
    AuditAction.ORGANISATION_RESTORED: "Organisation restored",
    AuditAction.ORGANISATION_TYPE_ADDED: "Organisation type added",
    AuditAction.ORGANISATION_TYPE_CHANGED: "Organisation type changed",
    AuditAction.ORGANISATION_TYPE_RETIRED: "Organisation type retired",
    AuditAction.ORGANISATION_TYPE_RESTORED: "Organisation type restored",
    AuditAction.AREA_ADDED: "Area added",
    AuditAction.AREA_CHANGED: "Area changed",
    AuditAction.AREA_RETIRED: "Area retired",
    AuditAction.AREA_RESTORED: "Area restored",
    AuditAction.SETTINGS_CHANGED: "Programme settings changed",
    AuditAction.DATA_DOWNLOADED: "Personal data downloaded",
    AuditAction.DATA_DELETED: "Personal data deleted on request",
    AuditAction.IDENTITY_REMOVED: "Personal data removed after the retention period",
    AuditAction.PRIVACY_NOTICE_ACKNOWLEDGED: "Read the updated privacy notice",
    AuditAction.RETENTION_RUN: "Data retention run",
}


class AuditEvent(Base):
    """Written by mecc_volunteer.audit.record only; never updated (a database trigger refuses it)."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    action: Mapped[AuditAction] = mapped_column(sa.Enum(AuditAction, native_enum=False, length=40))
    actor_kind: Mapped[ActorKind] = mapped_column(sa.Enum(ActorKind, native_enum=False, length=20))
    staff_user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_users.id"))
    training_session_id: Mapped[int | None] = mapped_column(sa.ForeignKey("training_sessions.id"), index=True)
    booking_id: Mapped[int | None] = mapped_column(sa.ForeignKey("bookings.id"), index=True)
    # The staff account an admin action was about (staff_user_id is who did it).
    target_staff_user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_users.id"), index=True)
    # The volunteer a data request was about (volunteer rows are never deleted, only emptied of identity).
    volunteer_id: Mapped[int | None] = mapped_column(sa.ForeignKey("volunteers.id"), index=True)
    from_status: Mapped[BookingStatus | None] = mapped_column(sa.Enum(BookingStatus, native_enum=False, length=20))
    to_status: Mapped[BookingStatus | None] = mapped_column(sa.Enum(BookingStatus, native_enum=False, length=20))
    # Counts, ids and field names only (e.g. "3 people", "from session 12", "capacity, joining link").
    detail: Mapped[str | None] = mapped_column(sa.String(200))

    staff_user: Mapped[StaffUser | None] = relationship(foreign_keys=[staff_user_id])
    target_staff_user: Mapped[StaffUser | None] = relationship(foreign_keys=[target_staff_user_id])
    booking: Mapped[Booking | None] = relationship()

    @property
    def by_whom(self) -> str:
        """'by Sam Jones', 'by the volunteer' or 'automatically', as the trail shows it."""
        if self.actor_kind is ActorKind.STAFF:
            return f"by {self.staff_user.name}" if self.staff_user is not None else "by a staff member"
        if self.actor_kind is ActorKind.VOLUNTEER:
            return "by the volunteer"
        return "automatically"

    def __repr__(self) -> str:
        return f"<AuditEvent {self.id} {self.action.value}>"
