"""Logging in to the server's pages from Playwright."""

from __future__ import annotations

from playwright.sync_api import Page


def login(page: Page, base_url: str, username: str, password: str) -> None:
    """Open the login page, submit the form and wait for the page it leads to."""
    page.goto(f"{base_url}/login")
    page.fill("#username", username)
    page.fill("#password", password)
    with page.expect_navigation():
        page.click("#login-form button[type=submit]")
