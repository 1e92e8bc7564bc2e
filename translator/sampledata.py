"""Generate realistic, deterministic CloudAppEvents and EmailEvents rows as JSON Lines.

The rows follow the Defender XDR Advanced Hunting schemas in `schemas/` and the
way Defender exports them: datetimes as ISO 8601 UTC strings with 7 fractional
digits, `dynamic` columns as JSON objects or arrays, bools as true/false.

Every value comes from `random.Random(seed)` and the generators derived from
it, and only through `Random.random()`. Python guarantees that method's
sequence for a given seed across versions, which the other methods (`choice`,
`randrange`, `getrandbits`) do not, so the same seed and counts give
byte-identical files on any supported Python. The clock is never read.

Only `+`, `-`, `*` and `/` touch floats, because IEEE 754 rounds those exactly
on every platform, while `math.exp` and its kin come from the C library.

Quarantine releases are planned before any row is written. A release in
CloudAppEvents names, in `RawEventData.NetworkMessageId`, a quarantined message
of EmailEvents, and its timestamp is later than that message's. Both tables
are then streamed in timestamp order. Only the plan stays in memory, and it
has a few entries per hundred CloudAppEvents rows.
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import gzip as gzip_module
import json
import math
import os
import random
import sys
from bisect import bisect_right
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

CLOUDAPP_TABLE = "CloudAppEvents"
EMAIL_TABLE = "EmailEvents"
TABLES = (CLOUDAPP_TABLE, EMAIL_TABLE)

DEFAULT_CLOUDAPP_COUNT = 2000
DEFAULT_EMAIL_COUNT = 1000
DEFAULT_SEED = 1

# A fixed window keeps the output independent of the date it is generated on.
WINDOW_START = dt.datetime(2026, 11, 16, tzinfo=dt.timezone.utc)
WINDOW_DAYS = 14
TICKS_PER_SECOND = 10_000_000  # 100 ns ticks, the resolution of KQL datetimes
WINDOW_TICKS = WINDOW_DAYS * 86_400 * TICKS_PER_SECOND
MINUTE_TICKS = 60 * TICKS_PER_SECOND
HOUR_TICKS = 60 * MINUTE_TICKS

# Share of CloudAppEvents rows that are QuarantineReleaseMessage records.
RELEASE_SHARE = 0.01

ORG_DOMAIN = "contoso.com"
SHAREPOINT_HOST = "https://contoso.sharepoint.com"
ONEDRIVE_HOST = "https://contoso-my.sharepoint.com"
USER_COUNT = 320
SECURITY_ADMIN_COUNT = 6
OTHER_ADMIN_COUNT = 5

# ASCII output (non-ASCII characters as \u escapes) writes faster than UTF-8 text
# because encoding it to bytes is a plain copy.
_encode = json.JSONEncoder(separators=(",", ":"), check_circular=False).encode
# Lines per write. Writing 200,000 CloudAppEvents rows on a 2-core Linux VM
# took about half the system time with 100-line batches as with 2,000-line ones.
WRITE_BATCH = 100


# ---------------------------------------------------------------------------
# Random helpers. Each takes the bound `random` method of one generator.

Rand = Callable[[], float]


def _pick(rnd: Rand, items: Sequence):
    return items[int(rnd() * len(items))]


def _chance(rnd: Rand, probability: float) -> bool:
    return rnd() < probability


def _int_between(rnd: Rand, low: int, high: int) -> int:
    """Return an integer in [low, high], both ends included."""
    return low + int(rnd() * (high - low + 1))


def _skewed_ticks(rnd: Rand, low: int, high: int) -> int:
    """Return a duration in [low, high) ticks, short ones more likely than long ones."""
    fraction = rnd()
    return low + int((high - low) * fraction * fraction * fraction)


def _guid(rnd: Rand) -> str:
    # 52 + 52 + 24 random bits fill the 32 hex digits of a GUID.
    digits = "%013x%013x%06x" % (
        int(rnd() * 0x10000000000000),
        int(rnd() * 0x10000000000000),
        int(rnd() * 0x1000000),
    )
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"


def _hex(rnd: Rand, length: int) -> str:
    """Return `length` random upper-case hex digits, 13 (52 bits) per `random()` call."""
    parts = []
    while length > 0:
        digits = min(13, length)
        parts.append("%0*X" % (digits, int(rnd() * (1 << (4 * digits)))))
        length -= digits
    return "".join(parts)


def _public_ipv4(rnd: Rand, first_octets: tuple[int, int]) -> str:
    return f"{first_octets[0]}.{first_octets[1]}.{_int_between(rnd, 0, 255)}.{_int_between(rnd, 1, 254)}"


class _Deck:
    """Cards dealt from repeatedly shuffled copies of one deck.

    Dealing keeps the shares of a small sample close to the deck's
    composition, where independent draws would often miss a rare card.
    """

    def __init__(self, rnd: Rand, cards: Sequence):
        self.rnd = rnd
        self.cards = tuple(cards)
        self.remaining: list = []

    def deal(self):
        if not self.remaining:
            deck = list(self.cards)
            for index in range(len(deck) - 1, 0, -1):  # Fisher-Yates on `random()` alone
                other = int(self.rnd() * (index + 1))
                deck[index], deck[other] = deck[other], deck[index]
            self.remaining = deck
        return self.remaining.pop()


class _Weighted:
    """Items with relative weights, picked by one `random()` call each."""

    def __init__(self, pairs: Sequence[tuple[object, float]]):
        self.items = [item for item, _ in pairs]
        self.cumulative: list[float] = []
        total = 0.0
        for _, weight in pairs:
            total += weight
            self.cumulative.append(total)
        self.total = total

    def pick(self, rnd: Rand):
        return self.items[bisect_right(self.cumulative, rnd() * self.total)]


# ---------------------------------------------------------------------------
# Datetime formatting, the hot path of both tables.

@functools.lru_cache(maxsize=4096)
def _minute_prefix(minute: int) -> str:
    moment = WINDOW_START + dt.timedelta(minutes=minute)
    return moment.strftime("%Y-%m-%dT%H:%M:")


def format_timestamp(ticks: int) -> str:
    """Format ticks after WINDOW_START as Defender does: `2026-11-30T08:15:02.1234567Z`."""
    seconds, fraction = divmod(ticks, TICKS_PER_SECOND)
    minute, second = divmod(seconds, 60)
    return f"{_minute_prefix(minute)}{second:02d}.{fraction:07d}Z"


def _format_creation_time(ticks: int) -> str:
    """Format ticks as an Office 365 audit record `CreationTime`: UTC, whole seconds, no zone."""
    minute, second = divmod(ticks // TICKS_PER_SECOND, 60)
    return f"{_minute_prefix(minute)}{second:02d}"


# ---------------------------------------------------------------------------
# Fixed vocabulary. Company and person names are fictional, and phishing
# domains use the reserved `.example` top-level domain.

FIRST_NAMES = (
    "Adele", "Alex", "Amara", "Anika", "Arjun", "Beatriz", "Bruno", "Carlos", "Chen", "Chloe",
    "Daniel", "Dmitri", "Elena", "Emeka", "Fatima", "Felix", "Grace", "Hana", "Hiro", "Ines",
    "Isaac", "Jamal", "Joanna", "Jonas", "Kai", "Karin", "Lars", "Leila", "Lucas", "Maya",
    "Mateo", "Mei", "Nadia", "Noah", "Olga", "Omar", "Priya", "Rafael", "Sara", "Sven",
    "Tariq", "Thandiwe", "Tomasz", "Valentina", "Wei", "Yara", "Yusuf", "Zoe", "José", "Zoë",
)
LAST_NAMES = (
    "Abara", "Andersen", "Bauer", "Becker", "Costa", "Dubois", "Eriksson", "Fernandes", "Garcia", "Haddad",
    "Ito", "Jansen", "Kowalski", "Kumar", "Larsen", "Li", "Martin", "Mbeki", "Meyer", "Moreau",
    "Nakamura", "Novak", "Okafor", "Olsen", "Patel", "Petrov", "Quinn", "Rossi", "Santos", "Schmidt",
    "Silva", "Singh", "Suzuki", "Tanaka", "Vargas", "Wagner", "Walsh", "Wong", "Yilmaz", "Zhang",
    "Müller", "Núñez",
)

# (CountryCode, City, Isp, first two octets of the addresses handed out there).
HOME_LOCATIONS = (
    ("US", "Seattle", "Comcast Cable Communications", (73, 97)),
    ("US", "Redmond", "Contoso Corporate Network", (52, 160)),
    ("US", "New York", "Verizon Business", (71, 190)),
    ("US", "Austin", "AT&T Services", (99, 41)),
    ("GB", "London", "British Telecommunications PLC", (86, 128)),
    ("DE", "Munich", "Deutsche Telekom AG", (91, 54)),
    ("FR", "Paris", "Orange S.A.", (90, 12)),
    ("NL", "Amsterdam", "KPN B.V.", (145, 53)),
    ("IN", "Bengaluru", "Bharti Airtel Ltd.", (122, 171)),
    ("JP", "Tokyo", "NTT Communications Corporation", (153, 203)),
    ("BR", "Sao Paulo", "Claro S.A.", (177, 33)),
    ("AU", "Sydney", "Telstra Corporation", (101, 160)),
)
# (CountryCode, City, Isp, octets, IsAnonymousProxy, IPCategory, IPTags) for sign-ins from elsewhere.
AWAY_LOCATIONS = (
    ("ES", "Madrid", "Telefonica de Espana", (83, 45), False, "", []),
    ("US", "Chicago", "T-Mobile USA", (172, 58), False, "", []),
    ("SG", "Singapore", "Singtel", (116, 87), False, "", []),
    ("US", "Ashburn", "Amazon.com", (3, 85), False, "Cloud provider", ["Cloud provider"]),
    ("NL", "Amsterdam", "M247 Europe SRL", (185, 220), True, "Anonymous proxy", ["Anonymous proxy", "Tor"]),
    ("NG", "Lagos", "MTN Nigeria", (102, 89), False, "Risky", []),
    ("RO", "Bucharest", "Digi Romania", (86, 120), True, "VPN", ["VPN"]),
)

# (UserAgent, DeviceType, OSPlatform, UserAgentTags)
USER_AGENTS = (
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0", "Desktop", "Windows 10", []),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/130.0.0.0 Safari/537.36", "Desktop", "Windows 10", []),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
     "Version/18.1 Safari/605.1.15", "Desktop", "macOS", []),
    ("Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.18129; Pro)", "Desktop", "Windows 10",
     ["Native client"]),
    ("Microsoft SkyDriveSync 24.211.1020.0001 ship; Windows NT 10.0 (22631)", "Desktop", "Windows 11",
     ["Native client"]),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Teams/24295.605.3225.8804 Chrome/130.0.6723.59 Electron/33.0.2 Safari/537.36", "Desktop", "Windows 11",
     ["Native client"]),
    ("Outlook-iOS/2.0", "Mobile", "iOS", ["Native client"]),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
     "Version/18.1 Mobile/15E148 Safari/604.1", "Mobile", "iOS", []),
    ("Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/131.0.6778.39 Mobile Safari/537.36", "Mobile", "Android", []),
    ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/119.0.0.0 Safari/537.36", "Desktop", "Linux", ["Outdated browser"]),
    ("python-requests/2.31.0", "Other", "", []),
)

SITES = ("Finance", "HR", "Legal", "Marketing", "Engineering", "Sales", "ProjectAtlas", "ITSupport", "Executive")
FILE_STEMS = (
    "Q3 Budget Review", "Employee Handbook 2026", "Board Deck", "Contract - Fabrikam", "Roadmap",
    "Payroll Export", "Customer List", "Invoice 44817", "Architecture Overview", "Onboarding Checklist",
    "Pricing Model", "Meeting Notes", "Vendor Assessment", "Incident Postmortem", "Travel Policy",
)
FILE_EXTENSIONS = ("docx", "xlsx", "pptx", "pdf", "txt", "csv", "zip", "png")
TEAM_NAMES = ("Finance Team", "Engineering", "Sales EMEA", "Project Atlas", "IT Helpdesk", "All Company")
CHANNEL_NAMES = ("General", "Announcements", "Standup", "Releases", "Random")
MAIL_FOLDERS = ("\\Inbox", "\\Sent Items", "\\Archive", "\\Deleted Items", "\\Inbox\\Projects")
MAIL_CLIENTS = (
    "Client=OWA;Action=ViaProxy",
    "Client=Microsoft Outlook 16.0.18129",
    "Client=REST;Client=RESTSystem;;",
    "Client=MSExchangeRPC",
)
# Entra ID application ids of Microsoft first-party clients, as they appear in sign-in records.
SIGN_IN_APPS = (
    "00000002-0000-0ff1-ce00-000000000000",  # Office 365 Exchange Online
    "d3590ed6-52b3-4102-aeff-aad2292ab01c",  # Microsoft Office
    "1fec8e78-bce4-4aaf-ab1b-5451cc387264",  # Microsoft Teams
    "4765445b-32c6-49b0-83e6-1d93765276ca",  # OfficeHome
)
DIRECTORY_ROLES = ("Security Reader", "Exchange Administrator", "User Administrator", "Global Reader")

PARTNER_DOMAINS = (
    "fabrikam.com", "adatum.com", "northwindtraders.com", "tailspintoys.com", "woodgrovebank.com",
    "litwareinc.com", "wingtiptoys.com", "proseware.com", "lucernepublishing.com", "margiestravel.com",
)
BULK_DOMAINS = ("news.tailspintoys.com", "offers.wingtiptoys.com", "mail.margiestravel.com", "em.proseware.com")
PHISH_DOMAINS = (
    "secure-contoso-login.example", "m1crosoft-account.example", "docu-sign-review.example",
    "sharepoint-files.example", "payroll-update.example", "woodgrovebank-verify.example",
    "mailbox-quota.example", "fabrikam-invoices.example",
)
SPAM_DOMAINS = ("best-deals-now.example", "crypto-yield.example", "pharma-discount.example", "prize-center.example")

PHISH_SUBJECTS = (
    "Action required: your mailbox storage is full",
    "Unusual sign-in activity detected on your account",
    "Invoice {n} is overdue - please review",
    "You have received a secure document via DocuSign",
    "Your password expires today",
    "Voicemail received from +1 425-555-{n4}",
    "Payroll update: confirm your direct deposit details",
    "{first} shared \"{file}\" with you",
    "Urgent: wire transfer approval needed",
    "Your Microsoft 365 subscription has been suspended",
)
SPAM_SUBJECTS = (
    "Congratulations! You have been selected",
    "Earn 18% monthly with our crypto fund",
    "Lowest prices on prescription meds",
    "Last chance: claim your reward",
)
BULK_SUBJECTS = (
    "Your weekly newsletter", "Black Friday: 40% off everything", "New arrivals you'll love",
    "Webinar invitation: Cloud security in 2027", "Your November statement is ready",
)
BUSINESS_SUBJECTS = (
    "Re: Q4 planning", "Meeting notes from today", "Contract renewal - {partner}", "Updated proposal attached",
    "Re: Project Atlas status", "Lunch on Friday?", "Invoice {n} from {partner}", "Agenda for next week",
    "FW: Customer escalation", "Travel itinerary", "Re: Architecture review", "Welcome to the team!",
    "Purchase order {n}", "Reminder: timesheets due", "Re: Re: Budget question",
)
MALWARE_NAMES = (
    "TrojanDownloader:O97M/Qakbot", "Trojan:Win32/Emotet", "Trojan:HTML/Phish", "Backdoor:JS/IcedID",
    "TrojanDownloader:JS/Agent",
)
# Mail addresses here are ASCII, so local parts drop the accents of the names above.
ASCII_FOLD = str.maketrans("éëüñú", "eeunu")

LANGUAGES = _Weighted((("en", 70), ("de", 6), ("fr", 5), ("es", 5), ("nl", 3), ("ja", 3), ("pt", 3), ("", 5)))

EMAIL_POLICIES = ("Antispam", "Antiphish", "Antimalware", "Safe Attachments", "Transport rule")


# ---------------------------------------------------------------------------
# The organization: users, admins and policy ids, drawn once per seed.

@dataclass(frozen=True)
class User:
    upn: str
    display_name: str
    object_id: str
    puid: str  # the `UserKey` that Exchange audit records carry
    location: tuple
    user_agent: tuple
    home_ip: str
    is_admin: bool
    session_ids: tuple[str, ...]  # `SessionData.InteractiveSessionId` values the user's rows draw from


@dataclass
class Organization:
    tenant_id: str
    users: list[User]
    security_admins: list[User]
    admins: list[User]
    policy_ids: dict[str, str]
    subject_clusters: dict[str, int] = field(default_factory=dict)


def _build_organization(rnd: Rand) -> Organization:
    tenant_id = _guid(rnd)
    users: list[User] = []
    used_local_parts: set[str] = set()
    admin_total = SECURITY_ADMIN_COUNT + OTHER_ADMIN_COUNT
    while len(users) < USER_COUNT:
        first = _pick(rnd, FIRST_NAMES)
        last = _pick(rnd, LAST_NAMES)
        local = f"{first}.{last}".lower().translate(ASCII_FOLD)
        if local in used_local_parts:
            local = f"{local}{len(users)}"
        used_local_parts.add(local)
        location = _pick(rnd, HOME_LOCATIONS)
        users.append(User(
            upn=f"{local}@{ORG_DOMAIN}",
            display_name=f"{first} {last}",
            object_id=_guid(rnd),
            puid="1003" + _hex(rnd, 12),
            location=location,
            user_agent=_pick(rnd, USER_AGENTS[:9]),
            home_ip=_public_ipv4(rnd, location[3]),
            is_admin=len(users) < admin_total,
            session_ids=tuple(_hex(rnd, 16).lower() for _ in range(4)),
        ))
    policy_ids = {name: _guid(rnd) for name in EMAIL_POLICIES}
    organization = Organization(
        tenant_id=tenant_id,
        users=users,
        security_admins=users[:SECURITY_ADMIN_COUNT],
        admins=users[:admin_total],
        policy_ids=policy_ids,
    )
    for subject in PHISH_SUBJECTS + SPAM_SUBJECTS + BULK_SUBJECTS + BUSINESS_SUBJECTS:
        organization.subject_clusters[subject] = _int_between(rnd, 1_000_000_000, 9_999_999_999)
    return organization


# ---------------------------------------------------------------------------
# The plan: which messages get quarantined and released, and when.

VERDICT_PHISH_HIGH = "phish-high"
VERDICT_PHISH_LOW = "phish-low"
VERDICT_SPAM = "spam"
VERDICT_BULK = "bulk"

# Verdicts of released messages: about 5 high confidence phish in 10.
RELEASED_VERDICT_DECK = (VERDICT_PHISH_HIGH,) * 5 + (VERDICT_PHISH_LOW,) * 2 + (VERDICT_SPAM,) * 2 + (VERDICT_BULK,)

# Kinds of release: 1 in 10 has no NetworkMessageId, 2 in 10 name a message
# that is not in EmailEvents, and the rest name a message that is.
STORY_WITHOUT_MESSAGE_ID, STORY_UNKNOWN_MESSAGE, STORY_KNOWN_MESSAGE = "no-id", "unknown", "known"
STORY_DECK = (STORY_WITHOUT_MESSAGE_ID,) + (STORY_UNKNOWN_MESSAGE,) * 2 + (STORY_KNOWN_MESSAGE,) * 7

# Values of the quarantine audit record (Office 365 Management Activity API, RecordType 65).
REQUEST_PREVIEW, REQUEST_DELETE, REQUEST_RELEASE, REQUEST_EXPORT, REQUEST_VIEW_HEADER, REQUEST_RELEASE_REQUEST = range(6)
SOURCE_PORTAL, SOURCE_CMDLET, SOURCE_URL_LINK = range(3)
QUARANTINE_REQUEST_TYPES = {
    "QuarantinePreviewMessage": REQUEST_PREVIEW,
    "QuarantineDeleteMessage": REQUEST_DELETE,
    "QuarantineReleaseMessage": REQUEST_RELEASE,
    "QuarantineExportMessage": REQUEST_EXPORT,
    "QuarantineViewHeader": REQUEST_VIEW_HEADER,
    "QuarantineReleaseRequest": REQUEST_RELEASE_REQUEST,
}


@dataclass(frozen=True)
class PlannedMessage:
    """A quarantined message of EmailEvents that CloudAppEvents records act on."""

    network_message_id: str
    ticks: int
    verdict: str
    recipients: tuple[User, ...]
    released: bool


@dataclass(frozen=True)
class PlannedQuarantineEvent:
    """A quarantine audit record at a fixed CloudAppEvents row."""

    action_type: str
    actor: User
    result_status: str
    request_source: int
    network_message_id: str | None
    release_to: str | None


@dataclass
class Plan:
    """The rows both tables must agree on, keyed by row index in each table."""

    organization: Organization
    messages: dict[int, PlannedMessage] = field(default_factory=dict)
    events: dict[int, PlannedQuarantineEvent] = field(default_factory=dict)


class _Planner:
    def __init__(self, rnd: Rand, organization: Organization, cloudapp_count: int, email_count: int):
        self.rnd = rnd
        self.organization = organization
        self.cloudapp_count = cloudapp_count
        self.email_count = email_count
        self.cloudapp_step = WINDOW_TICKS / cloudapp_count if cloudapp_count else 0.0
        self.email_step = WINDOW_TICKS / email_count if email_count else 0.0
        self.plan = Plan(organization)
        self.reserved_emails: set[int] = set()
        self.release_count = 0
        self.stories = _Deck(rnd, STORY_DECK)
        self.verdicts = _Deck(rnd, RELEASED_VERDICT_DECK)

    def build(self) -> Plan:
        target = round(self.cloudapp_count * RELEASE_SHARE)
        attempts = 0
        while self.release_count < target and attempts < 4 * target + 10:
            attempts += 1
            story = self.stories.deal()
            if story == STORY_WITHOUT_MESSAGE_ID:
                self._add_release_without_message_id()
            elif story == STORY_UNKNOWN_MESSAGE or self.email_count == 0:
                self._add_release_of_unknown_message()
            else:
                self._add_released_message()
        return self.plan

    def _place_event(self, earliest_ticks: int, event: PlannedQuarantineEvent) -> int | None:
        """Put `event` in the first free CloudAppEvents row whose time is at or after `earliest_ticks`."""
        index = math.ceil(earliest_ticks / self.cloudapp_step)
        while index in self.plan.events:
            index += 1
        if index >= self.cloudapp_count:
            return None
        self.plan.events[index] = event
        if event.action_type == "QuarantineReleaseMessage":
            self.release_count += 1
        return index

    def _release_status(self) -> str:
        return "Failed" if _chance(self.rnd, 0.12) else "Succeeded"

    def _add_release_without_message_id(self) -> None:
        rnd = self.rnd
        recipient = _pick(rnd, self.organization.users)
        event = PlannedQuarantineEvent(
            "QuarantineReleaseMessage", _pick(rnd, self.organization.security_admins), self._release_status(),
            _pick(rnd, (SOURCE_PORTAL, SOURCE_CMDLET)), None, recipient.upn,
        )
        self._place_event(int(rnd() * WINDOW_TICKS), event)

    def _add_release_of_unknown_message(self) -> None:
        """Plan a release of a message from before the window, so EmailEvents has no row for it."""
        rnd = self.rnd
        recipient = _pick(rnd, self.organization.users)
        event = PlannedQuarantineEvent(
            "QuarantineReleaseMessage", _pick(rnd, self.organization.security_admins), self._release_status(),
            _pick(rnd, (SOURCE_PORTAL, SOURCE_PORTAL, SOURCE_CMDLET)), _guid(rnd), recipient.upn,
        )
        self._place_event(int(rnd() * WINDOW_TICKS), event)

    def _reserve_email_rows(self, recipient_count: int) -> int | None:
        """Pick a free run of EmailEvents rows for one message, keeping a free row on each side."""
        for _ in range(20):
            first = int(self.rnd() * self.email_count)
            rows = range(first - 1, first + recipient_count + 1)
            if first + recipient_count > self.email_count:
                continue
            if any(row in self.reserved_emails for row in rows):
                continue
            self.reserved_emails.update(rows)
            return first
        return None

    def _add_released_message(self) -> None:
        rnd = self.rnd
        organization = self.organization
        verdict = self.verdicts.deal()
        recipient_count = 2 if _chance(rnd, 0.12) else 1
        first_row = self._reserve_email_rows(recipient_count)
        if first_row is None:
            self._add_release_of_unknown_message()
            return
        email_ticks = int((first_row + rnd()) * self.email_step)
        network_message_id = _guid(rnd)
        candidates = organization.users[SECURITY_ADMIN_COUNT:]
        recipients = (_pick(rnd, candidates),)
        while len(recipients) < recipient_count:
            other = _pick(rnd, candidates)
            if other not in recipients:
                recipients += (other,)
        admin = _pick(rnd, organization.security_admins)
        ticks = email_ticks

        # High confidence phish stays admin-only under the default quarantine
        # policy (AdminOnlyAccessPolicy), so only other verdicts get user requests.
        if verdict != VERDICT_PHISH_HIGH and _chance(rnd, 0.4):
            ticks += _skewed_ticks(rnd, 5 * MINUTE_TICKS, 12 * HOUR_TICKS)
            request = PlannedQuarantineEvent(
                "QuarantineReleaseRequest", recipients[0], "Succeeded",
                _pick(rnd, (SOURCE_URL_LINK, SOURCE_URL_LINK, SOURCE_PORTAL)), network_message_id, None,
            )
            if self._place_event(ticks, request) is None:
                return
        if _chance(rnd, 0.5):
            ticks += _skewed_ticks(rnd, MINUTE_TICKS, 6 * HOUR_TICKS)
            preview = PlannedQuarantineEvent(
                "QuarantinePreviewMessage", admin, "Succeeded", SOURCE_PORTAL, network_message_id, None,
            )
            if self._place_event(ticks, preview) is None:
                return

        released = self._add_releases(verdict, recipients, admin, network_message_id, ticks)
        self.plan.messages[first_row] = PlannedMessage(network_message_id, email_ticks, verdict, recipients, released)

    def _add_releases(self, verdict: str, recipients: tuple[User, ...], admin: User,
                      network_message_id: str, ticks: int) -> bool:
        """Plan one release and sometimes a second, and return whether any of them succeeded."""
        rnd = self.rnd
        releaser, source = admin, _pick(rnd, (SOURCE_PORTAL, SOURCE_PORTAL, SOURCE_PORTAL, SOURCE_CMDLET))
        if verdict in (VERDICT_SPAM, VERDICT_BULK) and _chance(rnd, 0.3):
            releaser, source = recipients[0], SOURCE_URL_LINK  # the recipient releases their own message
        if len(recipients) > 1 and _chance(rnd, 0.3):
            status = "PartiallySucceeded"
        else:
            status = self._release_status()
        ticks += _skewed_ticks(rnd, 2 * MINUTE_TICKS, 48 * HOUR_TICKS)
        first = PlannedQuarantineEvent(
            "QuarantineReleaseMessage", releaser, status, source, network_message_id, recipients[0].upn,
        )
        if self._place_event(ticks, first) is None:
            return False
        released = status != "Failed"
        if status == "Failed" or _chance(rnd, 0.12):
            # A retry after a failure, or a second release to another recipient.
            second_to = recipients[-1].upn
            second_status = "Succeeded" if status == "Failed" else self._release_status()
            ticks += _skewed_ticks(rnd, MINUTE_TICKS, 24 * HOUR_TICKS)
            second = PlannedQuarantineEvent(
                "QuarantineReleaseMessage", _pick(rnd, self.organization.security_admins), second_status,
                SOURCE_PORTAL, network_message_id, second_to,
            )
            if self._place_event(ticks, second) is not None:
                released = released or second_status != "Failed"
        return released


# ---------------------------------------------------------------------------
# EmailEvents rows.

EMAIL_DIRECTIONS = _Weighted((("Inbound", 68), ("Outbound", 14), ("Intra-org", 18)))
INBOUND_CATEGORIES = _Weighted((("clean", 74), ("bulk", 8), ("spam", 9), (VERDICT_PHISH_LOW, 4),
                                (VERDICT_PHISH_HIGH, 3), ("malware", 2)))
RECIPIENTS_PER_MESSAGE = _Weighted(((1, 85), (2, 9), (3, 4), (5, 2)))


def _fill_subject(rnd: Rand, template: str) -> str:
    if "{" not in template:
        return template
    return template.format(
        n=_int_between(rnd, 10000, 99999),
        n4=_int_between(rnd, 1000, 9999),
        first=_pick(rnd, FIRST_NAMES),
        file=f"{_pick(rnd, FILE_STEMS)}.{_pick(rnd, FILE_EXTENSIONS)}",
        partner=_pick(rnd, PARTNER_DOMAINS).split(".")[0].title(),
    )


@dataclass
class _Message:
    """The values one message shares across its per-recipient rows."""

    network_message_id: str
    internet_message_id: str
    mail_from: str
    header_from: str
    sender_display_name: str
    sender_object_id: str
    sender_ipv4: str
    sender_ipv6: str
    subject: str
    cluster_id: int
    direction: str
    delivery_action: str
    delivery_location: str
    threat_types: str
    threat_names: str
    detection_methods: str
    confidence_level: str
    bulk_complaint_level: int
    email_action: str
    email_action_policy: str
    authentication_details: str
    attachment_count: int
    url_count: int
    language: str
    latest_location: str
    latest_action: str


SENDER_OCTETS = tuple(location[3] for location in HOME_LOCATIONS + AWAY_LOCATIONS)

_AUTH_PASS = '{"SPF":"pass","DKIM":"pass","DMARC":"pass","CompAuth":"pass"}'
_AUTH_SPOOF = '{"SPF":"fail","DKIM":"none","DMARC":"fail","CompAuth":"fail"}'
_AUTH_SOFTFAIL = '{"SPF":"softfail","DKIM":"none","DMARC":"none","CompAuth":"softpass"}'


class _EmailRows:
    def __init__(self, plan: Plan, rnd: Rand, count: int):
        self.plan = plan
        self.rnd = rnd
        self.count = count
        self.step = WINDOW_TICKS / count if count else 0.0
        self.organization = plan.organization

    def __iter__(self) -> Iterator[dict]:
        rnd = self.rnd
        planned_rows = sorted(self.plan.messages)
        planned_position = 0
        row = 0
        while row < self.count:
            next_planned = planned_rows[planned_position] if planned_position < len(planned_rows) else self.count
            if row == next_planned:
                planned = self.plan.messages[row]
                planned_position += 1
                message = self._planned_message(planned)
                recipients = [(user.upn, user.object_id) for user in planned.recipients]
                ticks = planned.ticks
            else:
                recipient_count = min(RECIPIENTS_PER_MESSAGE.pick(rnd), next_planned - row)
                direction = EMAIL_DIRECTIONS.pick(rnd)
                message = self._random_message(direction)
                recipients = self._recipients(direction, recipient_count)
                ticks = int((row + rnd()) * self.step)
            timestamp = format_timestamp(ticks)
            for address, object_id in recipients:
                yield self._row(timestamp, message, address, object_id)
            row += len(recipients)

    def _recipients(self, direction: str, count: int) -> list[tuple[str, str]]:
        """Return `count` distinct (address, object id) pairs."""
        recipients: dict[str, str] = {}
        while len(recipients) < count:
            address, object_id = self._recipient(direction)
            recipients[address] = object_id
        return list(recipients.items())

    def _recipient(self, direction: str) -> tuple[str, str]:
        rnd = self.rnd
        if direction == "Outbound":
            first = _pick(rnd, FIRST_NAMES).lower().translate(ASCII_FOLD)
            return f"{first}@{_pick(rnd, PARTNER_DOMAINS)}", ""
        user = _pick(rnd, self.organization.users)
        return user.upn, user.object_id

    def _row(self, timestamp: str, message: _Message, recipient: str, recipient_object_id: str) -> dict:
        rnd = self.rnd
        org_action = org_policy = user_action = user_policy = ""
        roll = rnd()
        if roll < 0.01:
            user_action, user_policy = "Allow", "Sender allow list"
        elif roll < 0.015:
            user_action, user_policy = "Block", "Sender block list"
        elif roll < 0.02:
            org_action, org_policy = "Allow", "Connection policy"
        return {
            "Timestamp": timestamp,
            "NetworkMessageId": message.network_message_id,
            "InternetMessageId": message.internet_message_id,
            "SenderMailFromAddress": message.mail_from,
            "SenderFromAddress": message.header_from,
            "SenderDisplayName": message.sender_display_name,
            "SenderObjectId": message.sender_object_id,
            "SenderMailFromDomain": message.mail_from.partition("@")[2],
            "SenderFromDomain": message.header_from.partition("@")[2],
            "SenderIPv4": message.sender_ipv4,
            "SenderIPv6": message.sender_ipv6,
            "RecipientEmailAddress": recipient,
            "RecipientObjectId": recipient_object_id,
            "Subject": message.subject,
            "EmailClusterId": message.cluster_id,
            "EmailDirection": message.direction,
            "DeliveryAction": message.delivery_action,
            "DeliveryLocation": message.delivery_location,
            "ThreatTypes": message.threat_types,
            "ThreatNames": message.threat_names,
            "DetectionMethods": message.detection_methods,
            "ConfidenceLevel": message.confidence_level,
            "BulkComplaintLevel": message.bulk_complaint_level,
            "EmailAction": message.email_action,
            "EmailActionPolicy": message.email_action_policy,
            "EmailActionPolicyGuid": self.organization.policy_ids.get(message.email_action_policy, ""),
            "AuthenticationDetails": message.authentication_details,
            "AttachmentCount": message.attachment_count,
            "UrlCount": message.url_count,
            "EmailLanguage": message.language,
            "Connectors": "",
            "OrgLevelAction": org_action,
            "OrgLevelPolicy": org_policy,
            "UserLevelAction": user_action,
            "UserLevelPolicy": user_policy,
            "ReportId": _guid(rnd),
            "AdditionalFields": "",
            "LatestDeliveryLocation": message.latest_location,
            "LatestDeliveryAction": message.latest_action,
        }

    def _new_message(self, direction: str, category: str) -> _Message:
        """Build a delivered message of `category` with sender, subject and verdict columns filled in."""
        rnd = self.rnd
        organization = self.organization
        sender_object_id = ""
        sender_ipv6 = ""
        host = ""
        if direction != "Inbound":
            sender = _pick(rnd, organization.users)
            mail_from = header_from = sender.upn
            display_name = sender.display_name
            sender_object_id = sender.object_id
            sender_ipv4 = ""
            sender_ipv6 = f"2a01:111:f403:{_hex(rnd, 4).lower()}::{_int_between(rnd, 1, 0x7ff):x}"
            host = f"{_pick(rnd, ('DM6PR', 'SN7PR', 'CH3PR', 'BY5PR'))}{_int_between(rnd, 10, 19)}MB{_int_between(rnd, 1000, 9999)}.namprd{_int_between(rnd, 10, 19)}.prod.outlook.com"
            subject_template = _pick(rnd, BUSINESS_SUBJECTS)
            authentication = _AUTH_PASS if direction == "Outbound" else ""
        else:
            first = _pick(rnd, FIRST_NAMES)
            last = _pick(rnd, LAST_NAMES)
            authentication = _AUTH_PASS
            if category in (VERDICT_PHISH_HIGH, VERDICT_PHISH_LOW, "malware"):
                domain = _pick(rnd, PHISH_DOMAINS)
                subject_template = _pick(rnd, PHISH_SUBJECTS)
                if _chance(rnd, 0.4):
                    # A spoofed From header that claims to be a partner or the organization itself.
                    header_from = f"{_pick(rnd, ('billing', 'it-support', 'noreply', 'hr'))}@{_pick(rnd, PARTNER_DOMAINS + (ORG_DOMAIN,))}"
                    mail_from = f"bounce-{_int_between(rnd, 100, 999)}@{domain}"
                    authentication = _AUTH_SPOOF
                else:
                    # A lookalike domain of the attacker's own passes authentication.
                    header_from = mail_from = f"{_pick(rnd, ('support', 'security', 'no-reply', 'accounts'))}@{domain}"
                display_name = _pick(rnd, ("Microsoft 365", "IT Service Desk", "DocuSign", "Payroll", f"{first} {last}"))
            elif category == "spam":
                domain = _pick(rnd, SPAM_DOMAINS)
                header_from = mail_from = f"{_pick(rnd, ('winner', 'offers', 'info'))}@{domain}"
                display_name = _pick(rnd, ("Rewards Team", "Investment Desk", "Customer Care"))
                subject_template = _pick(rnd, SPAM_SUBJECTS)
                authentication = _AUTH_SOFTFAIL
            elif category == "bulk":
                domain = _pick(rnd, BULK_DOMAINS)
                header_from = f"news@{domain}"
                mail_from = f"bounces+{_int_between(rnd, 100000, 999999)}@{domain}"
                display_name = domain.split(".")[1].title()
                subject_template = _pick(rnd, BULK_SUBJECTS)
            else:
                domain = _pick(rnd, PARTNER_DOMAINS)
                header_from = mail_from = f"{first}.{last}@{domain}".lower().translate(ASCII_FOLD)
                display_name = f"{first} {last}"
                subject_template = _pick(rnd, BUSINESS_SUBJECTS)
            sender_ipv4 = _public_ipv4(rnd, _pick(rnd, SENDER_OCTETS))
            host = f"mail.{domain}"

        message = _Message(
            network_message_id=_guid(rnd),
            internet_message_id=f"<{_hex(rnd, 24)}@{host}>",
            mail_from=mail_from,
            header_from=header_from,
            sender_display_name=display_name,
            sender_object_id=sender_object_id,
            sender_ipv4=sender_ipv4,
            sender_ipv6=sender_ipv6,
            subject=_fill_subject(rnd, subject_template),
            cluster_id=organization.subject_clusters[subject_template],
            direction=direction,
            delivery_action="Delivered",
            delivery_location="Inbox/folder" if direction != "Outbound" else "External",
            threat_types="",
            threat_names="",
            detection_methods="",
            confidence_level="",
            bulk_complaint_level=0,
            email_action="",
            email_action_policy="",
            authentication_details=authentication,
            attachment_count=_pick(rnd, (0, 0, 0, 0, 1, 1, 2, 3)),
            url_count=_pick(rnd, (0, 0, 1, 1, 2, 3, 5, 8)),
            language=LANGUAGES.pick(rnd),
            latest_location="",
            latest_action="",
        )
        if direction == "Inbound":
            self._apply_verdict(message, category)
        message.latest_location = message.delivery_location
        return message

    def _apply_verdict(self, message: _Message, category: str) -> None:
        """Set the filtering verdict columns of an inbound message."""
        rnd = self.rnd
        if category == "clean":
            message.confidence_level = _pick(rnd, ('{"Spam":"1"}', '{"Spam":"1"}', '{"Spam":"-1"}', ""))
            message.bulk_complaint_level = _pick(rnd, (0, 0, 0, 1, 3))
        elif category == "bulk":
            message.bulk_complaint_level = _int_between(rnd, 6, 9)
            message.confidence_level = '{"Spam":"6"}'
            message.threat_types = "Spam"
            message.detection_methods = '{"Spam":["Bulk"]}'
            self._quarantine_or_junk(message, "Antispam", quarantine_share=0.3)
        elif category == "spam":
            message.bulk_complaint_level = _int_between(rnd, 0, 5)
            message.confidence_level = _pick(rnd, ('{"Spam":"5"}', '{"Spam":"6"}', '{"Spam":"9"}'))
            message.threat_types = "Spam"
            message.detection_methods = _pick(rnd, ('{"Spam":["Mixed analysis detection"]}',
                                                    '{"Spam":["URL malicious reputation"]}'))
            self._quarantine_or_junk(message, "Antispam", quarantine_share=0.5)
        elif category in (VERDICT_PHISH_HIGH, VERDICT_PHISH_LOW):
            level = "High" if category == VERDICT_PHISH_HIGH else "Low"
            message.confidence_level = _pick(rnd, (f'{{"Phish":"{level}","Spam":"9"}}', f'{{"Phish":"{level}","Spam":"5"}}',
                                                   f'{{"Phish":"{level}"}}'))
            message.threat_types = _pick(rnd, ("Phish", "Phish", "Phish, Spam"))
            message.detection_methods = _pick(rnd, ('{"Phish":["URL detonation reputation"]}',
                                                    '{"Phish":["Spoof external domain"]}',
                                                    '{"Phish":["Impersonation domain","General filter"]}',
                                                    '{"Phish":["Advanced filter"]}'))
            policy = "Antiphish" if category == VERDICT_PHISH_HIGH else "Antispam"
            self._quarantine_or_junk(message, policy, quarantine_share=0.95 if level == "High" else 0.6)
        elif category == "malware":
            message.threat_types = _pick(rnd, ("Malware", "Malware, Phish"))
            message.threat_names = _pick(rnd, MALWARE_NAMES)
            message.detection_methods = '{"Malware":["File detonation","Antimalware protection"]}'
            message.confidence_level = _pick(rnd, ('{"Phish":"High","Spam":"9"}', '{"Spam":"9"}'))
            message.attachment_count = max(message.attachment_count, 1)
            if _chance(rnd, 0.2):
                message.delivery_action, message.delivery_location = "Replaced", "Inbox/folder"
                message.email_action, message.email_action_policy = "Replace attachment", "Safe Attachments"
            else:
                message.delivery_action, message.delivery_location = "Blocked", "Quarantine"
                message.email_action, message.email_action_policy = "Send to quarantine", "Antimalware"

    def _quarantine_or_junk(self, message: _Message, policy: str, quarantine_share: float) -> None:
        message.email_action_policy = policy
        if _chance(self.rnd, quarantine_share):
            message.delivery_action, message.delivery_location = "Blocked", "Quarantine"
            message.email_action = "Send to quarantine"
        else:
            message.delivery_action, message.delivery_location = "Junked", "Junk folder"
            message.email_action = "Move message to Junk Email folder"

    def _random_message(self, direction: str) -> _Message:
        category = INBOUND_CATEGORIES.pick(self.rnd) if direction == "Inbound" else "clean"
        return self._new_message(direction, category)

    def _planned_message(self, planned: PlannedMessage) -> _Message:
        """Build the quarantined inbound message that the plan's release records name."""
        message = self._new_message("Inbound", planned.verdict)
        message.network_message_id = planned.network_message_id
        message.delivery_action, message.delivery_location = "Blocked", "Quarantine"
        message.email_action = "Send to quarantine"
        if planned.verdict == VERDICT_BULK:
            message.confidence_level = _pick(self.rnd, ('{"Spam":"6"}', ""))
        if planned.released:
            message.latest_location, message.latest_action = "Inbox/folder", "Quarantine release"
        else:
            message.latest_location = "Quarantine"
        return message


# ---------------------------------------------------------------------------
# CloudAppEvents rows.

APP_EXCHANGE = ("Microsoft Exchange Online", 20893)
APP_SHAREPOINT = ("Microsoft SharePoint Online", 20892)
APP_ONEDRIVE = ("Microsoft OneDrive for Business", 15600)
APP_TEAMS = ("Microsoft Teams", 28031)
APP_OFFICE = ("Office 365", 11161)


@dataclass(frozen=True)
class _Action:
    action_type: str
    application: tuple[str, int]
    workload: str
    record_type: int
    activity_type: str
    admin_only: bool
    build: str  # name of the `_CloudAppRows` method that adds the action's own fields


ACTIONS = _Weighted((
    (_Action("MailItemsAccessed", APP_EXCHANGE, "Exchange", 50, "Basic", False, "_mail_items_accessed"), 14),
    (_Action("MailboxLogin", APP_EXCHANGE, "Exchange", 2, "Login", False, "_mailbox_login"), 6),
    (_Action("Send", APP_EXCHANGE, "Exchange", 2, "Basic", False, "_mail_item"), 8),
    (_Action("MoveToDeletedItems", APP_EXCHANGE, "Exchange", 3, "Delete", False, "_mail_item"), 4),
    (_Action("New-InboxRule", APP_EXCHANGE, "Exchange", 1, "Create", False, "_exchange_cmdlet"), 0.3),
    (_Action("Set-Mailbox", APP_EXCHANGE, "Exchange", 1, "Edit", True, "_exchange_cmdlet"), 0.4),
    (_Action("Add-MailboxPermission", APP_EXCHANGE, "Exchange", 1, "Edit", True, "_exchange_cmdlet"), 0.2),
    (_Action("FileAccessed", APP_SHAREPOINT, "SharePoint", 6, "Basic", False, "_file"), 14),
    (_Action("FileDownloaded", APP_SHAREPOINT, "SharePoint", 6, "Download", False, "_file"), 8),
    (_Action("FileModified", APP_SHAREPOINT, "SharePoint", 6, "Edit", False, "_file"), 6),
    (_Action("FilePreviewed", APP_SHAREPOINT, "SharePoint", 6, "Basic", False, "_file"), 4),
    (_Action("FileUploaded", APP_ONEDRIVE, "OneDrive", 6, "Upload", False, "_file"), 5),
    (_Action("FileSyncDownloadedFull", APP_ONEDRIVE, "OneDrive", 6, "Download", False, "_file"), 2),
    (_Action("SharingSet", APP_SHAREPOINT, "SharePoint", 14, "Share", False, "_file"), 1.5),
    (_Action("AnonymousLinkCreated", APP_ONEDRIVE, "OneDrive", 14, "Share", False, "_file"), 0.4),
    (_Action("PageViewed", APP_SHAREPOINT, "SharePoint", 4, "Basic", False, "_page_viewed"), 4),
    (_Action("MessageSent", APP_TEAMS, "MicrosoftTeams", 25, "Create", False, "_teams"), 9),
    (_Action("ChatCreated", APP_TEAMS, "MicrosoftTeams", 25, "Create", False, "_teams"), 1.5),
    (_Action("TeamsSessionStarted", APP_TEAMS, "MicrosoftTeams", 25, "Login", False, "_teams"), 4),
    (_Action("MemberAdded", APP_TEAMS, "MicrosoftTeams", 25, "Edit", False, "_teams"), 0.6),
    (_Action("UserLoggedIn", APP_OFFICE, "AzureActiveDirectory", 15, "Login", False, "_sign_in"), 8),
    (_Action("UserLoginFailed", APP_OFFICE, "AzureActiveDirectory", 15, "Login", False, "_sign_in"), 1),
    (_Action("Update user.", APP_OFFICE, "AzureActiveDirectory", 8, "Edit", True, "_directory_change"), 0.4),
    (_Action("Add user.", APP_OFFICE, "AzureActiveDirectory", 8, "Create", True, "_directory_change"), 0.2),
    (_Action("Add member to role.", APP_OFFICE, "AzureActiveDirectory", 8, "Edit", True, "_directory_change"), 0.1),
    (_Action("QuarantinePreviewMessage", APP_EXCHANGE, "Quarantine", 65, "Basic", True, "_quarantine"), 0.3),
    (_Action("QuarantineReleaseRequest", APP_EXCHANGE, "Quarantine", 65, "Basic", False, "_quarantine"), 0.2),
    (_Action("QuarantineDeleteMessage", APP_EXCHANGE, "Quarantine", 65, "Delete", True, "_quarantine"), 0.2),
    (_Action("QuarantineViewHeader", APP_EXCHANGE, "Quarantine", 65, "Basic", True, "_quarantine"), 0.1),
    (_Action("QuarantineExportMessage", APP_EXCHANGE, "Quarantine", 65, "Download", True, "_quarantine"), 0.05),
))
# NOTE: the Application of quarantine records and their Workload "Quarantine"
# follow one published audit record; Microsoft's schema pages name neither.
QUARANTINE_ACTIONS = {action.action_type: action for action in ACTIONS.items if action.record_type == 65}
QUARANTINE_ACTIONS["QuarantineReleaseMessage"] = _Action(
    "QuarantineReleaseMessage", APP_EXCHANGE, "Quarantine", 65, "Basic", True, "_quarantine",
)

USER_TYPE_REGULAR, USER_TYPE_ADMIN = 0, 2


@dataclass
class _Context:
    """The actor and network of one CloudAppEvents row."""

    user: User
    ticks: int
    ip: str
    country: str
    city: str
    isp: str
    is_anonymous_proxy: bool
    ip_category: str
    ip_tags: list
    user_agent: str
    device_type: str
    os_platform: str
    user_agent_tags: list
    uncommon: list


class _CloudAppRows:
    def __init__(self, plan: Plan, rnd: Rand, count: int):
        self.plan = plan
        self.rnd = rnd
        self.count = count
        self.step = WINDOW_TICKS / count if count else 0.0
        self.organization = plan.organization
        self.builders = {action.action_type: getattr(self, action.build) for action in ACTIONS.items}

    def __iter__(self) -> Iterator[dict]:
        rnd = self.rnd
        builders = self.builders
        users = self.organization.users
        admins = self.organization.admins
        events = self.plan.events
        for index in range(self.count):
            ticks = int((index + rnd()) * self.step)
            event = events.get(index)
            if event is not None:
                action = QUARANTINE_ACTIONS[event.action_type]
                context = self._context(event.actor, ticks)
                # A recipient who releases or requests their own message acts as a regular user.
                is_admin = action.admin_only and event.actor.is_admin
                yield self._row(action, context, self._quarantine(context, action, event), is_admin)
                continue
            action = ACTIONS.pick(rnd)
            user = _pick(rnd, admins) if action.admin_only else _pick(rnd, users)
            context = self._context(user, ticks)
            yield self._row(action, context, builders[action.action_type](context, action), action.admin_only)

    def _context(self, user: User, ticks: int) -> _Context:
        rnd = self.rnd
        country, city, isp, octets = user.location[:4]
        ip, anonymous, category, tags, uncommon = user.home_ip, False, "", [], []
        user_agent = user.user_agent
        roll = rnd()
        if roll < 0.04:
            country, city, isp, octets, anonymous, category, tags = _pick(rnd, AWAY_LOCATIONS)
            ip = _public_ipv4(rnd, octets)
            uncommon = ["ISP", "CountryCode"]
        elif roll < 0.25:
            user_agent = _pick(rnd, USER_AGENTS)
            ip = _public_ipv4(rnd, octets)
        elif isp == "Contoso Corporate Network":
            category, tags = "Corporate", ["Corporate"]
        agent, device_type, os_platform, agent_tags = user_agent
        return _Context(user, ticks, ip, country, city, isp, anonymous, category, tags,
                        agent, device_type, os_platform, agent_tags, uncommon)

    def _row(self, action: _Action, context: _Context, details: tuple[dict, str, str, str], is_admin: bool) -> dict:
        rnd = self.rnd
        user = context.user
        extra, object_name, object_type, object_id = details
        ticks = context.ticks
        raw = {
            "CreationTime": _format_creation_time(ticks),
            "Id": _guid(rnd),
            "Operation": action.action_type,
            "OrganizationId": self.organization.tenant_id,
            "RecordType": action.record_type,
            "ResultStatus": "Succeeded",
            "UserKey": user.puid,
            "UserType": USER_TYPE_ADMIN if is_admin else USER_TYPE_REGULAR,
            "Version": 1,
            "Workload": action.workload,
            "ClientIP": context.ip,
            "UserId": user.upn,
        }
        raw.update(extra)
        activity_objects = [{"Type": "User", "Role": "Actor", "Name": user.display_name, "Id": user.object_id}]
        if object_name:
            activity_objects.append({"Type": object_type, "Role": "Target object", "Name": object_name, "Id": object_id})
        last_seen = {"ActionType": _pick(rnd, (0, 0, 1, 3)), "OSPlatform": 0,
                     "ISP": -1 if context.uncommon else _pick(rnd, (0, 0, 1, 2)),
                     "CountryCode": -1 if context.uncommon else 0}
        application, application_id = action.application
        return {
            "Timestamp": format_timestamp(ticks),
            "ActionType": action.action_type,
            "Application": application,
            "ApplicationId": application_id,
            "AppInstanceId": 0,
            "AccountObjectId": user.object_id,
            "AccountId": user.object_id,
            "AccountDisplayName": user.display_name,
            "IsAdminOperation": is_admin,
            "DeviceType": context.device_type,
            "OSPlatform": context.os_platform,
            "IPAddress": context.ip,
            "IsAnonymousProxy": context.is_anonymous_proxy,
            "CountryCode": context.country,
            "City": context.city,
            "Isp": context.isp,
            "UserAgent": context.user_agent,
            "ActivityType": action.activity_type,
            "ActivityObjects": activity_objects,
            "ObjectName": object_name,
            "ObjectType": object_type,
            "ObjectId": object_id,
            "ReportId": raw["Id"],
            "AccountType": "Admin" if is_admin else "Regular",
            "IsExternalUser": False,
            "IsImpersonated": False,
            "IPTags": context.ip_tags,
            "IPCategory": context.ip_category,
            "UserAgentTags": context.user_agent_tags,
            "RawEventData": raw,
            "AdditionalFields": {},
            "LastSeenForUser": last_seen,
            "UncommonForUser": context.uncommon,
            "AuditSource": "Defender for Cloud Apps access control",
            # NOTE: the shape of SessionData is a guess; the schema page only calls it session information.
            "SessionData": {"InteractiveSessionId": _pick(rnd, user.session_ids)},
            "OAuthAppId": "",
        }

    # Each builder returns (RawEventData fields, ObjectName, ObjectType, ObjectId).

    def _mail_items_accessed(self, context: _Context, action: _Action) -> tuple[dict, str, str, str]:
        rnd = self.rnd
        folder = _pick(rnd, MAIL_FOLDERS)
        extra = {
            "MailboxOwnerUPN": context.user.upn,
            "MailboxGuid": _guid(rnd),
            "LogonType": 0,
            "ClientInfoString": _pick(rnd, MAIL_CLIENTS),
            "OperationCount": _int_between(rnd, 1, 40),
            "OperationProperties": [{"Name": "MailAccessType", "Value": _pick(rnd, ("Bind", "Bind", "Sync"))},
                                    {"Name": "IsThrottled", "Value": "False"}],
            "Folders": [{"Path": folder, "FolderItems": [{"InternetMessageId": f"<{_hex(rnd, 20)}@{ORG_DOMAIN}>"}]}],
        }
        return extra, folder, "Folder", folder

    def _mailbox_login(self, context: _Context, action: _Action) -> tuple[dict, str, str, str]:
        rnd = self.rnd
        extra = {
            "MailboxOwnerUPN": context.user.upn,
            "MailboxGuid": _guid(rnd),
            "LogonType": 0,
            "ClientInfoString": _pick(rnd, MAIL_CLIENTS),
            "ExternalAccess": False,
        }
        return extra, context.user.upn, "Account", context.user.object_id

    def _mail_item(self, context: _Context, action: _Action) -> tuple[dict, str, str, str]:
        rnd = self.rnd
        subject = _fill_subject(rnd, _pick(rnd, BUSINESS_SUBJECTS))
        folder = "\\Sent Items" if action.action_type == "Send" else _pick(rnd, MAIL_FOLDERS)
        extra = {
            "MailboxOwnerUPN": context.user.upn,
            "LogonType": 0,
            "ClientInfoString": _pick(rnd, MAIL_CLIENTS),
            "Item": {"Id": _hex(rnd, 32), "ParentFolder": {"Path": folder}, "Subject": subject,
                     "InternetMessageId": f"<{_hex(rnd, 20)}@{ORG_DOMAIN}>"},
        }
        return extra, subject, "Mail message", extra["Item"]["Id"]

    def _exchange_cmdlet(self, context: _Context, action: _Action) -> tuple[dict, str, str, str]:
        rnd = self.rnd
        target = _pick(rnd, self.organization.users)
        if action.action_type == "New-InboxRule":
            target = context.user
            parameters = [{"Name": "Name", "Value": _pick(rnd, ("Move newsletters", ".", "Archive", "rss"))},
                          {"Name": "MoveToFolder", "Value": _pick(rnd, ("RSS Feeds", "Archive", "Conversation History"))},
                          {"Name": "StopProcessingRules", "Value": "True"}]
        elif action.action_type == "Add-MailboxPermission":
            parameters = [{"Name": "Identity", "Value": target.upn},
                          {"Name": "User", "Value": _pick(rnd, self.organization.users).upn},
                          {"Name": "AccessRights", "Value": "FullAccess"}]
        else:
            parameters = [{"Name": "Identity", "Value": target.upn},
                          {"Name": _pick(rnd, ("ForwardingSmtpAddress", "LitigationHoldEnabled", "AuditEnabled")),
                           "Value": _pick(rnd, ("True", "False", f"smtp:{target.upn}"))}]
        extra = {
            "ObjectId": target.upn,
            "Parameters": parameters,
            "ExternalAccess": False,
            "OriginatingServer": f"{_pick(rnd, ('DM6PR', 'SN7PR', 'CH3PR'))}{_int_between(rnd, 10, 19)}MB{_int_between(rnd, 1000, 9999)} (15.20.8158.000)",
        }
        return extra, target.upn, "Account", target.object_id

    def _file(self, context: _Context, action: _Action) -> tuple[dict, str, str, str]:
        rnd = self.rnd
        extension = _pick(rnd, FILE_EXTENSIONS)
        file_name = f"{_pick(rnd, FILE_STEMS)}.{extension}"
        if action.workload == "OneDrive":
            site_url = f"{ONEDRIVE_HOST}/personal/{context.user.upn.replace('.', '_').replace('@', '_')}/"
            folder = "Documents"
        else:
            site_url = f"{SHAREPOINT_HOST}/sites/{_pick(rnd, SITES)}/"
            folder = "Shared Documents"
        object_id = f"{site_url}{folder}/{file_name}"
        extra = {
            "ObjectId": object_id,
            "CorrelationId": _guid(rnd),
            "EventSource": "SharePoint",
            "ItemType": "File",
            "ListItemUniqueId": _guid(rnd),
            "UserAgent": context.user_agent,
            "SiteUrl": site_url,
            "SourceRelativeUrl": folder,
            "SourceFileName": file_name,
            "SourceFileExtension": extension,
        }
        if action.record_type == 14:
            extra["TargetUserOrGroupType"] = _pick(rnd, ("Member", "Guest", "SharePointGroup"))
            extra["TargetUserOrGroupName"] = _pick(rnd, ("Everyone except external users",
                                                         f"{_pick(rnd, FIRST_NAMES).lower()}@{_pick(rnd, PARTNER_DOMAINS)}",
                                                         _pick(rnd, self.organization.users).upn))
        return extra, file_name, "File", object_id

    def _page_viewed(self, context: _Context, action: _Action) -> tuple[dict, str, str, str]:
        rnd = self.rnd
        page = f"{SHAREPOINT_HOST}/sites/{_pick(rnd, SITES)}/SitePages/Home.aspx"
        extra = {"ObjectId": page, "CorrelationId": _guid(rnd), "EventSource": "SharePoint", "ItemType": "Page",
                 "UserAgent": context.user_agent}
        return extra, "Home.aspx", "Web page", page

    def _teams(self, context: _Context, action: _Action) -> tuple[dict, str, str, str]:
        rnd = self.rnd
        team = _pick(rnd, TEAM_NAMES)
        extra = {
            "ChatThreadId": f"19:{_hex(rnd, 32).lower()}@thread.v2",
            "CommunicationType": _pick(rnd, ("Team", "OneOnOne", "GroupChat")),
            "TeamName": team,
            "ChannelName": _pick(rnd, CHANNEL_NAMES),
            "ItemName": team,
        }
        if action.action_type == "MessageSent":
            extra["MessageId"] = str(_int_between(rnd, 1_700_000_000_000, 1_799_999_999_999))
            extra["MessageSizeInBytes"] = _int_between(rnd, 40, 9000)
        elif action.action_type == "MemberAdded":
            extra["Members"] = [{"UPN": _pick(rnd, self.organization.users).upn, "Role": 1}]
        return extra, team, "Team", extra["ChatThreadId"]

    def _sign_in(self, context: _Context, action: _Action) -> tuple[dict, str, str, str]:
        rnd = self.rnd
        failed = action.action_type == "UserLoginFailed"
        extra = {
            "ResultStatus": "Failed" if failed else "Success",
            "ApplicationId": _pick(rnd, SIGN_IN_APPS),
            "AzureActiveDirectoryEventType": 1,
            "ExtendedProperties": [{"Name": "UserAgent", "Value": context.user_agent},
                                   {"Name": "RequestType", "Value": "OAuth2:Token"}],
            "LogonError": _pick(rnd, ("InvalidPasswordExpiredPassword", "InvalidUserNameOrPassword",
                                      "UserStrongAuthClientAuthNRequired")) if failed else "",
            "ErrorNumber": "50126" if failed else "0",
            "ActorIpAddress": context.ip,
        }
        return extra, context.user.upn, "Account", context.user.object_id

    def _directory_change(self, context: _Context, action: _Action) -> tuple[dict, str, str, str]:
        rnd = self.rnd
        target = _pick(rnd, self.organization.users)
        modified = [{"Name": "Role.DisplayName", "NewValue": _pick(rnd, DIRECTORY_ROLES), "OldValue": ""}]
        if action.action_type != "Add member to role.":
            modified = [{"Name": _pick(rnd, ("StrongAuthenticationMethod", "AccountEnabled", "Department")),
                         "NewValue": "[]", "OldValue": "[]"}]
        extra = {
            "ResultStatus": "Success",
            "ObjectId": target.upn,
            "ModifiedProperties": modified,
            "Target": [{"ID": f"User_{target.object_id}", "Type": 2}, {"ID": target.upn, "Type": 5}],
        }
        return extra, target.display_name, "Account", target.object_id

    def _quarantine(self, context: _Context, action: _Action,
                    event: PlannedQuarantineEvent | None = None) -> tuple[dict, str, str, str]:
        """Build a quarantine audit record, random unless `event` fixes its values."""
        rnd = self.rnd
        if event is None:
            network_message_id: str | None = _guid(rnd)
            status = "Succeeded" if _chance(rnd, 0.97) else "Failed"
            source = SOURCE_URL_LINK if action.action_type == "QuarantineReleaseRequest" else SOURCE_PORTAL
            release_to = None
        else:
            network_message_id, status = event.network_message_id, event.result_status
            source, release_to = event.request_source, event.release_to
        extra: dict = {"ResultStatus": status, "RequestType": QUARANTINE_REQUEST_TYPES[action.action_type],
                       "RequestSource": source}
        if network_message_id is not None:
            extra["NetworkMessageId"] = network_message_id
        if release_to is not None:
            extra["ReleaseTo"] = release_to
        return extra, network_message_id or "", "Mail message" if network_message_id else "", network_message_id or ""


# ---------------------------------------------------------------------------
# Public interface.

def _stream_seeds(seed: int) -> tuple[int, int, int, int]:
    """Derive one seed per stream so that each table's rows never depend on how far another was read."""
    master = random.Random(seed)
    return tuple(int(master.random() * 2**53) for _ in range(4))  # type: ignore[return-value]


def build_plan(cloudapp_count: int, email_count: int, seed: int = DEFAULT_SEED) -> Plan:
    """Draw the organization and plan the quarantine releases both tables share."""
    _check_counts(cloudapp_count, email_count)
    organization_seed, plan_seed, _, _ = _stream_seeds(seed)
    organization = _build_organization(random.Random(organization_seed).random)
    return _Planner(random.Random(plan_seed).random, organization, cloudapp_count, email_count).build()


def table_rows(table: str, cloudapp_count: int, email_count: int, seed: int = DEFAULT_SEED,
               plan: Plan | None = None) -> Iterator[dict]:
    """Yield the rows of one table, lazily and in timestamp order.

    Pass `plan` from `build_plan` with the same counts and seed to skip
    rebuilding it; the rows are the same either way.
    """
    if table not in TABLES:
        raise ValueError(f"unknown table '{table}'; expected one of {', '.join(TABLES)}")
    if plan is None:
        plan = build_plan(cloudapp_count, email_count, seed)
    _, _, cloudapp_seed, email_seed = _stream_seeds(seed)
    if table == CLOUDAPP_TABLE:
        return iter(_CloudAppRows(plan, random.Random(cloudapp_seed).random, cloudapp_count))
    return iter(_EmailRows(plan, random.Random(email_seed).random, email_count))


def iter_rows(cloudapp_count: int, email_count: int, seed: int = DEFAULT_SEED) -> Iterator[tuple[str, dict]]:
    """Yield `(table name, row)` for every EmailEvents row, then every CloudAppEvents row."""
    plan = build_plan(cloudapp_count, email_count, seed)
    for row in table_rows(EMAIL_TABLE, cloudapp_count, email_count, seed, plan):
        yield EMAIL_TABLE, row
    for row in table_rows(CLOUDAPP_TABLE, cloudapp_count, email_count, seed, plan):
        yield CLOUDAPP_TABLE, row


def _check_counts(cloudapp_count: int, email_count: int) -> None:
    for name, value in (("cloudapp_count", cloudapp_count), ("email_count", email_count)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"invalid {name} {value!r}; expected an integer >= 0")


def output_path(out_dir: str | os.PathLike, table: str, gzip: bool = False) -> Path:
    """Return the file `write_sample` writes for `table`."""
    return Path(out_dir) / (f"{table}.jsonl.gz" if gzip else f"{table}.jsonl")


def _write_table(table: str, out_dir: str, cloudapp_count: int, email_count: int, seed: int, gzip: bool) -> int:
    """Write one table's file and return its row count."""
    path = output_path(out_dir, table, gzip)
    rows = table_rows(table, cloudapp_count, email_count, seed)
    count = 0
    with open(path, "wb") as raw_file:
        if gzip:
            # mtime=0 and an empty file name keep the gzip header, and so the file, reproducible.
            sink = gzip_module.GzipFile(filename="", mode="wb", fileobj=raw_file, compresslevel=6, mtime=0)
        else:
            sink = raw_file
        try:
            batch: list[str] = []
            for row in rows:
                batch.append(_encode(row))
                if len(batch) == WRITE_BATCH:
                    batch.append("")  # so the joined text ends with a newline
                    sink.write("\n".join(batch).encode("ascii"))
                    count += WRITE_BATCH
                    batch.clear()
            if batch:
                count += len(batch)
                batch.append("")
                sink.write("\n".join(batch).encode("ascii"))
        finally:
            if sink is not raw_file:
                sink.close()
    return count


# Below this many rows in total, starting a second process costs more than it saves.
PARALLEL_MIN_ROWS = 200_000


def write_sample(out_dir: str | os.PathLike, cloudapp_count: int = DEFAULT_CLOUDAPP_COUNT,
                 email_count: int = DEFAULT_EMAIL_COUNT, seed: int = DEFAULT_SEED,
                 gzip: bool = False) -> dict[str, Path]:
    """Write `CloudAppEvents.jsonl` and `EmailEvents.jsonl` (with `.gz` if `gzip`) into `out_dir`.

    The directory is created if missing and existing files are overwritten.
    Large samples write the two tables in two processes; the files are the
    same as when written in one. Returns the written path of each table.
    """
    _check_counts(cloudapp_count, email_count)
    directory = Path(out_dir)
    directory.mkdir(parents=True, exist_ok=True)
    jobs = [(table, str(directory), cloudapp_count, email_count, seed, gzip) for table in TABLES]
    if cloudapp_count + email_count >= PARALLEL_MIN_ROWS:
        with ProcessPoolExecutor(max_workers=2) as pool:
            for future in [pool.submit(_write_table, *job) for job in jobs]:
                future.result()
    else:
        for job in jobs:
            _write_table(*job)
    return {table: output_path(directory, table, gzip) for table in TABLES}


# ---------------------------------------------------------------------------
# The `rulecast sample` subcommand.

def _row_count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid row count '{text}'; expected an integer >= 0") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"invalid row count '{text}'; expected an integer >= 0")
    return value


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register the `sample` subcommand on `subparsers` and return its parser."""
    parser = subparsers.add_parser(
        "sample",
        help="write deterministic sample CloudAppEvents and EmailEvents data as JSON Lines",
        description="Write CloudAppEvents.jsonl and EmailEvents.jsonl with realistic rows, including "
                    "quarantine releases of high confidence phish. The same seed and counts always "
                    "produce the same files.",
    )
    parser.add_argument("-o", "--output", metavar="DIR", required=True,
                        help="directory to write the files into (created if missing; files are overwritten)")
    parser.add_argument("--cloudapp-events", type=_row_count, default=DEFAULT_CLOUDAPP_COUNT, metavar="N",
                        help=f"number of CloudAppEvents rows (default: {DEFAULT_CLOUDAPP_COUNT})")
    parser.add_argument("--email-events", type=_row_count, default=DEFAULT_EMAIL_COUNT, metavar="N",
                        help=f"number of EmailEvents rows (default: {DEFAULT_EMAIL_COUNT})")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, metavar="N",
                        help=f"seed of the random generator (default: {DEFAULT_SEED})")
    parser.add_argument("--gzip", action="store_true", help="compress the files with gzip (.jsonl.gz)")
    parser.set_defaults(func=run_sample)
    return parser


def run_sample(args: argparse.Namespace) -> int:
    """Write the sample files that `args` describe and return the exit status."""
    try:
        paths = write_sample(args.output, args.cloudapp_events, args.email_events, args.seed, args.gzip)
    except OSError as exc:
        print(f"rulecast: error: cannot write sample data to '{args.output}': {exc.strerror or exc}; "
              "choose a writable directory with -o", file=sys.stderr)
        return 1
    counts = {CLOUDAPP_TABLE: args.cloudapp_events, EMAIL_TABLE: args.email_events}
    for table, path in paths.items():
        print(f"{path}: {counts[table]} rows")
    return 0
