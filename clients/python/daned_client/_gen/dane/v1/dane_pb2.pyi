from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Iterable as _Iterable, Mapping as _Mapping, Optional as _Optional, Union as _Union

ACTION_DEFER: Action
ACTION_DELIVER: Action
ACTION_REJECT: Action
ACTION_UNSPECIFIED: Action
DESCRIPTOR: _descriptor.FileDescriptor
DNS_SECURITY_BOGUS: DnsSecurity
DNS_SECURITY_INDETERMINATE: DnsSecurity
DNS_SECURITY_INSECURE: DnsSecurity
DNS_SECURITY_LOOKUP_FAILED: DnsSecurity
DNS_SECURITY_SECURE: DnsSecurity
DNS_SECURITY_UNSPECIFIED: DnsSecurity
MTA_STS_MODE_ENFORCE: MtaStsMode
MTA_STS_MODE_NONE: MtaStsMode
MTA_STS_MODE_TESTING: MtaStsMode
MTA_STS_MODE_UNSPECIFIED: MtaStsMode
POLICY_DANE_REQUIRED: Policy
POLICY_MTA_STS_REQUIRED: Policy
POLICY_NO_MAIL: Policy
POLICY_OPPORTUNISTIC: Policy
POLICY_SOURCE_DANE: PolicySource
POLICY_SOURCE_MTA_STS: PolicySource
POLICY_SOURCE_NONE: PolicySource
POLICY_SOURCE_UNSPECIFIED: PolicySource
POLICY_TLS_REQUIRED: Policy
POLICY_UNSPECIFIED: Policy
REASON_CERT_EXPIRED: Reason
REASON_CERT_NAME_MISMATCH: Reason
REASON_CERT_NOT_TRUSTED: Reason
REASON_CERT_NOT_YET_VALID: Reason
REASON_CHAIN_INVALID: Reason
REASON_CONNECT_FAILED: Reason
REASON_DNSSEC_BOGUS: Reason
REASON_DNS_QUERY_FAILED: Reason
REASON_MX_NOT_IN_POLICY: Reason
REASON_NOT_CONSIDERED: Reason
REASON_NOT_PROBED: Reason
REASON_NO_ADDRESSES: Reason
REASON_NULL_MX: Reason
REASON_NXDOMAIN: Reason
REASON_OK: Reason
REASON_SMTP_ERROR: Reason
REASON_STARTTLS_NOT_OFFERED: Reason
REASON_STS_POLICY_FETCH_FAILED: Reason
REASON_STS_POLICY_INVALID: Reason
REASON_STS_WEBPKI_INVALID: Reason
REASON_TARGET_FORBIDDEN: Reason
REASON_TIMEOUT: Reason
REASON_TLSA_LOOKUP_FAILED: Reason
REASON_TLSA_NO_MATCH: Reason
REASON_TLS_HANDSHAKE_FAILED: Reason
REASON_UNSPECIFIED: Reason

class AddressResult(_message.Message):
    __slots__ = ["authenticated", "chain", "cipher_suite", "detail", "elapsed", "ip", "matched_tlsa_index", "reason", "starttls_offered", "tls_version"]
    AUTHENTICATED_FIELD_NUMBER: _ClassVar[int]
    CHAIN_FIELD_NUMBER: _ClassVar[int]
    CIPHER_SUITE_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    ELAPSED_FIELD_NUMBER: _ClassVar[int]
    IP_FIELD_NUMBER: _ClassVar[int]
    MATCHED_TLSA_INDEX_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    STARTTLS_OFFERED_FIELD_NUMBER: _ClassVar[int]
    TLS_VERSION_FIELD_NUMBER: _ClassVar[int]
    authenticated: bool
    chain: _containers.RepeatedCompositeFieldContainer[Certificate]
    cipher_suite: str
    detail: str
    elapsed: _duration_pb2.Duration
    ip: str
    matched_tlsa_index: int
    reason: Reason
    starttls_offered: bool
    tls_version: str
    def __init__(self, ip: _Optional[str] = ..., reason: _Optional[_Union[Reason, str]] = ..., starttls_offered: bool = ..., tls_version: _Optional[str] = ..., cipher_suite: _Optional[str] = ..., chain: _Optional[_Iterable[_Union[Certificate, _Mapping]]] = ..., matched_tlsa_index: _Optional[int] = ..., elapsed: _Optional[_Union[_duration_pb2.Duration, _Mapping]] = ..., detail: _Optional[str] = ..., authenticated: bool = ...) -> None: ...

class Certificate(_message.Message):
    __slots__ = ["dns_names", "issuer", "not_after", "not_before", "sha256", "spki_sha256", "subject"]
    DNS_NAMES_FIELD_NUMBER: _ClassVar[int]
    ISSUER_FIELD_NUMBER: _ClassVar[int]
    NOT_AFTER_FIELD_NUMBER: _ClassVar[int]
    NOT_BEFORE_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    SPKI_SHA256_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    dns_names: _containers.RepeatedScalarFieldContainer[str]
    issuer: str
    not_after: _timestamp_pb2.Timestamp
    not_before: _timestamp_pb2.Timestamp
    sha256: str
    spki_sha256: str
    subject: str
    def __init__(self, subject: _Optional[str] = ..., issuer: _Optional[str] = ..., dns_names: _Optional[_Iterable[str]] = ..., not_before: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., not_after: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., sha256: _Optional[str] = ..., spki_sha256: _Optional[str] = ...) -> None: ...

class InvalidateRequest(_message.Message):
    __slots__ = ["domain"]
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    domain: str
    def __init__(self, domain: _Optional[str] = ...) -> None: ...

class InvalidateResponse(_message.Message):
    __slots__ = ["domain", "removed"]
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    REMOVED_FIELD_NUMBER: _ClassVar[int]
    domain: str
    removed: int
    def __init__(self, domain: _Optional[str] = ..., removed: _Optional[int] = ...) -> None: ...

class MtaSts(_message.Message):
    __slots__ = ["detail", "expires_at", "failure", "fetched_at", "from_cache", "max_age", "mode", "mx_patterns", "policy_text", "record_id", "tlsrpt_result_type"]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    FAILURE_FIELD_NUMBER: _ClassVar[int]
    FETCHED_AT_FIELD_NUMBER: _ClassVar[int]
    FROM_CACHE_FIELD_NUMBER: _ClassVar[int]
    MAX_AGE_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    MX_PATTERNS_FIELD_NUMBER: _ClassVar[int]
    POLICY_TEXT_FIELD_NUMBER: _ClassVar[int]
    RECORD_ID_FIELD_NUMBER: _ClassVar[int]
    TLSRPT_RESULT_TYPE_FIELD_NUMBER: _ClassVar[int]
    detail: str
    expires_at: _timestamp_pb2.Timestamp
    failure: Reason
    fetched_at: _timestamp_pb2.Timestamp
    from_cache: bool
    max_age: _duration_pb2.Duration
    mode: MtaStsMode
    mx_patterns: _containers.RepeatedScalarFieldContainer[str]
    policy_text: str
    record_id: str
    tlsrpt_result_type: str
    def __init__(self, record_id: _Optional[str] = ..., mode: _Optional[_Union[MtaStsMode, str]] = ..., mx_patterns: _Optional[_Iterable[str]] = ..., max_age: _Optional[_Union[_duration_pb2.Duration, _Mapping]] = ..., fetched_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., expires_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., from_cache: bool = ..., policy_text: _Optional[str] = ..., failure: _Optional[_Union[Reason, str]] = ..., tlsrpt_result_type: _Optional[str] = ..., detail: _Optional[str] = ...) -> None: ...

class MxHost(_message.Message):
    __slots__ = ["address_security", "addresses", "cname_chain", "detail", "host_policy", "mta_sts_failure", "mta_sts_result_type", "mx_security", "name", "preference", "reason", "reference_names", "tlsa", "tlsa_base_domain", "tlsa_security", "usable_for_delivery"]
    ADDRESSES_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_SECURITY_FIELD_NUMBER: _ClassVar[int]
    CNAME_CHAIN_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    HOST_POLICY_FIELD_NUMBER: _ClassVar[int]
    MTA_STS_FAILURE_FIELD_NUMBER: _ClassVar[int]
    MTA_STS_RESULT_TYPE_FIELD_NUMBER: _ClassVar[int]
    MX_SECURITY_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    PREFERENCE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_NAMES_FIELD_NUMBER: _ClassVar[int]
    TLSA_BASE_DOMAIN_FIELD_NUMBER: _ClassVar[int]
    TLSA_FIELD_NUMBER: _ClassVar[int]
    TLSA_SECURITY_FIELD_NUMBER: _ClassVar[int]
    USABLE_FOR_DELIVERY_FIELD_NUMBER: _ClassVar[int]
    address_security: DnsSecurity
    addresses: _containers.RepeatedCompositeFieldContainer[AddressResult]
    cname_chain: _containers.RepeatedScalarFieldContainer[str]
    detail: str
    host_policy: Policy
    mta_sts_failure: Reason
    mta_sts_result_type: str
    mx_security: DnsSecurity
    name: str
    preference: int
    reason: Reason
    reference_names: _containers.RepeatedScalarFieldContainer[str]
    tlsa: _containers.RepeatedCompositeFieldContainer[TlsaRecord]
    tlsa_base_domain: str
    tlsa_security: DnsSecurity
    usable_for_delivery: bool
    def __init__(self, name: _Optional[str] = ..., preference: _Optional[int] = ..., mx_security: _Optional[_Union[DnsSecurity, str]] = ..., address_security: _Optional[_Union[DnsSecurity, str]] = ..., cname_chain: _Optional[_Iterable[str]] = ..., tlsa_base_domain: _Optional[str] = ..., tlsa_security: _Optional[_Union[DnsSecurity, str]] = ..., tlsa: _Optional[_Iterable[_Union[TlsaRecord, _Mapping]]] = ..., host_policy: _Optional[_Union[Policy, str]] = ..., reason: _Optional[_Union[Reason, str]] = ..., usable_for_delivery: bool = ..., addresses: _Optional[_Iterable[_Union[AddressResult, _Mapping]]] = ..., detail: _Optional[str] = ..., reference_names: _Optional[_Iterable[str]] = ..., mta_sts_failure: _Optional[_Union[Reason, str]] = ..., mta_sts_result_type: _Optional[str] = ...) -> None: ...

class RefusedSession(_message.Message):
    __slots__ = ["index", "reason"]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    index: int
    reason: str
    def __init__(self, index: _Optional[int] = ..., reason: _Optional[str] = ...) -> None: ...

class ReportSessionsRequest(_message.Message):
    __slots__ = ["results"]
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[SessionResult]
    def __init__(self, results: _Optional[_Iterable[_Union[SessionResult, _Mapping]]] = ...) -> None: ...

class ReportSessionsResponse(_message.Message):
    __slots__ = ["accepted", "refused"]
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    REFUSED_FIELD_NUMBER: _ClassVar[int]
    accepted: int
    refused: _containers.RepeatedCompositeFieldContainer[RefusedSession]
    def __init__(self, accepted: _Optional[int] = ..., refused: _Optional[_Iterable[_Union[RefusedSession, _Mapping]]] = ...) -> None: ...

class SendReportsRequest(_message.Message):
    __slots__ = ["include_current_period"]
    INCLUDE_CURRENT_PERIOD_FIELD_NUMBER: _ClassVar[int]
    include_current_period: bool
    def __init__(self, include_current_period: bool = ...) -> None: ...

class SendReportsResponse(_message.Message):
    __slots__ = ["reports"]
    REPORTS_FIELD_NUMBER: _ClassVar[int]
    reports: _containers.RepeatedCompositeFieldContainer[SentReport]
    def __init__(self, reports: _Optional[_Iterable[_Union[SentReport, _Mapping]]] = ...) -> None: ...

class SentReport(_message.Message):
    __slots__ = ["error", "ok", "policy_domain", "report_id", "rua"]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    OK_FIELD_NUMBER: _ClassVar[int]
    POLICY_DOMAIN_FIELD_NUMBER: _ClassVar[int]
    REPORT_ID_FIELD_NUMBER: _ClassVar[int]
    RUA_FIELD_NUMBER: _ClassVar[int]
    error: str
    ok: bool
    policy_domain: str
    report_id: str
    rua: str
    def __init__(self, policy_domain: _Optional[str] = ..., rua: _Optional[str] = ..., report_id: _Optional[str] = ..., ok: bool = ..., error: _Optional[str] = ...) -> None: ...

class SessionResult(_message.Message):
    __slots__ = ["additional_information", "domain", "failure_reason_code", "mx_host", "receiving_ip", "receiving_mx_helo", "result_type", "sending_mta_ip", "success", "time"]
    ADDITIONAL_INFORMATION_FIELD_NUMBER: _ClassVar[int]
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    FAILURE_REASON_CODE_FIELD_NUMBER: _ClassVar[int]
    MX_HOST_FIELD_NUMBER: _ClassVar[int]
    RECEIVING_IP_FIELD_NUMBER: _ClassVar[int]
    RECEIVING_MX_HELO_FIELD_NUMBER: _ClassVar[int]
    RESULT_TYPE_FIELD_NUMBER: _ClassVar[int]
    SENDING_MTA_IP_FIELD_NUMBER: _ClassVar[int]
    SUCCESS_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    additional_information: str
    domain: str
    failure_reason_code: str
    mx_host: str
    receiving_ip: str
    receiving_mx_helo: str
    result_type: str
    sending_mta_ip: str
    success: bool
    time: _timestamp_pb2.Timestamp
    def __init__(self, domain: _Optional[str] = ..., mx_host: _Optional[str] = ..., receiving_ip: _Optional[str] = ..., sending_mta_ip: _Optional[str] = ..., receiving_mx_helo: _Optional[str] = ..., success: bool = ..., result_type: _Optional[str] = ..., failure_reason_code: _Optional[str] = ..., additional_information: _Optional[str] = ..., time: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class StreamError(_message.Message):
    __slots__ = ["code", "message"]
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    code: str
    message: str
    def __init__(self, code: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class TlsRptCountsRequest(_message.Message):
    __slots__ = ["domain"]
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    domain: str
    def __init__(self, domain: _Optional[str] = ...) -> None: ...

class TlsRptCountsResponse(_message.Message):
    __slots__ = ["ranges"]
    RANGES_FIELD_NUMBER: _ClassVar[int]
    ranges: _containers.RepeatedCompositeFieldContainer[TlsRptRange]
    def __init__(self, ranges: _Optional[_Iterable[_Union[TlsRptRange, _Mapping]]] = ...) -> None: ...

class TlsRptRange(_message.Message):
    __slots__ = ["end", "policies_json", "policy_domain", "start"]
    END_FIELD_NUMBER: _ClassVar[int]
    POLICIES_JSON_FIELD_NUMBER: _ClassVar[int]
    POLICY_DOMAIN_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    end: _timestamp_pb2.Timestamp
    policies_json: str
    policy_domain: str
    start: _timestamp_pb2.Timestamp
    def __init__(self, policy_domain: _Optional[str] = ..., start: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., end: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., policies_json: _Optional[str] = ...) -> None: ...

class TlsaRecord(_message.Message):
    __slots__ = ["data", "matching_type", "selector", "unusable_reason", "usable", "usage"]
    DATA_FIELD_NUMBER: _ClassVar[int]
    MATCHING_TYPE_FIELD_NUMBER: _ClassVar[int]
    SELECTOR_FIELD_NUMBER: _ClassVar[int]
    UNUSABLE_REASON_FIELD_NUMBER: _ClassVar[int]
    USABLE_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    data: str
    matching_type: int
    selector: int
    unusable_reason: str
    usable: bool
    usage: int
    def __init__(self, usage: _Optional[int] = ..., selector: _Optional[int] = ..., matching_type: _Optional[int] = ..., data: _Optional[str] = ..., usable: bool = ..., unusable_reason: _Optional[str] = ...) -> None: ...

class ValidateRequest(_message.Message):
    __slots__ = ["bypass_cache", "domain", "policy_only"]
    BYPASS_CACHE_FIELD_NUMBER: _ClassVar[int]
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    POLICY_ONLY_FIELD_NUMBER: _ClassVar[int]
    bypass_cache: bool
    domain: str
    policy_only: bool
    def __init__(self, domain: _Optional[str] = ..., policy_only: bool = ..., bypass_cache: bool = ...) -> None: ...

class ValidateResponse(_message.Message):
    __slots__ = ["action", "checked_at", "domain", "from_cache", "implicit_mx", "mta_sts", "mx_hosts", "mx_security", "policy", "policy_only", "policy_source", "policy_source_detail", "reason", "status_code", "status_text", "tlsrpt_result_type", "trace_id", "ttl"]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    CHECKED_AT_FIELD_NUMBER: _ClassVar[int]
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    FROM_CACHE_FIELD_NUMBER: _ClassVar[int]
    IMPLICIT_MX_FIELD_NUMBER: _ClassVar[int]
    MTA_STS_FIELD_NUMBER: _ClassVar[int]
    MX_HOSTS_FIELD_NUMBER: _ClassVar[int]
    MX_SECURITY_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    POLICY_ONLY_FIELD_NUMBER: _ClassVar[int]
    POLICY_SOURCE_DETAIL_FIELD_NUMBER: _ClassVar[int]
    POLICY_SOURCE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    STATUS_CODE_FIELD_NUMBER: _ClassVar[int]
    STATUS_TEXT_FIELD_NUMBER: _ClassVar[int]
    TLSRPT_RESULT_TYPE_FIELD_NUMBER: _ClassVar[int]
    TRACE_ID_FIELD_NUMBER: _ClassVar[int]
    TTL_FIELD_NUMBER: _ClassVar[int]
    action: Action
    checked_at: _timestamp_pb2.Timestamp
    domain: str
    from_cache: bool
    implicit_mx: bool
    mta_sts: MtaSts
    mx_hosts: _containers.RepeatedCompositeFieldContainer[MxHost]
    mx_security: DnsSecurity
    policy: Policy
    policy_only: bool
    policy_source: PolicySource
    policy_source_detail: str
    reason: Reason
    status_code: str
    status_text: str
    tlsrpt_result_type: str
    trace_id: str
    ttl: _duration_pb2.Duration
    def __init__(self, domain: _Optional[str] = ..., policy: _Optional[_Union[Policy, str]] = ..., action: _Optional[_Union[Action, str]] = ..., reason: _Optional[_Union[Reason, str]] = ..., status_code: _Optional[str] = ..., status_text: _Optional[str] = ..., tlsrpt_result_type: _Optional[str] = ..., mx_hosts: _Optional[_Iterable[_Union[MxHost, _Mapping]]] = ..., checked_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., ttl: _Optional[_Union[_duration_pb2.Duration, _Mapping]] = ..., from_cache: bool = ..., mx_security: _Optional[_Union[DnsSecurity, str]] = ..., implicit_mx: bool = ..., policy_only: bool = ..., trace_id: _Optional[str] = ..., policy_source: _Optional[_Union[PolicySource, str]] = ..., policy_source_detail: _Optional[str] = ..., mta_sts: _Optional[_Union[MtaSts, _Mapping]] = ...) -> None: ...

class ValidateStreamRequest(_message.Message):
    __slots__ = ["request", "request_id"]
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    request: ValidateRequest
    request_id: str
    def __init__(self, request_id: _Optional[str] = ..., request: _Optional[_Union[ValidateRequest, _Mapping]] = ...) -> None: ...

class ValidateStreamResponse(_message.Message):
    __slots__ = ["error", "request_id", "response"]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_FIELD_NUMBER: _ClassVar[int]
    error: StreamError
    request_id: str
    response: ValidateResponse
    def __init__(self, request_id: _Optional[str] = ..., response: _Optional[_Union[ValidateResponse, _Mapping]] = ..., error: _Optional[_Union[StreamError, _Mapping]] = ...) -> None: ...

class VerifyPeerRequest(_message.Message):
    __slots__ = ["chain", "domain", "mx_host"]
    CHAIN_FIELD_NUMBER: _ClassVar[int]
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    MX_HOST_FIELD_NUMBER: _ClassVar[int]
    chain: _containers.RepeatedScalarFieldContainer[bytes]
    domain: str
    mx_host: str
    def __init__(self, domain: _Optional[str] = ..., mx_host: _Optional[str] = ..., chain: _Optional[_Iterable[bytes]] = ...) -> None: ...

class VerifyPeerResponse(_message.Message):
    __slots__ = ["detail", "domain", "host_policy", "matched_record", "matched_tlsa_index", "mx_host", "reason", "reference_names", "status_code", "tlsrpt_result_type", "verified"]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    HOST_POLICY_FIELD_NUMBER: _ClassVar[int]
    MATCHED_RECORD_FIELD_NUMBER: _ClassVar[int]
    MATCHED_TLSA_INDEX_FIELD_NUMBER: _ClassVar[int]
    MX_HOST_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_NAMES_FIELD_NUMBER: _ClassVar[int]
    STATUS_CODE_FIELD_NUMBER: _ClassVar[int]
    TLSRPT_RESULT_TYPE_FIELD_NUMBER: _ClassVar[int]
    VERIFIED_FIELD_NUMBER: _ClassVar[int]
    detail: str
    domain: str
    host_policy: Policy
    matched_record: TlsaRecord
    matched_tlsa_index: int
    mx_host: str
    reason: Reason
    reference_names: _containers.RepeatedScalarFieldContainer[str]
    status_code: str
    tlsrpt_result_type: str
    verified: bool
    def __init__(self, verified: bool = ..., reason: _Optional[_Union[Reason, str]] = ..., matched_tlsa_index: _Optional[int] = ..., matched_record: _Optional[_Union[TlsaRecord, _Mapping]] = ..., detail: _Optional[str] = ..., host_policy: _Optional[_Union[Policy, str]] = ..., status_code: _Optional[str] = ..., tlsrpt_result_type: _Optional[str] = ..., domain: _Optional[str] = ..., mx_host: _Optional[str] = ..., reference_names: _Optional[_Iterable[str]] = ...) -> None: ...

class MtaStsMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []

class PolicySource(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []

class Policy(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []

class Action(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []

class DnsSecurity(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []

class Reason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []
