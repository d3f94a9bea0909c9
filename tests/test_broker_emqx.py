"""The EMQX 5 configuration grants what the Mosquitto one grants, to the same identities.

No EMQX runs here: the generated acl.conf is read back with a small Erlang-term reader and
checked against ``acl_text`` (Mosquitto), and a few lines model how EMQX 5 evaluates it
(``emqx_authz_rule``: first match, ``${username}`` rendered, ``emqx_topic:match``; and
``emqx_channel``: a ``$share/<group>/`` prefix is stripped before the subscribe check).
The emqx.conf is read back with a small reader for the HOCON it uses.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from contract import Channel
from contract.notices import NOTICES
from contract.topics import fleet_filter, shared_filter, station_topic
from provisioning.broker import (
    MAX_PACKET_BYTES,
    SERVER_USER,
    BrokerLimits,
    acl_text,
    server_identities,
)
from provisioning.broker_emqx import emqx_acl, emqx_conf
from provisioning.cli import main as provision

OWN = "dcs/v1/stations/${username}/"

# -- acl.conf: a reader for the Erlang terms it holds ----------------------------------------

_ERL_TOKEN = re.compile(r'\s*(?:(%[^\n]*)|("(?:[^"\\]|\\.)*")|([{}\[\],.])|([a-z][A-Za-z0-9_]*))')


class Atom(str):
    """An Erlang atom (a plain ``str`` is an Erlang string)."""


def erl_terms(text: str) -> list[object]:
    """Every ``Term.`` of the file, tuples as tuples, lists as lists (``file:consult``)."""
    tokens: list[tuple[str, str]] = []  # (kind, text): punct, string or atom
    pos = 0
    while text[pos:].strip():
        match = _ERL_TOKEN.match(text, pos)
        assert match, f"unreadable acl.conf at {text[pos : pos + 40]!r}"
        pos = match.end()
        _comment, string, punct, atom = match.groups()
        if string is not None:
            tokens.append(("string", json.loads(string)))  # only \\ and \" are written
        elif punct is not None:
            tokens.append(("punct", punct))
        elif atom is not None:
            tokens.append(("atom", atom))

    def term(i: int) -> tuple[object, int]:
        kind, token = tokens[i]
        if kind == "punct":
            assert token in "{[", f"unexpected {token!r}"
            close = "}" if token == "{" else "]"
            items: list[object] = []
            i += 1
            while tokens[i] != ("punct", close):
                item, i = term(i)
                items.append(item)
                assert tokens[i] in (("punct", ","), ("punct", close)), tokens[i]
                i += tokens[i] == ("punct", ",")
            return (tuple(items) if close == "}" else items), i + 1
        return (Atom(token) if kind == "atom" else token), i + 1

    terms, i = [], 0
    while i < len(tokens):
        value, i = term(i)
        assert tokens[i] == ("punct", "."), "a term ends with a full stop"
        terms.append(value)
        i += 1
    return terms


def rights(rules: list[object], identity: str) -> set[tuple[str, str]]:
    """(action, topic) allowed to ``identity`` by allow rules naming it or ``all``."""
    granted = set()
    for rule in rules:
        if rule[0] != "allow" or len(rule) != 4:
            continue
        _, who, action, topics = rule
        if who == "all" or who in (("user", identity), ("username", identity)):
            actions = ("publish", "subscribe") if action == "all" else (action,)
            granted |= {(a, t) for a in actions for t in topics}
    return granted


# -- the Mosquitto ACL, read the same way ---------------------------------------------------


def mosquitto_rights(acl: str, identity: str) -> set[tuple[str, str]]:
    """What Mosquitto grants ``identity``: its ``user`` block plus every ``pattern`` line,
    ``%u`` written as EMQX's ``${username}``, read/write as subscribe/publish."""
    actions = {"read": ("subscribe",), "write": ("publish",), "readwrite": ("publish", "subscribe")}
    granted, user = set(), None
    for line in acl.splitlines():
        words = line.split()
        if not words or words[0].startswith("#"):
            continue
        if words[0] == "user":
            user = words[1]
        elif (words[0] == "topic" and user == identity) or words[0] == "pattern":
            topic = words[2].replace("%u", "${username}")
            granted |= {(action, topic) for action in actions[words[1]]}
    return granted


# -- how EMQX 5 decides ---------------------------------------------------------------------


def topic_matches(name: str, topic_filter: str) -> bool:
    """``emqx_topic:match/2``: ``name`` (a topic, or a subscription's filter) against a rule."""
    words, filters = name.split("/"), topic_filter.split("/")
    if words[0].startswith("$") and filters[0] in ("+", "#"):
        return False
    for i, pattern in enumerate(filters):
        if pattern == "#":
            return True
        if i >= len(words) or pattern not in ("+", words[i]):
            return False
    return len(words) == len(filters)


def emqx_allows(rules: list[object], username: str, action: str, topic: str) -> bool:
    """``emqx_authz`` with the file source only and ``no_match = deny``."""
    if action == "subscribe" and topic.startswith("$share/"):
        topic = topic.split("/", 2)[2]  # emqx_topic:get_shared_real_topic
    for rule in rules:
        if len(rule) == 2:
            permission, who, rule_action, topics = rule[0], rule[1], "all", ["#"]
        else:
            permission, who, rule_action, topics = rule
        if who == "all":
            who_matches = True
        elif who[1] and isinstance(who[1], tuple):  # {username, {re, "..."}}
            who_matches = re.search(who[1][1], username) is not None
        else:
            who_matches = who[1] == username
        rendered = [t.replace("${username}", username) for t in topics]
        if (
            who_matches
            and rule_action in (action, "all")
            and any(topic_matches(topic, t) for t in rendered)
        ):
            return permission == "allow"
    return False


# -- emqx.conf: a reader for the HOCON it uses ----------------------------------------------

_HOCON_TOKEN = re.compile(
    r'[ \t]*(?:(#[^\n]*)|(\n)|("(?:[^"\\]|\\.)*")|([{}\[\]=,])|([^\s{}\[\]=,"#]+))'
)


def hocon(text: str) -> dict:
    """Objects, dotted keys (merged), arrays, quoted and unquoted strings, numbers, booleans."""
    tokens: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        match = _HOCON_TOKEN.match(text, pos)
        assert match and match.end() > pos, f"unreadable emqx.conf at {text[pos : pos + 40]!r}"
        pos = match.end()
        comment, newline, string, punct, word = match.groups()
        if string is not None:
            tokens.append(("value", json.loads(string)))
        elif punct is not None:
            tokens.append(("punct", punct))
        elif word is not None:
            tokens.append(("word", word))
        elif newline is not None:
            tokens.append(("punct", "\n"))
        else:
            assert comment is not None

    def skip(i: int, *separators: str) -> int:
        while i < len(tokens) and tokens[i] in [("punct", s) for s in separators]:
            i += 1
        return i

    def scalar(word: str) -> object:
        if word in ("true", "false"):
            return word == "true"
        return int(word) if word.isdigit() else word

    def value(i: int) -> tuple[object, int]:
        kind, token = tokens[i]
        if (kind, token) == ("punct", "{"):
            return obj(i + 1, "}")
        if (kind, token) == ("punct", "["):
            items, i = [], skip(i + 1, "\n")
            while tokens[i] != ("punct", "]"):
                item, i = value(i)
                items.append(item)
                i = skip(i, ",", "\n")
            return items, i + 1
        return (token if kind == "value" else scalar(token)), i + 1

    def obj(i: int, close: str | None) -> tuple[dict, int]:
        result: dict = {}
        while True:
            i = skip(i, ",", "\n")
            if i == len(tokens) or tokens[i] == ("punct", close):
                return result, i + 1
            kind, key = tokens[i]
            assert kind in ("word", "value"), f"expected a key, got {key!r}"
            i += 1
            if tokens[i] == ("punct", "="):
                i += 1
            item, i = value(i)
            *parents, last = key.split(".")
            target = result
            for part in parents:
                target = target.setdefault(part, {})
            if isinstance(item, dict) and isinstance(target.get(last), dict):
                target[last].update(item)
            else:
                target[last] = item

    return obj(0, None)[0]


# -- the tests ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rules() -> list[object]:
    return erl_terms(emqx_acl())


def test_acl_conf_reads_back_as_erlang_terms_ending_with_deny_all(rules):
    assert rules[-1] == ("deny", "all")
    assert all(rule[0] in ("allow", "deny") for rule in rules)
    denies = [rule for rule in rules if rule[0] == "deny"]
    assert denies == [rules[0], rules[-1]]  # the unsafe-username guard and the end
    for rule in rules[:-1]:
        assert len(rule) == 4 and rule[2] in ("publish", "subscribe", "all")
        assert rule[3] and not any(isinstance(topic, Atom) for topic in rule[3])
    # Shared subscriptions are authorized by their real filter: a $share rule never matches.
    assert "$share" not in emqx_acl()


def test_every_station_right_is_in_the_usernames_own_subtree(rules):
    for rule in rules:
        if rule[0] == "allow" and rule[1] == "all":
            for topic in rule[3]:
                if topic == f"{NOTICES}/#":
                    assert rule[2] == "subscribe"  # public notices: read only
                    continue
                assert topic.startswith(OWN), topic
                assert not {"+", "#"} & set(topic[len(OWN) :].split("/")), topic
    station = rights(rules, "st-lobby-a")
    assert ("publish", f"{OWN}tx") in station and ("subscribe", f"{OWN}ack") in station
    assert ("publish", f"{OWN}ack") not in station and ("subscribe", f"{OWN}tx") not in station


@pytest.mark.parametrize("workers", [(2, 1, 1), (4, 2, 3)])
def test_every_identity_has_the_topics_mosquitto_gives_it(workers):
    identities = server_identities(*workers)
    rules = erl_terms(emqx_acl(identities))
    mosquitto = acl_text(identities, full_access=())  # as `broker config` writes it
    for identity in [*identities, "st-lobby-a", SERVER_USER]:
        assert rights(rules, identity) == mosquitto_rights(mosquitto, identity), identity
    # The server identities' own rules, without the ones every client has, match too.
    for identity in identities:
        own = rights(rules, identity) - rights(rules, "st-lobby-a")
        assert own == mosquitto_rights(mosquitto, identity) - mosquitto_rights(mosquitto, "x")
        assert own, identity


def test_emqx_lets_each_process_subscribe_as_it_does(rules):
    subscriptions = {
        "dcs-ingest-1": [
            *(shared_filter("ingest", c) for c in (Channel.TX, Channel.TELEMETRY)),
            shared_filter("ingest", Channel.COMMAND_RESULT),
            shared_filter("ingest", Channel.DIAGNOSTICS),
            fleet_filter(Channel.PRESENCE),  # not shared: retained presence on start
        ],
        "dcs-lookup-1": [shared_filter("lookup", Channel.LOOKUP)],
        "dcs-kiosk-1": [shared_filter("kiosk", Channel.SERVICE)],
        "dcs-replica-1": [shared_filter("replica", Channel.REPLICA_REQUEST)],
        "dcs-rollouts-1": [
            fleet_filter(c) for c in (Channel.JOB_PROGRESS, Channel.FILE_REQUEST, Channel.PRESENCE)
        ],
        "st-lobby-a": [
            station_topic("st-lobby-a", Channel.ACK),
            station_topic("st-lobby-a", Channel.COMMAND),
            f"{NOTICES}/all/+",
            f"{NOTICES}/building/building-1/+",
        ],
    }
    for identity, filters in subscriptions.items():
        for topic_filter in filters:
            assert emqx_allows(rules, identity, "subscribe", topic_filter), (identity, topic_filter)
    assert emqx_allows(rules, "dcs-ingest-1", "publish", station_topic("st-b", Channel.ACK))
    assert emqx_allows(rules, "dcs-commands", "publish", station_topic("st-b", Channel.COMMAND))
    assert emqx_allows(rules, "dcs-commands", "publish", f"{NOTICES}/all/n-1")
    assert emqx_allows(rules, "st-lobby-a", "publish", station_topic("st-lobby-a", Channel.TX))


def test_emqx_refuses_what_mosquitto_refuses(rules):
    refused = [
        # a station outside its own subtree, or against its direction
        ("st-a", "publish", station_topic("st-b", Channel.TX)),
        ("st-a", "subscribe", station_topic("st-b", Channel.ACK)),
        ("st-a", "subscribe", fleet_filter(Channel.ACK)),
        ("st-a", "subscribe", shared_filter("ingest", Channel.TX)),
        ("st-a", "subscribe", "dcs/v1/#"),
        ("st-a", "subscribe", "#"),
        ("st-a", "publish", station_topic("st-a", Channel.ACK)),
        ("st-a", "publish", f"{NOTICES}/all/forged"),
        # a server identity outside its role
        ("dcs-kiosk-1", "subscribe", shared_filter("ingest", Channel.TX)),
        ("dcs-ingest-1", "publish", station_topic("st-a", Channel.COMMAND)),
        ("dcs-ingest-1", "subscribe", "dcs/v1/stations/#"),
        ("dcs-commands", "subscribe", fleet_filter(Channel.TX)),
        # no all-seeing account, and no certificate name that widens ${username}
        (SERVER_USER, "subscribe", "dcs/v1/#"),
        ("+", "subscribe", "dcs/v1/stations/+/ack"),
        ("+", "publish", station_topic("st-a", Channel.TX)),
        ("st-a/#", "subscribe", station_topic("st-a", Channel.ACK)),
        ("anyone", "subscribe", "$SYS/#"),
    ]
    for username, action, topic in refused:
        assert not emqx_allows(rules, username, action, topic), (username, action, topic)


def test_emqx_conf_requires_a_certificate_and_takes_the_identity_from_it(tmp_path):
    acl = tmp_path / "acl.conf"
    files = ("/srv/b/chain.pem", "/srv/b/broker.crt.pem", "/srv/b/broker.key.pem")
    conf = hocon(emqx_conf(*files, acl_file=acl))
    listener = conf["listeners"]["ssl"]["default"]
    assert listener["enable"] is True and listener["bind"] == "0.0.0.0:8883"
    tls = listener["ssl_options"]
    assert tls["verify"] == "verify_peer" and tls["fail_if_no_peer_cert"] is True
    assert tls["cacertfile"] == "/srv/b/chain.pem"
    assert (tls["certfile"], tls["keyfile"]) == ("/srv/b/broker.crt.pem", "/srv/b/broker.key.pem")
    assert "tlsv1.1" not in tls["versions"]
    # Every other listener is off: there a client would choose its own username.
    for kind in ("tcp", "ws", "wss"):
        assert conf["listeners"][kind]["default"]["enable"] is False
    mqtt = conf["mqtt"]
    assert mqtt["peer_cert_as_username"] == "cn" and mqtt["peer_cert_as_clientid"] == "cn"
    assert mqtt["max_packet_size"] == MAX_PACKET_BYTES
    assert mqtt["max_inflight"] == BrokerLimits().max_inflight_messages
    assert mqtt["max_mqueue_len"] == BrokerLimits().max_queued_messages
    assert mqtt["mqueue_store_qos0"] is False
    assert mqtt["shared_subscription"] is True
    assert mqtt["shared_subscription_strategy"] == "round_robin"
    authz = conf["authorization"]
    assert authz["no_match"] == "deny" and authz["deny_action"] == "disconnect"
    assert authz["sources"] == [{"type": "file", "enable": True, "path": str(acl)}]
    assert "authentication" not in conf
    assert conf["retainer"]["backend"]["storage_type"] == "disc"


def test_emqx_conf_maps_the_limits_and_the_listen_address():
    limits = BrokerLimits(max_queued_messages=5, max_inflight_messages=7, max_packet_size=9000)
    conf = hocon(emqx_conf("ca", "crt", "key", 18883, limits, host="::"))
    assert conf["listeners"]["ssl"]["default"]["bind"] == "[::]:18883"
    mqtt = conf["mqtt"]
    assert (mqtt["max_mqueue_len"], mqtt["max_inflight"], mqtt["max_packet_size"]) == (5, 7, 9000)


def test_cli_writes_acl_conf_and_emqx_conf(tmp_path):
    out, tls = tmp_path / "emqx", tmp_path / "mosquitto"
    result = CliRunner().invoke(
        provision,
        ["broker", "emqx", "--out", str(out), "--tls-dir", str(tls), "--ingest-workers", "3"],
        env={"COLUMNS": "100"},
    )
    assert result.exit_code == 0, result.output
    assert "acl.conf" in result.output and "emqx.conf" in result.output
    assert "broker config" in result.output  # no certificates in --tls-dir yet
    rules = erl_terms((out / "acl.conf").read_text())
    assert rules[-1] == ("deny", "all")
    assert rights(rules, "dcs-ingest-3") == mosquitto_rights(
        acl_text(server_identities(3), full_access=()), "dcs-ingest-3"
    )
    conf = hocon((out / "emqx.conf").read_text())
    assert conf["authorization"]["sources"][0]["path"] == str(out / "acl.conf")
    assert conf["listeners"]["ssl"]["default"]["ssl_options"]["cacertfile"] == str(
        tls / "chain.pem"
    )


def test_cli_keeps_the_mosquitto_command():
    result = CliRunner().invoke(provision, ["broker", "--help"])
    assert result.exit_code == 0
    assert "config" in result.output and "emqx" in result.output


def test_the_scale_doc_shows_what_the_generator_writes():
    doc = (Path(__file__).resolve().parent.parent / "docs/scale.md").read_text()
    assert "## Moving to EMQX" in doc and "## A city after an outage, measured" in doc
    acl = emqx_acl()
    shown = [line for line in doc.splitlines() if line.startswith("{")]
    assert shown
    for line in shown:
        assert line in acl, line
