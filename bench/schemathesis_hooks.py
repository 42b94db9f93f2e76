"""schemathesis hooks for bench/schemathesis.sh: the custom check `problem_json_errors`.

Every 4xx answer of signalpost must be RFC 9457 `application/problem+json` whose body carries the
HTTP status it was sent with, a `title`, and (for 422) the `field` at fault.
"""

import json

import schemathesis


@schemathesis.check
def problem_json_errors(ctx, response, case):
    """Every 4xx is application/problem+json with a matching `status` (and `field` on a 422)."""
    if not 400 <= response.status_code < 500:
        return None
    content_type = (response.headers.get("content-type") or [""])[0]
    if content_type.split(";")[0].strip().lower() != "application/problem+json":
        raise AssertionError(
            f"{response.status_code} answered as {content_type or 'no content type'!r}, "
            "not application/problem+json"
        )
    try:
        body = json.loads(response.content)
    except ValueError as exc:
        raise AssertionError(f"{response.status_code} problem body is not JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise AssertionError(f"{response.status_code} problem body is not an object: {body!r}")
    if body.get("status") != response.status_code:
        raise AssertionError(
            f"problem says status {body.get('status')!r}, the response is {response.status_code}"
        )
    if not body.get("title"):
        raise AssertionError(f"{response.status_code} problem has no title")
    if response.status_code == 422 and not body.get("field"):
        raise AssertionError(f"422 problem names no field: {body!r}")
    return None
