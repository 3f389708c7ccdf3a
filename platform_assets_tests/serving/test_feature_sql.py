"""The served query is the batch feature SQL over one request: the file cuts back into itself, and
a request's features come out as the batch's definition says (expected values worked out by hand)."""

import datetime as dt

import pytest

from platform_assets.serving.feature_sql import definition, join_ctes, split_ctes
from platform_assets.serving.online_store import load_snapshot, store_root
from platform_assets.serving.served_features import SessionStart, served_features
from platform_assets_tests.serving.support import publish

T = dt.datetime(2026, 3, 10, 12, 0, 0)  # a Tuesday


def test_the_feature_sql_is_cut_into_its_ctes_and_back_without_losing_a_character():
    sql = definition().sql
    parts = split_ctes(sql)
    assert list(parts.ctes)[:3] == ["session_days", "later", "whole_sessions"]
    body = sql[len(parts.preamble) :]
    assert join_ctes(parts.ctes, parts.select).split() == body.split()


@pytest.mark.parametrize(
    "sql",
    ["SELECT 1", "WITH a AS (\nSELECT 1\nSELECT 2", "a AS (\nSELECT 1\n)\nSELECT 1"],
)
def test_a_query_that_cannot_be_cut_is_refused(sql):
    with pytest.raises(ValueError):
        split_ctes(sql)


@pytest.fixture
def snapshot(tmp_path):
    day = dt.date(2026, 3, 10)
    rows = [
        # counted: began 3 days before, ended before T, converted, 4 page views
        ("u1", "s1", day - dt.timedelta(days=3), dt.datetime(2026, 3, 7, 9, 0), 1, 4),
        # counted: the same day, ended 2 hours before T (the latest end)
        ("u1", "s2", day, dt.datetime(2026, 3, 10, 10, 0), 0, 2),
        # not counted: still going at T
        ("u1", "s3", day, dt.datetime(2026, 3, 10, 12, 30), 1, 9),
        # not counted: began 29 days before the day (the window is 28)
        ("u1", "s4", day - dt.timedelta(days=29), dt.datetime(2026, 2, 9, 8, 0), 1, 7),
        # another visitor
        ("u2", "s5", day, dt.datetime(2026, 3, 10, 8, 0), 1, 3),
    ]
    publish(tmp_path, "2026-03-10", rows)
    from platform_assets.serving.online_store import read_pointer

    return load_snapshot(store_root(tmp_path), read_pointer(store_root(tmp_path)))


def _features(snapshot, **fields):
    return served_features(
        snapshot, SessionStart(**{"visitor_id": "u1", "start": T, "entry_path": "/", **fields})
    )


def test_history_counts_the_visitors_ended_sessions_of_the_window_only(snapshot):
    row = _features(snapshot).iloc[0]
    assert (row.prior_sessions_28d, row.prior_conversions_28d, row.prior_page_views_28d) == (2, 1, 6)
    assert row.days_since_prior_session == pytest.approx(2 / 24)
    assert (row.hour_of_day, row.day_of_week, row.is_logged_in) == (12, 2, 1)


def test_an_unseen_visitor_is_a_first_visit(snapshot):
    row = _features(snapshot, visitor_id="anon-00000000000000ff").iloc[0]
    assert (
        row.prior_sessions_28d,
        row.prior_conversions_28d,
        row.prior_page_views_28d,
        row.is_logged_in,
    ) == (
        0,
        0,
        0,
        0,
    )
    assert row.days_since_prior_session != row.days_since_prior_session  # NaN: no earlier session


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"entry_path": "/product/7?ref=x"}, {"entry_event_type": "product"}),
        ({"entry_path": "/"}, {"entry_event_type": "landing", "referrer_class": "direct"}),
        ({"referrer": "https://www.google.com/search?q=a"}, {"referrer_class": "search"}),
        ({"referrer": "https://shop.example/?utm_source=mail"}, {"referrer_class": "campaign"}),
        ({"user_agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0) Mobile/15E148"}, {"device": "mobile"}),
        ({"user_agent": "Mozilla/5.0 (iPhone) Mobile", "device": "tablet"}, {"device": "tablet"}),
        ({}, {"device": "unknown", "country": "unknown"}),
        ({"country": "DE"}, {"country": "DE"}),
    ],
)
def test_the_entry_context_is_the_lakes_and_the_feature_sqls(snapshot, fields, expected):
    row = _features(snapshot, **fields).iloc[0]
    assert {k: row[k] for k in expected} == expected


def test_a_bot_gets_no_feature_row(snapshot):
    assert _features(snapshot, user_agent="Googlebot/2.1").empty
