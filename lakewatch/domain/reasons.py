"""Quarantine reason codes: the stable vocabulary of the wire contract, persisted with every quarantine row."""

from enum import StrEnum


class Reason(StrEnum):
    """Why a record was quarantined. Values are persisted and alerted on: never rename one."""

    INVALID_JSON = "invalid_json"
    NOT_AN_OBJECT = "not_an_object"
    UNKNOWN_EVENT_TYPE = "unknown_event_type"
    MISSING_FIELD = "missing_field"
    INVALID_FIELD = "invalid_field"
    TOTAL_MISMATCH = "total_mismatch"
    TOO_LARGE = "too_large"
    #: Processing the record raised an unexpected exception: the record is set aside alone, its batch goes on.
    TRANSFORM_ERROR = "transform_error"
