"""Harness response envelopes, error bodies and page shapes (``harness-api.md`` §2, §3).

Handlers return data and raise :class:`HarnessError`; the app turns both into bytes here.

>>> err = HarnessError.invalid_request("Pipeline with the given ID: p does not exist or has been deleted")
>>> err.http_status, err.code, err.message
(400, 'INVALID_REQUEST', 'Invalid request: Pipeline with the given ID: p does not exist or has been deleted')
>>> ng_page([1, 2, 3], page_index=1, page_size=2)["content"]
[3]
"""

from __future__ import annotations

import json
import math
import secrets
import uuid
from collections.abc import Sequence
from typing import Any, Final, Literal

_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode

UNKNOWN_ERROR_MESSAGE: Final = "Oops, something went wrong on our end. Please contact Harness Support."

#: HTTP status of error codes that are not 400 (ErrorCode.getStatus in Harness).
_CODE_STATUS: Final[dict[str, int]] = {
    "RESOURCE_NOT_FOUND": 404,
    "ENTITY_NOT_FOUND": 404,
    "INVALID_TOKEN": 401,
    "EXPIRED_TOKEN": 401,
    "INVALID_CREDENTIAL": 401,
    "ACCESS_DENIED": 403,
    "NG_ACCESS_DENIED": 403,
    "USAGE_LIMITS_EXCEEDED": 403,
    "UNKNOWN_ERROR": 500,
    "REQUEST_TIMEOUT": 504,
    "MEDIA_NOT_SUPPORTED": 415,
}


def dumps(value: Any) -> bytes:
    """Compact JSON bytes."""
    return _dumps(value).encode()


def correlation_id() -> str:
    """A fresh correlation id like Harness's (uuid4 text)."""
    return str(uuid.uuid4())


def success_body(data: Any) -> bytes:
    """``{"status":"SUCCESS","data":...,"metaData":null,"correlationId":...}`` as bytes."""
    return success_body_raw(dumps(data))


def success_body_raw(data_json: bytes) -> bytes:
    """The success envelope around already-serialised ``data`` (hot path: cached detail bodies)."""
    return (
        b'{"status":"SUCCESS","data":'
        + data_json
        + b',"metaData":null,"correlationId":"'
        + str(uuid.uuid4()).encode()
        + b'"}'
    )


class HarnessError(Exception):
    """An error Harness would answer with, rendered as ErrorDTO (``ERROR``) or FailureDTO (``FAILURE``).

    >>> HarnessError("DUPLICATE_FIELD", "Connector [c] already exists").http_status
    400
    >>> HarnessError.not_found_failure("Organization with identifier [x] not found").body()["status"]
    'FAILURE'
    """

    def __init__(
        self,
        code: str,
        message: str,
        *,
        kind: Literal["ERROR", "FAILURE"] = "ERROR",
        http_status: int | None = None,
        errors: list[dict[str, str]] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.kind = kind
        self.http_status = http_status if http_status is not None else _CODE_STATUS.get(code, 400)
        self.errors = errors

    def body(self) -> dict[str, Any]:
        """The JSON body, exactly the ErrorDTO / FailureDTO field set."""
        if self.kind == "FAILURE":
            return {
                "status": "FAILURE",
                "code": self.code,
                "message": self.message,
                "correlationId": correlation_id(),
                "errors": self.errors,
            }
        return {
            "status": "ERROR",
            "code": self.code,
            "message": self.message,
            "correlationId": correlation_id(),
            "detailedMessage": None,
            "responseMessages": [
                {
                    "code": self.code,
                    "level": "ERROR",
                    "message": self.message,
                    "exception": None,
                    "failureTypes": [],
                }
            ],
            "metadata": None,
        }

    # Constructors for the errors Harness gives most often.
    @classmethod
    def invalid_request(cls, raw: str) -> HarnessError:
        """``INVALID_REQUEST`` with Harness's ``Invalid request: ${exception_message}`` template."""
        return cls("INVALID_REQUEST", f"Invalid request: {raw}")

    @classmethod
    def not_found_failure(cls, message: str) -> HarnessError:
        """javax ``NotFoundException``: HTTP 400, FAILURE, ``RESOURCE_NOT_FOUND_EXCEPTION``."""
        return cls("RESOURCE_NOT_FOUND_EXCEPTION", message, kind="FAILURE")

    @classmethod
    def entity_not_found(cls, message: str) -> HarnessError:
        """``EntityNotFoundException``: HTTP 404, ERROR, ``ENTITY_NOT_FOUND``."""
        return cls("ENTITY_NOT_FOUND", message)

    @classmethod
    def duplicate(cls, message: str) -> HarnessError:
        """``DuplicateFieldException``: HTTP 400, ``DUPLICATE_FIELD``."""
        return cls("DUPLICATE_FIELD", message)

    @classmethod
    def validation(cls, field_errors: Sequence[tuple[str, str]]) -> HarnessError:
        """Bean-validation failure: FAILURE ``INVALID_REQUEST`` with ``errors[{fieldId,error}]``."""
        message = ", ".join(f"{fieldname}: {error}" for fieldname, error in field_errors)
        errors = [{"fieldId": fieldname, "error": error} for fieldname, error in field_errors]
        return cls("INVALID_REQUEST", message, kind="FAILURE", errors=errors)

    @classmethod
    def invalid_yaml(cls, problem: str) -> HarnessError:
        """``INVALID_YAML_ERROR`` for unparsable or schema-invalid YAML."""
        return cls("INVALID_YAML_ERROR", f"Invalid yaml: {problem}")

    @classmethod
    def unknown(cls) -> HarnessError:
        """What ``GenericExceptionMapperV2`` answers for an unexpected exception (HTTP 500)."""
        return cls("UNKNOWN_ERROR", UNKNOWN_ERROR_MESSAGE)

    @classmethod
    def invalid_token(cls) -> HarnessError:
        """Wrong, missing or foreign API key (HTTP 401)."""
        return cls("INVALID_TOKEN", "Token is not valid.")


#: goa error names by HTTP status (IaCM and other goa services).
GOA_ERROR_NAMES: Final[dict[int, str]] = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    409: "conflict",
    500: "internal",
}
GOA_CONTENT_TYPE: Final = b"application/vnd.goa.error"


def goa_error_body(err: HarnessError) -> dict[str, Any]:
    """A goa error body for ``err`` (its HTTP status picks the name; 5xx are faults).

    >>> body = goa_error_body(HarnessError("not_found", "workspace w not found", http_status=404))
    >>> body["name"], body["message"], body["fault"], sorted(body)
    ('not_found', 'workspace w not found', False, ['fault', 'id', 'message', 'name', 'temporary', 'timeout'])
    """
    status = err.http_status
    default = "internal" if status >= 500 else "bad_request"
    return {
        "name": GOA_ERROR_NAMES.get(status, default),
        "id": secrets.token_urlsafe(6),
        "message": err.message,
        "temporary": False,
        "timeout": False,
        "fault": status >= 500,
    }


def ng_page(items: Sequence[Any], *, page_index: int, page_size: int) -> dict[str, Any]:
    """NG ``PageResponse`` (``pageIndex``/``pageSize`` lists, §3.1)."""
    total = len(items)
    start = page_index * page_size
    content = list(items[start : start + page_size]) if page_size > 0 else []
    return {
        "totalPages": math.ceil(total / page_size) if page_size > 0 else 0,
        "totalItems": total,
        "pageItemCount": len(content),
        "pageSize": page_size,
        "content": content,
        "pageIndex": page_index,
        "empty": not content,
        "pageToken": None,
    }


def spring_page(items: Sequence[Any], *, page: int, size: int, sorted_: bool = True) -> dict[str, Any]:
    """Spring Data ``PageImpl`` as pipeline-service serialises it (§3.2)."""
    total = len(items)
    start = page * size
    content = list(items[start : start + size]) if size > 0 else []
    total_pages = math.ceil(total / size) if size > 0 else 1
    sort = {"sorted": sorted_, "unsorted": not sorted_, "empty": not sorted_}
    return {
        "content": content,
        "pageable": {
            "sort": dict(sort),
            "pageNumber": page,
            "pageSize": size,
            "offset": start,
            "paged": True,
            "unpaged": False,
        },
        "last": page >= total_pages - 1,
        "totalPages": total_pages,
        "totalElements": total,
        "first": page == 0,
        "number": page,
        "sort": dict(sort),
        "numberOfElements": len(content),
        "size": size,
        "empty": not content,
    }
