"""The owners' interface in a real browser: Debian's Chromium driven by Playwright."""

from __future__ import annotations

import pytest

from listkeeper.lists import services
from listkeeper.lists.models import Role, Subscription
from tests.browser import launch, needs_chromium
from tests.support.accounts import PASSWORD, make_user

pytestmark = [
    pytest.mark.browser,
    needs_chromium,
]


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = launch(p)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, live_server, transactional_db, settings):
    settings.BULK_IMPORT_THREADS = True  # the real thing: background thread, refreshing page
    context = browser.new_context(base_url=live_server.url)
    page = context.new_page()
    page.set_default_timeout(15000)
    yield page
    context.close()


def sign_in(page, email: str) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/")
    assert page.get_by_role("heading", name="Dashboard").is_visible()


def create_list(page, name: str) -> None:
    page.goto("/lists/new/")
    page.get_by_label("List name").fill(name)
    page.get_by_label("Display name").fill(name.title())
    page.get_by_role("button", name="Create list").click()
    assert page.get_by_text(f"Created {name}@lists.example.org").is_visible()


def add_member(page, address: str) -> None:
    page.get_by_label("Add a member").fill(address)
    page.get_by_role("button", name="Add", exact=True).click()


def test_it_signs_in_creates_a_list_and_adds_a_member(page):
    make_user("root@example.org", admin=True)
    sign_in(page, "root@example.org")
    create_list(page, "community")
    add_member(page, "Ann Example <ann@example.org>")
    assert page.get_by_text("Added ann@example.org to community@lists.example.org").is_visible()
    row = page.locator("tbody tr", has_text="ann@example.org")
    assert "Ann Example" in row.inner_text()
    add_member(page, "ann@example.org")
    assert page.get_by_text("already a member of community@lists.example.org").is_visible()


def test_it_shows_a_member_on_their_page_with_both_lists(page):
    make_user("root@example.org", admin=True)
    sign_in(page, "root@example.org")
    create_list(page, "alpha")
    add_member(page, "bob@example.org")
    create_list(page, "beta")
    add_member(page, "bob@example.org")
    page.get_by_role("link", name="bob@example.org").click()
    assert page.get_by_role("heading", name="bob@example.org").is_visible()
    lists = page.locator("tbody").inner_text()
    assert "alpha@lists.example.org" in lists and "beta@lists.example.org" in lists


def test_it_previews_a_csv_with_bad_rows_and_adds_the_good_ones(page, tmp_path):
    make_user("root@example.org", admin=True)
    ml = services.create_list("gamma", "lists.example.org", actor="test")
    services.subscribe(ml, "old@example.org", actor="test")
    csv_file = tmp_path / "people.csv"
    csv_file.write_text(
        "\ufeffemail,name\nann@example.org,Ann\nnot-an-address,X\nANN@example.org,Dup\n"
        "old@example.org,Old\ncarl@example.org,Carl\n",
        encoding="utf-8",
    )
    sign_in(page, "root@example.org")
    page.goto(f"/bulk/?list={ml.id}")
    page.get_by_label("Or upload a CSV file").set_input_files(str(csv_file))
    page.get_by_role("button", name="Check the addresses").click()
    page.wait_for_selector("#count-rows")
    assert page.locator("#count-rows").inner_text() == "5"
    assert page.locator("#count-valid").inner_text() == "3"
    assert page.locator("#count-invalid").inner_text() == "1"
    assert page.locator("#count-duplicates").inner_text() == "1"
    problems = page.locator("tr.problem").all_inner_texts()
    assert any("not-an-address" in p for p in problems)
    assert any("already a member of gamma@lists.example.org" in p for p in problems)
    page.get_by_role("button", name="Add 2 subscriptions").click()
    page.get_by_text("Done").wait_for()
    assert set(
        Subscription.objects.filter(mailing_list=ml).values_list("member__email", flat=True)
    ) == {"old@example.org", "ann@example.org", "carl@example.org"}


def test_it_removes_a_member(page):
    make_user("root@example.org", admin=True)
    ml = services.create_list("delta", "lists.example.org", actor="test")
    services.subscribe(ml, "stay@example.org", actor="test")
    services.subscribe(ml, "go@example.org", actor="test")
    sign_in(page, "root@example.org")
    page.goto(f"/lists/{ml.id}/")
    page.get_by_label("Select go@example.org").check()
    page.get_by_label("With the selected members").select_option("remove")
    page.get_by_role("button", name="Apply").click()
    heading = page.get_by_role("heading", level=1).inner_text()
    assert heading == "Remove from the list: 1 member of delta@lists.example.org?"
    assert Subscription.objects.filter(mailing_list=ml).count() == 2  # not yet
    page.get_by_role("button", name="Remove from the list: 1 member").click()
    assert page.get_by_text(
        "Remove from the list: 1 member of delta@lists.example.org"
    ).is_visible()
    assert page.locator("tbody").inner_text().count("@example.org") == 1
    assert list(
        Subscription.objects.filter(mailing_list=ml).values_list("member__email", flat=True)
    ) == ["stay@example.org"]


def test_it_selects_every_member_on_the_page_with_one_box(page):
    make_user("root@example.org", admin=True)
    ml = services.create_list("epsilon", "lists.example.org", actor="test")
    for name in ("ann", "bob", "cay"):
        services.subscribe(ml, f"{name}@example.org", actor="test")
    sign_in(page, "root@example.org")
    page.goto(f"/lists/{ml.id}/")
    page.get_by_label("Select every member on this page").check()
    boxes = page.locator('input[name="selected"]')
    assert [boxes.nth(i).is_checked() for i in range(boxes.count())] == [True, True, True]
    page.get_by_label("Select bob@example.org").uncheck()
    assert page.get_by_label("Select every member on this page").evaluate("e => e.indeterminate")


def test_it_keeps_a_list_owner_out_of_another_owners_list(page):
    mine = services.create_list("mine", "lists.example.org", actor="test")
    theirs = services.create_list("theirs", "lists.example.org", actor="test")
    make_user("owner@example.org")
    services.subscribe(mine, "owner@example.org", actor="test", role=Role.OWNER)
    sign_in(page, "owner@example.org")
    assert page.get_by_role("link", name="mine@lists.example.org").is_visible()
    assert page.get_by_text("theirs@lists.example.org").count() == 0
    response = page.goto(f"/lists/{theirs.id}/")
    assert response.status == 404
    response = page.goto(f"/lists/{mine.id}/")
    assert response.status == 200
