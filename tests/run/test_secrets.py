"""Unit tests of opscheck.secrets: the Secret type, the redactor, URL masking, secret-looking names."""

from __future__ import annotations

import base64
import json
import threading
import uuid
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest

from opscheck.secrets import (
    MASK,
    Redactor,
    Secret,
    clip,
    is_secret_name,
    mask_url,
    redactor,
    register_aws_credentials,
    secret_env_values,
    url_password,
    url_secrets,
)

#: a space and "?>" make every encoded form differ: quote from quote_plus, urlsafe base64 from standard
SECRET = "hunter2 Sup3r~~?>>>s3cret"


@pytest.fixture
def scrubber() -> Redactor:
    """A fresh redactor that knows SECRET."""
    fresh = Redactor()
    fresh.add(SECRET)
    return fresh


def unique_secret() -> str:
    return f"tok-{uuid.uuid4().hex}"


# ---------------------------------------------------------------------------------------------------
# Secret
# ---------------------------------------------------------------------------------------------------
def test_secret_prints_as_mask() -> None:
    value = unique_secret()
    secret = Secret(value)
    assert str(secret) == MASK
    assert f"{secret}" == MASK
    assert value not in repr(secret)


def test_secret_reveals_its_value() -> None:
    value = unique_secret()
    assert Secret(value).reveal() == value


def test_secret_registers_with_process_wide_redactor() -> None:
    value = unique_secret()
    Secret(value)
    assert value in redactor()
    assert redactor().scrub(f"password={value}") == f"password={MASK}"


def test_secrets_compare_by_value() -> None:
    value = unique_secret()
    assert Secret(value) == Secret(value)
    assert hash(Secret(value)) == hash(Secret(value))
    assert Secret(value) != value


def test_empty_secret_is_falsy() -> None:
    assert not Secret("")


def test_redactor_accepts_secret_objects(scrubber: Redactor) -> None:
    value = unique_secret()
    scrubber.add(Secret(value))
    assert scrubber.scrub(value) == MASK


# ---------------------------------------------------------------------------------------------------
# Redactor.scrub: forms of a secret
# ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "form",
    [
        SECRET,
        quote(SECRET, safe=""),
        quote_plus(SECRET, safe=""),
        base64.b64encode(SECRET.encode()).decode(),
        base64.b64encode(SECRET.encode()).decode().rstrip("="),
        base64.urlsafe_b64encode(SECRET.encode()).decode().rstrip("="),
    ],
    ids=["raw", "quote", "quote_plus", "base64", "base64-unpadded", "base64-urlsafe"],
)
def test_scrub_replaces_every_form(scrubber: Redactor, form: str) -> None:
    assert scrubber.scrub(f"before {form} after") == f"before {MASK} after"


def test_forms_under_test_are_all_distinct() -> None:
    forms = {
        SECRET,
        quote(SECRET, safe=""),
        quote_plus(SECRET, safe=""),
        base64.b64encode(SECRET.encode()).decode(),
        base64.b64encode(SECRET.encode()).decode().rstrip("="),
        base64.urlsafe_b64encode(SECRET.encode()).decode().rstrip("="),
    }
    assert len(forms) == 6


@pytest.mark.parametrize(
    "value", ['pa"ss-word', "pa\\ss-word", "pass\nword"], ids=["quote", "backslash", "newline"]
)
def test_scrub_replaces_json_escaped_form(value: str) -> None:
    fresh = Redactor()
    fresh.add(value)
    document = json.dumps({"password": value})
    assert json.loads(fresh.scrub(document)) == {"password": MASK}


def test_scrub_replaces_every_occurrence(scrubber: Redactor) -> None:
    assert scrubber.scrub(f"{SECRET}:{SECRET}") == f"{MASK}:{MASK}"


def test_scrub_without_secrets_returns_text_unchanged() -> None:
    assert Redactor().scrub("nothing to hide") == "nothing to hide"


def test_scrub_of_empty_text_is_empty(scrubber: Redactor) -> None:
    assert scrubber.scrub("") == ""


def test_scrub_treats_regex_characters_literally() -> None:
    fresh = Redactor()
    fresh.add("a.b*c+d")
    assert fresh.scrub("a.b*c+d axbbbcd") == f"{MASK} axbbbcd"


# ---------------------------------------------------------------------------------------------------
# Redactor.scrub: several secrets
# ---------------------------------------------------------------------------------------------------
def test_longer_secret_containing_shorter_one_is_masked_whole() -> None:
    fresh = Redactor()
    fresh.add("secret-value")
    fresh.add("secret-value-extended")
    assert fresh.scrub("x secret-value-extended y") == f"x {MASK} y"


def test_url_is_masked_whole_when_its_password_is_also_a_secret() -> None:
    fresh = Redactor()
    url = "postgresql://app:pa55word-x@db.internal:5432/app"
    fresh.add(url)
    assert fresh.scrub(f"connect {url} now") == f"connect {MASK} now"


def test_partly_overlapping_secrets_leave_no_fragment() -> None:
    fresh = Redactor()
    fresh.add("abcdef12")
    fresh.add("ef12ghij")
    assert fresh.scrub("<abcdef12ghij>") == f"<{MASK}>"


def test_adjacent_secrets_are_masked_separately() -> None:
    fresh = Redactor()
    fresh.add("first-secret")
    fresh.add("second-secret")
    assert fresh.scrub("first-secretsecond-secret") == MASK + MASK


def test_secret_added_after_a_scrub_is_scrubbed_next_time(scrubber: Redactor) -> None:
    later = unique_secret()
    assert scrubber.scrub(later) == later
    scrubber.add(later)
    assert scrubber.scrub(later) == MASK


# ---------------------------------------------------------------------------------------------------
# Redactor.add: what counts
# ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("value", ["", None, "abc", "true", "False", "null", "yes", "off"])
def test_short_or_common_values_are_ignored(value: str | None) -> None:
    fresh = Redactor()
    fresh.add(value)
    assert len(fresh) == 0


def test_ignored_common_value_is_not_scrubbed_from_text() -> None:
    fresh = Redactor()
    fresh.add("true")
    fresh.add("abc")
    assert fresh.scrub("enabled: true, abc") == "enabled: true, abc"


def test_four_character_value_is_registered() -> None:
    fresh = Redactor()
    fresh.add("k3y!")
    assert fresh.scrub("key k3y!") == f"key {MASK}"


def test_adding_same_value_twice_registers_it_once() -> None:
    fresh = Redactor()
    fresh.add("repeat-me")
    fresh.add("repeat-me")
    assert len(fresh) == 1


def test_adding_url_registers_its_password() -> None:
    fresh = Redactor()
    fresh.add("postgresql://app:pa55word-x@db.internal:5432/app")
    assert "pa55word-x" in fresh
    assert fresh.scrub("password is pa55word-x") == f"password is {MASK}"


def test_adding_url_registers_its_decoded_password() -> None:
    fresh = Redactor()
    fresh.add("postgresql://app:p%40ss%2Fw0rd@db/app")
    assert fresh.scrub("psql password=p@ss/w0rd") == f"psql password={MASK}"


def test_add_all_registers_each_value() -> None:
    fresh = Redactor()
    fresh.add_all(["first-secret", None, Secret(unique_secret()), "x"])
    assert len(fresh) == 2


def test_clear_forgets_every_secret(scrubber: Redactor) -> None:
    scrubber.clear()
    assert len(scrubber) == 0
    assert scrubber.scrub(SECRET) == SECRET


def test_fresh_redactor_is_independent_of_process_wide_one() -> None:
    value = unique_secret()
    Redactor().add(value)
    assert value not in redactor()


# ---------------------------------------------------------------------------------------------------
# scrub_obj and scrub_bytes
# ---------------------------------------------------------------------------------------------------
def test_scrub_obj_scrubs_nested_structures(scrubber: Redactor) -> None:
    data = {
        "message": f"login with {SECRET}",
        "nested": {"values": [SECRET, 3, None, (f"x{SECRET}", True)]},
        SECRET: "key too",
    }
    assert scrubber.scrub_obj(data) == {
        "message": f"login with {MASK}",
        "nested": {"values": [MASK, 3, None, (f"x{MASK}", True)]},
        MASK: "key too",
    }


def test_scrub_obj_keeps_container_types(scrubber: Redactor) -> None:
    result = scrubber.scrub_obj({"t": (SECRET,), "l": [SECRET]})
    assert isinstance(result["t"], tuple)
    assert isinstance(result["l"], list)


def test_scrub_obj_leaves_non_strings_alone(scrubber: Redactor) -> None:
    assert scrubber.scrub_obj(12.5) == 12.5
    assert scrubber.scrub_obj(None) is None


def test_scrub_bytes_scrubs_utf8_text(scrubber: Redactor) -> None:
    assert scrubber.scrub_bytes(f"token={SECRET}".encode()) == f"token={MASK}".encode()


def test_scrub_bytes_keeps_undecodable_bytes(scrubber: Redactor) -> None:
    data = b"\xff\xfe binary " + SECRET.encode() + b" \x80tail\xc3"
    assert scrubber.scrub_bytes(data) == b"\xff\xfe binary " + MASK.encode() + b" \x80tail\xc3"


def test_scrub_bytes_without_secrets_returns_same_bytes() -> None:
    data = b"\xff raw \x00"
    assert Redactor().scrub_bytes(data) == data


# ---------------------------------------------------------------------------------------------------
# Threads
# ---------------------------------------------------------------------------------------------------
def test_add_and_scrub_from_many_threads() -> None:
    fresh = Redactor()
    leaks: list[str] = []
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            for n in range(10):
                value = f"thread-{worker}-secret-{n}-{uuid.uuid4().hex[:8]}"
                fresh.add(value)
                scrubbed = fresh.scrub(f"[{value}]")
                if value in scrubbed:
                    leaks.append(value)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(worker,)) for worker in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert leaks == []
    assert len(fresh) == 8 * 10


# ---------------------------------------------------------------------------------------------------
# URLs
# ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("postgresql://app:pw-1234@db:5432/app", f"postgresql://app:{MASK}@db:5432/app"),
        ("postgresql://app:p@ss@db/app", f"postgresql://app:{MASK}@db/app"),
        ("redis://:pw-1234@cache:6379/0", f"redis://:{MASK}@cache:6379/0"),
        ("https://u:pw@h/p?token=abc#frag", f"https://u:{MASK}@h/p?{MASK}"),
        ("https://app.example.com/api/health", "https://app.example.com/api/health"),
        ("https://app.example.com/cb?code=xyz", f"https://app.example.com/cb?{MASK}"),
        ("https://deploy@app.example.com/", "https://deploy@app.example.com/"),
    ],
    ids=["password", "at-in-password", "no-user", "query", "plain", "query-only", "user-only"],
)
def test_mask_url(url: str, masked: str) -> None:
    assert mask_url(url) == masked


def test_mask_url_of_unparsable_url_is_mask() -> None:
    assert mask_url("http://[::1") == f"http://{MASK}"


@pytest.mark.parametrize(
    ("url", "password"),
    [
        ("postgresql://app:pw-1234@db/app", "pw-1234"),
        ("postgresql://app@db/app", None),
        ("https://app.example.com/", None),
        ("not a url but has @ sign", None),
        ("http://[::1", None),
    ],
)
def test_url_password(url: str, password: str | None) -> None:
    assert url_password(url) == password


# ---------------------------------------------------------------------------------------------------
# Secret-looking names and environment values
# ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name",
    [
        "NEXTAUTH_SECRET",
        "DB_PASSWORD",
        "GITHUB_TOKEN",
        "API_KEY",
        "KEY",
        "STRIPE_KEY_LIVE",
        "SENTRY_DSN",
        "DATABASE_URL",
        "REDIS_URL",
        "AWS_SECRET_ACCESS_KEY",
        "SLACK_WEBHOOK",
        "db_password",
    ],
)
def test_secret_names(name: str) -> None:
    assert is_secret_name(name) is True


@pytest.mark.parametrize(
    "name", ["NEXTAUTH_URL", "PATH", "HOME", "KEYBOARD_LAYOUT", "MONKEY", "AWS_ACCESS_KEY_ID", "GITHUB_SHA"]
)
def test_non_secret_names(name: str) -> None:
    assert is_secret_name(name) is False


def test_secret_env_values_takes_values_of_secret_names() -> None:
    environ = {"NEXTAUTH_SECRET": "s-1234", "HOME": "/root", "PATH": "/usr/bin"}
    assert secret_env_values(environ) == ["s-1234"]


def test_secret_env_values_takes_url_passwords_from_any_variable() -> None:
    environ = {"ANALYTICS_ENDPOINT": "https://ingest:pw-5678@stats.example.com/", "HOME": "/root"}
    assert secret_env_values(environ) == ["pw-5678", "ingest:pw-5678"]


def test_secret_env_values_takes_decoded_url_password() -> None:
    environ = {"ANALYTICS_ENDPOINT": "https://ingest:p%40ss@stats.example.com/"}
    assert secret_env_values(environ) == ["p%40ss", "ingest:p%40ss", "p@ss", "ingest:p@ss"]


def test_secret_env_values_takes_whole_url_and_password_of_secret_name() -> None:
    url = "postgresql://app:pw-1234@db/app"
    assert secret_env_values({"DATABASE_URL": url}) == [url, "pw-1234", "app:pw-1234"]


def test_secret_env_values_reads_process_environment_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    value = unique_secret()
    monkeypatch.setenv("OPSCHECK_TEST_TOKEN", value)
    assert value in secret_env_values()


def test_a_url_without_password_query_or_fragment_is_not_a_secret() -> None:
    r = Redactor()
    r.add("redis://cache.internal:6379/0")
    r.add("postgresql://app@db.internal:5432/app")
    assert (
        r.scrub("Redis at redis://cache.internal:6379/0 is down")
        == "Redis at redis://cache.internal:6379/0 is down"
    )
    assert len(r) == 0


def test_a_url_with_a_password_or_a_token_stays_secret() -> None:
    r = Redactor()
    r.add("redis://:s3cretpass@cache.internal:6379/0")
    r.add("https://hooks.example.com/services?token=abcdef123456")
    assert "s3cretpass" not in r.scrub("connect redis://:s3cretpass@cache.internal:6379/0")
    assert r.scrub("post https://hooks.example.com/services?token=abcdef123456") == "post ***"


# ---------------------------------------------------------------------------------------------------
# Issue 12 leak paths, one unit test each
# ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "url",
    [
        "postgresql://app:pw/tail-a1b2c3d4@db.internal:5432/app",
        "redis://:pw?tail-a1b2c3d4@cache.internal:6379/0",
        "postgresql://app:pw#tail-a1b2c3d4@db.internal/app",
        "postgresql://app:p@ss/tail-a1b2c3d4@db.internal/app",
    ],
    ids=["slash", "question-mark", "hash", "at-and-slash"],
)
def test_a_password_that_url_parsers_misread_is_registered_from_the_raw_text(url: str) -> None:
    r = Redactor()
    r.add(url)
    password = url.split("://", 1)[1].rsplit("@", 1)[0].split(":", 1)[1]
    assert (
        r.scrub(f"password {password} and its tail tail-a1b2c3d4") == f"password {MASK} and its tail {MASK}"
    )


@pytest.mark.parametrize(
    "url", ["postgresql://app:pw/tail-a1b2c3d4@db.internal:5432/app", "redis://:pw?tail-a1b2c3d4@cache/0"]
)
def test_a_url_that_parses_wrongly_is_never_echoed(url: str) -> None:
    masked = mask_url(url)
    assert "tail-a1b2c3d4" not in masked
    assert masked == f"{url.split('://', maxsplit=1)[0]}://{MASK}"


def test_basic_credentials_are_masked_at_every_alignment() -> None:
    r = Redactor()
    r.add("https://ops:basic-pw-77a1@app.example.com/")
    pair = base64.b64encode(b"ops:basic-pw-77a1").decode()
    assert r.scrub(f"Authorization: Basic {pair}") == f"Authorization: Basic {MASK}"
    for prefix in ("u:", "us:", "use:"):  # the password alone, inside someone else's pair
        encoded = base64.b64encode(f"{prefix}basic-pw-77a1".encode()).decode()
        assert "basic-pw-77a1" not in base64.b64decode(r.scrub(encoded).replace(MASK, "") + "==").decode(
            errors="replace"
        )


def test_url_secrets_takes_secret_query_parameters_of_a_page_path() -> None:
    assert url_secrets("/status?access_token=pgtok-123456&page=2") == ["pgtok-123456"]
    assert url_secrets("/status?page=2") == []


def test_clip_scrubs_before_it_cuts() -> None:
    value = unique_secret()
    redactor().add(value)
    clipped = clip("x" * 70 + value, 80)
    assert value[:8] not in clipped
    assert len(clipped) <= 80


def test_a_secret_cut_by_a_truncating_formatter_is_masked_on_both_sides_of_the_cut() -> None:
    r = Redactor()
    value = "cut-" + uuid.uuid4().hex
    r.add(value)
    assert r.scrub(f"'xxxx{value[:13]}...{value[20:]}yyyy'") == f"'xxxx{MASK}...{MASK}yyyy'"


def test_a_secret_wrapped_over_adjacent_literals_is_masked() -> None:
    r = Redactor()
    value = "wrap-" + uuid.uuid4().hex
    r.add(value)
    wrapped = f"(b'Token: {value[:10]}'\n b'{value[10:25]}'\n b'{value[25:]}\\r\\n')"
    scrubbed = r.scrub(wrapped)
    assert value[10:25] not in scrubbed
    assert value[:10] not in scrubbed
    assert value[25:] not in scrubbed
    assert scrubbed.startswith("(b'Token: ***")


def test_secrets_added_one_at_a_time_between_scrubs_stay_cheap_to_index(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Issue 14 point 4: the automata index 8 bytes of each form, not the whole form (a cookie's base64
    forms run to hundreds of bytes), and merge like a binary counter; each secret is found from the next
    scrub on, and only whole forms are masked."""
    import opscheck.secrets as module

    built: list[list[bytes]] = []
    real = module.BytesAhoCorasick

    def counting(patterns: list[bytes], **options: object) -> object:
        built.append(list(patterns))
        return real(patterns, **options)

    monkeypatch.setattr(module, "BytesAhoCorasick", counting)
    r = Redactor()
    values = [f"cookie-{number:04d}-{uuid.uuid4().hex}" * 4 for number in range(300)]
    for value in values:
        r.add(value)
        assert r.scrub(f"Cookie: s={value}; x=1") == f"Cookie: s={MASK}; x=1"
    assert max(len(pattern) for patterns in built for pattern in patterns) <= 8
    assert sum(len(patterns) for patterns in built) <= 300 * 5 * 10  # forms x log2(300) merges
    assert r.scrub("cookie-0007-") == "cookie-0007-"
    assert r.scrub(" ".join(values)) == " ".join([MASK] * len(values))


@pytest.mark.parametrize("value", ["pw12", "pw123", "pw1234", "pw-12345", "p\u00e4ss w\u00f6rd/?#1"])
def test_every_form_of_short_and_unusual_secrets_is_masked(value: str) -> None:
    r = Redactor()
    r.add(value)
    raw = value.encode()
    forms = {
        value,
        quote(value, safe=""),
        quote(value),
        quote_plus(value, safe=""),
        json.dumps(value)[1:-1],
        json.dumps(value, ensure_ascii=False)[1:-1],
        base64.b64encode(raw).decode(),
        base64.urlsafe_b64encode(raw).decode().rstrip("="),
    }
    for form in forms:
        assert r.scrub(f"<{form}>") == f"<{MASK}>", form
    for prefix in (b"", b"u:", b"us:", b"use:"):  # inside a longer base64 value, at every alignment
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            encoded = encode(prefix + raw + b"!").decode()
            # the characters that encode the secret's bytes alone: 8 bits per byte, 6 per character
            inner = encoded[-(-8 * len(prefix) // 6) : (8 * (len(prefix) + len(raw))) // 6]
            assert inner not in r.scrub(encoded), (prefix, encode)


def test_secrets_sharing_their_ends_are_each_masked() -> None:
    r = Redactor()
    values = [f"{number:02d}-shared-tail-0123456789" for number in range(40)]
    values += [f"shared-head-0123456789-{number:02d}" for number in range(40)]
    r.add_all(values)
    for value in values:
        assert r.scrub(f"x {value} y") == f"x {MASK} y"
        assert r.scrub(base64.b64encode(f"k:{value}".encode()).decode()).count(MASK) == 1


def test_a_long_text_is_scrubbed_across_its_chunks() -> None:
    r = Redactor()
    value = "tok-" + uuid.uuid4().hex
    r.add(value)
    for at in range(16370, 16390):  # around the first chunk boundary of the word reader
        text = "x" * at + value + "y" * 40
        assert r.scrub(text) == "x" * at + MASK + "y" * 40


def test_register_aws_credentials_registers_the_session_token() -> None:
    class Frozen:
        secret_key = "sk-" + uuid.uuid4().hex
        token = "tk-" + uuid.uuid4().hex

    class Credentials:
        def get_frozen_credentials(self) -> Frozen:
            return Frozen()

    class Session:
        def get_credentials(self) -> Credentials:
            return Credentials()

    register_aws_credentials(Session())
    assert Frozen.token in redactor()
    assert Frozen.secret_key in redactor()


@pytest.mark.parametrize(
    "name", ["MYSQL_PWD", "SENDGRID_APIKEY", "APIKEY", "AUTHKEY", "PASSPHRASE", "DB_PWD"]
)
def test_names_the_first_rules_missed_are_secret(name: str) -> None:
    assert is_secret_name(name) is True


def test_the_shells_working_directories_are_not_secrets(tmp_path: Path) -> None:
    environ = {"PWD": str(tmp_path), "OLDPWD": str(tmp_path), "MYSQL_PWD": "pw-4321"}
    assert secret_env_values(environ) == ["pw-4321"]
