"""The API as a client sees it: JSON over HTTP with a bearer token."""

from __future__ import annotations

import json
from typing import Any

from django.test import Client

from listkeeper.api.models import ApiToken


class ApiClient:
    """The Django test client speaking JSON with a bearer token."""

    def __init__(self, token: str | None) -> None:
        self.client = Client(enforce_csrf_checks=True)
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    def _call(self, method: str, path: str, body: Any = None, **kw: Any) -> Any:
        fn = getattr(self.client, method)
        # No body at all, as `curl -X POST` sends, when there is nothing to say.
        data = "" if body is None else json.dumps(body)
        kw.update(data=data, content_type="application/json")
        return fn(f"/api{path}", headers=self.headers, **kw)

    def get(self, path: str, **params: Any) -> Any:
        return self.client.get(f"/api{path}", params, headers=self.headers)

    def post(self, path: str, body: Any = None) -> Any:
        return self._call("post", path, body)

    def patch(self, path: str, body: Any = None) -> Any:
        return self._call("patch", path, body)

    def delete(self, path: str) -> Any:
        return self._call("delete", path)


def client_for(user: Any) -> ApiClient:
    _, plain = ApiToken.issue(user, name="tests")
    return ApiClient(plain)
