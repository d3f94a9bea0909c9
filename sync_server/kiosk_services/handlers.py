"""What each kiosk service request does; :meth:`KioskServices.handle` answers one.

Every answer is a :class:`contract.ServiceResponse`; every request leaves an ``AuditEvent``
(the station as actor, the card holder's id or the petition number as subject, never a
phone number, code or password). Rate limits: per card and per phone for the password reset
and the e-ID registration, the tracking page's own limits for tracking (the station counts
as the "IP"), per username and per station for operator logins. A code verifies only for the
account, card or petition it was sent for (the OTP ``subject``); see docs/security.md. Before
any of that, every request is charged to the station's budgets (``sync_server/budgets``): per
action, and all SMS-sending actions together. Before even that, a request that arrives
after its kiosk stopped waiting (older than ``KIOSK_REQUEST_MAX_AGE_S`` by its ``sent_at``:
a frozen broker or a network drop held it) is refused and audited ``stale``, and nothing is
done for it: no code is texted to a resident who has gone.
"""

from __future__ import annotations

import hmac
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from contract import PetitionStatus, ServiceRequest, ServiceResponse, StatusStep, Ward
from sync_server.audit import audit
from sync_server.bills.handlers import ACTIONS as BILL_ACTIONS
from sync_server.bills.handlers import BillServices
from sync_server.bills.payments import Billing
from sync_server.budgets import OverBudgetError, StationBudgets, StationQuarantinedError
from sync_server.budgets.policy import SMS, SMS_ACTIONS, service_kind
from sync_server.checkups.adapter import ClinicError
from sync_server.checkups.service import CheckupRefusedError, CheckupService
from sync_server.db import write_transaction
from sync_server.kiosk_services.models import IdentityCredential
from sync_server.operators import sessions
from sync_server.operators.login_limits import (
    LOGIN_PER_STATION,
    count_login_attempt,
    login_limiter,
)
from sync_server.otp import (
    OtpAttemptsExceededError,
    OtpDeliveryError,
    OtpExpiredError,
    OtpRateLimitedError,
    OtpService,
    service_from_config,
    subject_of,
)
from sync_server.petitions import service as petitions
from sync_server.ratelimit import Limit, RateLimitedError, RateLimiter
from sync_server.records.accounts import (
    Declared,
    IdentityRegistrationError,
    register_identity_level1,
    reset_password,
    wards_without_account,
)
from sync_server.records.models import IdentityAccount, InsuranceAccount
from sync_server.records.passwords import hash_password
from sync_server.sms import gateway_from_config
from sync_server.tracking import service as tracking

log = logging.getLogger(__name__)

#: Petitions listed for the card holder, newest first.
MY_PETITIONS = 20
#: Purposes a kiosk may send a bare code for (the others have their own start actions).
BARE_OTP_PURPOSES = ("petition",)
#: The roles that may log in at a counter.
COUNTER_ROLES = ("officer", "administrator")
#: A kiosk waits 5 s (``sync.lookup_timeout_s``); a request older than this was held by the
#: network and nobody waits for it. The margin covers clock offset between station and
#: server (both keep NTP time); see docs/kiosk.md "Network honesty".
REQUEST_MAX_AGE_S = 15.0


def billing_from_config(config: Mapping[str, Any]) -> Billing | None:
    """The deployment's billing, or None when its payment settings are incomplete."""
    from sync_server.bills.config import BillsConfigError

    try:
        return Billing.from_config(config)
    except BillsConfigError as exc:
        log.info("bills not offered: %s", exc)
        return None


class MissingFieldError(ValueError):
    """The request lacks a field its action needs."""

    def __init__(self, field: str) -> None:
        super().__init__(field)
        self.field = field


@dataclass(frozen=True)
class KioskLimits:
    """Per card and per phone, over an hour: password-reset and e-ID starts."""

    per_card: Limit
    per_phone: Limit

    @classmethod
    def default(cls) -> KioskLimits:
        """Five starts per card and five per phone an hour."""
        return cls(
            Limit("kiosk-card", 5, timedelta(hours=1)), Limit("kiosk-phone", 5, timedelta(hours=1))
        )


def strong_enough(password: str) -> bool:
    """At least 8 characters with a letter and a digit (the kiosk's meter asks for more)."""
    return (
        len(password) >= 8
        and re.search(r"[A-Za-z]", password) is not None
        and re.search(r"[0-9]", password) is not None
    )


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def reset_subject(request: ServiceRequest) -> str:
    """What a password-reset code is bound to: the account and the phone it was sent to."""
    return subject_of(request.insurance_number, request.citizen_id, request.phone)


def eid_subject(request: ServiceRequest) -> str:
    """What an e-ID registration code is bound to: the card holder, the phone it was sent to
    and whether the holder registers as a guardian."""
    return subject_of(request.citizen_id, request.phone, "guardian" if request.guardian else "self")


def _need(request: ServiceRequest, *names: str) -> None:
    for name in names:
        if getattr(request, name) in (None, ""):
            raise MissingFieldError(name)


class KioskServices:
    """Answers kiosk service requests; one per worker."""

    def __init__(
        self,
        otp: OtpService,
        tracking_limits: tracking.TrackingLimits,
        limits: KioskLimits | None = None,
        budgets: StationBudgets | None = None,
        login_limiter: RateLimiter | None = None,
        *,
        max_age_s: float = REQUEST_MAX_AGE_S,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        billing: Billing | None = None,
        checkups: CheckupService | None = None,
    ) -> None:
        self.otp = otp
        self.max_age = timedelta(seconds=max_age_s)
        self._clock = clock
        #: Check-ups (seed 002); None: no clinic, every check-up request is refused.
        self.checkups = checkups
        self.budgets = budgets or StationBudgets()
        self.tracking_limits = tracking_limits
        self.limits = limits or KioskLimits.default()
        #: Counts operator logins; the worker passes the web login page's limiter
        #: (:func:`~sync_server.operators.login_limits.login_limiter`) so both share the
        #: per-username budget.
        self.login_limiter = login_limiter or otp.limiter
        self._actions: dict[str, Callable[[str, ServiceRequest], ServiceResponse]] = {
            "otp.send": self._otp_send,
            "otp.check": self._otp_check,
            "password.start": self._password_start,
            "password.reset": self._password_reset,
            "eid.start": self._eid_start,
            "eid.register": self._eid_register,
            "eid.wards": self._eid_wards,
            "petitions.mine": self._petitions_mine,
            "track.start": self._track_start,
            "track.check": self._track_check,
            "operator.login": self._operator_login,
            "operator.touch": self._operator_touch,
            "operator.logout": self._operator_logout,
            "checkup.slots": self._checkup_slots,
            "checkup.book": self._checkup_book,
            "checkup.cancel": self._checkup_cancel,
            "checkup.mine": self._checkup_mine,
        }
        #: Bills and insurance (seed 002): None when the deployment offers no payments.
        self.bills = BillServices(billing, self.budgets)
        for action in BILL_ACTIONS:
            self._actions[action] = self.bills.handle

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> KioskServices:
        """The services for a server config: its secret, SMS driver, OTP and tracking limits;
        operator logins counted with the web login page's limiter."""
        secret = config["SECRET_KEY"]
        otp = service_from_config(config, gateway_from_config(config))
        return cls(
            otp,
            tracking.TrackingLimits.from_config(config),
            login_limiter=login_limiter(secret.encode() if isinstance(secret, str) else secret),
            max_age_s=float(config.get("KIOSK_REQUEST_MAX_AGE_S", REQUEST_MAX_AGE_S)),
            billing=billing_from_config(config),
            checkups=CheckupService.from_config(config, otp.outbox),
        )

    def handle(self, station_id: str, request: ServiceRequest) -> ServiceResponse:
        """Do what ``request`` asks and say how it went (never raises for a citizen's error)."""
        if self.stale(request):
            # Not charged, not done: the kiosk gave up on it long ago.
            self._audit(station_id, request, None, "stale")
            return ServiceResponse(status="refused", reason="stale_request")
        kinds = [service_kind(request.action)]
        if request.action in SMS_ACTIONS:
            kinds.append(SMS)
        try:
            self.budgets.charge(station_id, kinds)
        except StationQuarantinedError:
            self._audit(station_id, request, None, "station_quarantined")
            return ServiceResponse(status="refused", reason="station_quarantined")
        except OverBudgetError as exc:
            self._audit(station_id, request, None, "over_budget")
            reason = f"over_budget:{exc.kind}"[:64]
            return ServiceResponse(
                status="rate_limited", reason=reason, retry_after_s=exc.retry_after_s
            )
        try:
            return self._actions[request.action](station_id, request)
        except MissingFieldError as exc:
            return ServiceResponse(status="refused", reason=f"missing_{exc.field}")
        except StationQuarantinedError:  # a budget charged by the action itself
            return ServiceResponse(status="refused", reason="station_quarantined")
        except OverBudgetError as exc:
            reason = f"over_budget:{exc.kind}"[:64]
            return ServiceResponse(
                status="rate_limited", reason=reason, retry_after_s=exc.retry_after_s
            )
        except (RateLimitedError, OtpRateLimitedError) as exc:
            self._audit(station_id, request, None, "rate_limited")
            return ServiceResponse(status="rate_limited", retry_after_s=exc.retry_after_s)
        except OtpAttemptsExceededError:
            return ServiceResponse(status="expired", reason="too_many_wrong_codes")
        except OtpExpiredError as exc:
            return ServiceResponse(status="expired", reason=exc.reason)
        except OtpDeliveryError:
            return ServiceResponse(status="error", reason="sms_failed")
        except tracking.TrackingInputError as exc:
            return ServiceResponse(status="refused", reason=f"bad_{exc.field}")
        except CheckupRefusedError as exc:
            self._audit(station_id, request, request.citizen_id, exc.reason)
            return ServiceResponse(status="refused", reason=exc.reason)
        except ClinicError:
            return ServiceResponse(status="error", reason="clinic_unavailable")

    def stale(self, request: ServiceRequest) -> bool:
        """Whether ``request`` was sent longer ago than any kiosk waits for an answer."""
        return request.sent_at is not None and self._clock() - request.sent_at > self.max_age

    # -- bare codes (petitions) --------------------------------------------------------

    def _otp_send(self, station_id: str, request: ServiceRequest) -> ServiceResponse:
        _need(request, "phone", "purpose")
        if request.purpose not in BARE_OTP_PURPOSES:
            return ServiceResponse(status="refused", reason="purpose_not_allowed")
        ticket = self.otp.issue(request.phone, request.purpose)
        return ServiceResponse(status="ok", ticket=ticket.id, expires_at=ticket.expires_at)

    def _otp_check(self, station_id: str, request: ServiceRequest) -> ServiceResponse:
        _need(request, "purpose", "ticket", "code")
        if request.purpose not in BARE_OTP_PURPOSES:
            return ServiceResponse(status="refused", reason="purpose_not_allowed")
        ok = self.otp.verify(request.purpose, request.code, ticket_id=request.ticket)
        return ServiceResponse(status="ok" if ok else "wrong_code")

    # -- seed 000: insurance e-account password reset ----------------------------------

    def _matching_account(self, request: ServiceRequest) -> InsuranceAccount | None:
        """The card holder's e-account when the insurance number and the phone match it."""
        account = InsuranceAccount.get_or_none(
            InsuranceAccount.insurance_number == request.insurance_number
        )
        registered = account.phone if account is not None else "\0" * 10
        phone_ok = hmac.compare_digest(registered.encode(), request.phone.encode())
        if account is None or not phone_ok or account.citizen_id != request.citizen_id:
            return None
        return account

    def _password_start(self, station_id: str, request: ServiceRequest) -> ServiceResponse:
        _need(request, "citizen_id", "insurance_number", "phone")
        self.otp.limiter.hit(
            [(self.limits.per_card, request.citizen_id), (self.limits.per_phone, request.phone)]
        )
        if self._matching_account(request) is None:
            self._audit(station_id, request, request.citizen_id, "no_match")
            return ServiceResponse(status="no_match")
        ticket = self.otp.issue(
            request.phone, "kiosk_password_reset", subject=reset_subject(request)
        )
        self._audit(station_id, request, request.citizen_id, "code_sent")
        return ServiceResponse(status="ok", ticket=ticket.id, expires_at=ticket.expires_at)

    def _password_reset(self, station_id: str, request: ServiceRequest) -> ServiceResponse:
        _need(request, "citizen_id", "insurance_number", "phone", "ticket", "code")
        # The code must be the one sent for this very account and phone: a code received on
        # one's own phone never resets another account.
        verified = self.otp.verify(
            "kiosk_password_reset",
            request.code,
            ticket_id=request.ticket,
            subject=reset_subject(request),
        )
        if not verified:
            self._audit(station_id, request, request.citizen_id, "wrong_code")
            return ServiceResponse(status="wrong_code")
        if self._matching_account(request) is None:
            return ServiceResponse(status="no_match")
        password = reset_password(request.insurance_number, request.phone)
        if password is None:
            return ServiceResponse(status="no_match")
        self._audit(station_id, request, request.citizen_id, "reset")
        return ServiceResponse(status="ok", temporary_password=password)

    # -- seed 001: electronic identity, level 1 ----------------------------------------

    def _eid_start(self, station_id: str, request: ServiceRequest) -> ServiceResponse:
        _need(request, "citizen_id", "phone")
        self.otp.limiter.hit(
            [(self.limits.per_card, request.citizen_id), (self.limits.per_phone, request.phone)]
        )
        own = IdentityAccount.get_or_none(IdentityAccount.citizen == request.citizen_id)
        if request.guardian and own is None:
            return ServiceResponse(status="refused", reason="guardian_not_registered")
        if not request.guardian and own is not None:
            return ServiceResponse(status="refused", reason="already_registered", level=own.level)
        ticket = self.otp.issue(request.phone, "eid_register", subject=eid_subject(request))
        self._audit(station_id, request, request.citizen_id, "code_sent")
        return ServiceResponse(status="ok", ticket=ticket.id, expires_at=ticket.expires_at)

    def _eid_register(self, station_id: str, request: ServiceRequest) -> ServiceResponse:
        _need(request, "citizen_id", "phone", "ticket", "code", "declared", "password")
        declared = request.declared
        if not request.guardian and declared.citizen_id != request.citizen_id:
            return ServiceResponse(status="refused", reason="card_mismatch")
        if not strong_enough(request.password):
            return ServiceResponse(status="refused", reason="weak_password")
        verified = self.otp.verify(
            "eid_register", request.code, ticket_id=request.ticket, subject=eid_subject(request)
        )
        if not verified:
            self._audit(station_id, request, request.citizen_id, "wrong_code")
            return ServiceResponse(status="wrong_code")
        try:
            account = register_identity_level1(
                Declared(
                    citizen_id=declared.citizen_id,
                    first_th=declared.first_th,
                    last_th=declared.last_th,
                    date_of_birth=declared.date_of_birth,
                    phone=request.phone,
                    email=declared.email,
                    passport_number=declared.passport_number,
                    nationality=declared.nationality,
                ),
                guardian_citizen_id=request.citizen_id if request.guardian else None,
            )
        except IdentityRegistrationError as exc:
            self._audit(station_id, request, declared.citizen_id, exc.reason)
            return ServiceResponse(status="refused", reason=exc.reason)
        with write_transaction():
            IdentityCredential.replace(
                citizen_id=declared.citizen_id, password_hash=hash_password(request.password)
            ).execute()
        self._audit(station_id, request, declared.citizen_id, "registered")
        return ServiceResponse(status="ok", level=account.level)

    def _eid_wards(self, station_id: str, request: ServiceRequest) -> ServiceResponse:
        """The people the register links to the card holder who register through them."""
        _need(request, "citizen_id")
        if IdentityAccount.get_or_none(IdentityAccount.citizen == request.citizen_id) is None:
            self._audit(station_id, request, request.citizen_id, "guardian_not_registered")
            return ServiceResponse(status="refused", reason="guardian_not_registered")
        wards = [
            Ward(
                citizen_id=person.citizen_id,
                prefix_th=person.prefix_th,
                first_th=person.first_th,
                last_th=person.last_th,
                date_of_birth=person.date_of_birth,
                birth_year=person.birth_year,
                relation=relation,
                why="minor" if person.legal_capacity else "no_legal_capacity",
            )
            for person, relation in wards_without_account(request.citizen_id)
        ]
        self._audit(station_id, request, request.citizen_id, f"{len(wards)}_found")
        return ServiceResponse(status="ok", wards=wards)

    # -- seed 004: tracking ------------------------------------------------------------

    def _petitions_mine(self, station_id: str, request: ServiceRequest) -> ServiceResponse:
        _need(request, "citizen_id")
        mine = [self._status_of(p) for p in petitions.of_citizen(request.citizen_id, MY_PETITIONS)]
        self._audit(station_id, request, request.citizen_id, f"{len(mine)}_found")
        return ServiceResponse(status="ok", petitions=mine)

    def _track_start(self, station_id: str, request: ServiceRequest) -> ServiceResponse:
        _need(request, "number", "phone")
        _, ticket = tracking.start(
            request.number,
            request.phone,
            ip=f"station:{station_id}",
            otp=self.otp,
            limits=self.tracking_limits,
        )
        return ServiceResponse(status="ok", ticket=ticket.id, expires_at=ticket.expires_at)

    def _track_check(self, station_id: str, request: ServiceRequest) -> ServiceResponse:
        _need(request, "number", "phone", "ticket", "code")
        number = tracking.normalize_number(request.number)
        # The ticket's code verifies only for the petition it was sent for (and a pair that
        # did not match at the start got a decoy, which never verifies): a code for one's own
        # petition opens no other.
        ok = tracking.verify(
            request.ticket,
            request.code,
            number=number,
            ip=f"station:{station_id}",
            otp=self.otp,
            limits=self.tracking_limits,
        )
        petition = petitions.find(number)
        if not ok or petition is None:
            return ServiceResponse(status="wrong_code")
        self._audit(station_id, request, number, "shown")
        return ServiceResponse(status="ok", petitions=[self._status_of(petition)])

    @staticmethod
    def _status_of(petition: petitions.PetitionSummary) -> PetitionStatus:
        steps = [StatusStep(status=s.status, at=_aware(s.at)) for s in petition.history]
        return PetitionStatus(
            number=petition.number,
            service=petition.service,
            status=petition.status,
            received_at=_aware(petition.received_at),
            history=steps,
        )

    # -- counter mode (seed 003): an officer logged in at this station ------------------

    def _operator_login(self, station_id: str, request: ServiceRequest) -> ServiceResponse:
        _need(request, "username", "password")
        machine = f"station:{station_id}"
        # Counted before any password is checked (RateLimitedError: the usual rate_limited).
        count_login_attempt(self.login_limiter, request.username, LOGIN_PER_STATION, machine)
        try:
            operator, token = sessions.open_session(
                request.username, request.password, machine, roles=COUNTER_ROLES
            )
        except sessions.BadCredentials:
            # Also a right password of a role that may not serve at a counter: the answer
            # never tells a guesser that the password was right (the audit trail does).
            return ServiceResponse(status="refused", reason="bad_credentials")
        except sessions.AccountLocked:
            return ServiceResponse(status="refused", reason="account_locked")
        except sessions.AlreadyLoggedIn:
            return ServiceResponse(status="refused", reason="already_logged_in")
        return ServiceResponse(
            status="ok",
            session=token,
            operator_name=operator.display_name,
            operator_position=operator.position or None,
        )

    @staticmethod
    def _operator_touch(station_id: str, request: ServiceRequest) -> ServiceResponse:
        _need(request, "session")
        if sessions.touch(request.session):
            return ServiceResponse(status="ok")
        return ServiceResponse(status="refused", reason="session_ended")

    @staticmethod
    def _operator_logout(station_id: str, request: ServiceRequest) -> ServiceResponse:
        _need(request, "session")
        sessions.close_session(request.session)
        return ServiceResponse(status="ok")

    # -- seed 002: check-ups with telemedicine, for the card holder ----------------------

    def _checkup_service(self) -> CheckupService:
        if self.checkups is None:
            raise CheckupRefusedError("no_clinic")
        return self.checkups

    def _checkup_slots(self, station_id: str, request: ServiceRequest) -> ServiceResponse:
        _need(request, "citizen_id")
        slots = self._checkup_service().slots(station_id, request.citizen_id)
        return ServiceResponse(status="ok", slots=slots)

    def _checkup_book(self, station_id: str, request: ServiceRequest) -> ServiceResponse:
        _need(request, "citizen_id", "slot")
        booking = self._checkup_service().book(
            station_id, request.citizen_id, request.slot, request.language
        )
        return ServiceResponse(status="ok", bookings=[booking])

    def _checkup_cancel(self, station_id: str, request: ServiceRequest) -> ServiceResponse:
        _need(request, "citizen_id", "booking")
        booking = self._checkup_service().cancel(station_id, request.citizen_id, request.booking)
        return ServiceResponse(status="ok", bookings=[booking])

    def _checkup_mine(self, station_id: str, request: ServiceRequest) -> ServiceResponse:
        _need(request, "citizen_id")
        bookings = self._checkup_service().mine(station_id, request.citizen_id)
        return ServiceResponse(status="ok", bookings=bookings)

    @staticmethod
    def _audit(station_id: str, request: ServiceRequest, subject: str | None, outcome: str) -> None:
        with write_transaction():
            audit(f"station:{station_id}", f"kiosk.{request.action}", subject, outcome)
