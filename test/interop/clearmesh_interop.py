#!/usr/bin/python3
"""An independent clearmesh interop client, written from PROTOCOL.md alone.

It imports nothing from the project: no generated code, no .proto files. It learns the
clearing API by gRPC server reflection, signs calls per PROTOCOL.md section 3 with PyNaCl,
verifies the response signatures, and checks the rejections of section 3 and the errors of
section 7. Debian packages only: python3-grpcio, python3-nacl, python3-protobuf; run it with
/usr/bin/python3.

Each check prints `PASS name` or `FAIL name: why`; the last line is `N passed, M failed`; the
exit code is 0 only when every check passed.
"""

import argparse
import base64
import hashlib
import json
import os
import sys
import threading
import time
import uuid

import grpc
import nacl.exceptions
import nacl.signing
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
# Imported for their side effect: they load the well-known files into the default pool, the
# fallback when reflection does not return them.
from google.protobuf import any_pb2, timestamp_pb2  # noqa: F401

CLEARING_SERVICE = "clearmesh.clearing.v1.ClearingService"
HEALTH_SERVICE = "grpc.health.v1.Health"
REFLECTION_V1 = "grpc.reflection.v1.ServerReflection"
REFLECTION_V1ALPHA = "grpc.reflection.v1alpha.ServerReflection"
REQUIRED_SERVICES = (CLEARING_SERVICE, HEALTH_SERVICE, REFLECTION_V1, REFLECTION_V1ALPHA)

REQUEST_CONTEXT = "clearmesh-rpc-v1"
RESPONSE_CONTEXT = "clearmesh-rpc-resp-v1"
ERROR_DOMAIN = "clearmesh"
STATUS_DETAILS_TRAILER = "grpc-status-details-bin"
ERROR_INFO_TYPE = "google.rpc.ErrorInfo"
EXPECTED_RESPONDER = "clearing"

NONCE_BYTES = 16
# PROTOCOL.md section 3: the server refuses |now - cm-timestamp| > 300 s; 10 minutes is well past it.
STALE_TIMESTAMP_AGE_MS = 10 * 60 * 1000
# A response whose own timestamp is further than this from our clock is not believed.
RESPONSE_MAX_SKEW_MS = 300 * 1000
TRANSFER_CURRENCY = "USD"
TRANSFER_AMOUNT_MINOR = 1250
TRANSFER_STATE_COMMITTED = 2
HEALTH_SERVING = 1
# A field number no clearmesh message uses: "a newer schema's field" for the unknown-field check.
UNKNOWN_FIELD_NUMBER = 1000
UNKNOWN_FIELD_VALUE = 42
# How long a reflection stream may take to end after the client half-closes.
REFLECTION_END_TIMEOUT_SECONDS = 5.0


class CheckFailed(Exception):
    """A check's expectation did not hold; the message says what was seen."""


# ---------------------------------------------------------------------------------------------
# Hand-built schemas: gRPC reflection, gRPC health, google.rpc.Status and ErrorInfo. These are
# the public wire contracts of those APIs, written out field by field.

FIELD = descriptor_pb2.FieldDescriptorProto


def _field(name, number, field_type, type_name=None, repeated=False, oneof_index=None):
    field = FIELD(name=name, number=number, type=field_type,
                  label=FIELD.LABEL_REPEATED if repeated else FIELD.LABEL_OPTIONAL)
    if type_name is not None:
        field.type_name = type_name
    if oneof_index is not None:
        field.oneof_index = oneof_index
    return field


def _string(name, number, oneof_index=None):
    return _field(name, number, FIELD.TYPE_STRING, oneof_index=oneof_index)


def _message_field(name, number, type_name, repeated=False, oneof_index=None):
    return _field(name, number, FIELD.TYPE_MESSAGE, type_name, repeated, oneof_index)


def _reflection_file(package):
    """grpc/reflection/<package>/reflection.proto: v1 and v1alpha have the same messages."""
    prefix = "." + package + "."
    file = descriptor_pb2.FileDescriptorProto(
        name="grpc/reflection/%s/reflection.proto" % package.split(".")[-1], package=package, syntax="proto3")
    request = file.message_type.add(name="ServerReflectionRequest")
    request.oneof_decl.add(name="message_request")
    request.field.extend([
        _string("host", 1),
        _string("file_by_filename", 3, oneof_index=0),
        _string("file_containing_symbol", 4, oneof_index=0),
        _message_field("file_containing_extension", 5, prefix + "ExtensionRequest", oneof_index=0),
        _string("all_extension_numbers_of_type", 6, oneof_index=0),
        _string("list_services", 7, oneof_index=0),
    ])
    extension_request = file.message_type.add(name="ExtensionRequest")
    extension_request.field.extend([_string("containing_type", 1), _field("extension_number", 2, FIELD.TYPE_INT32)])
    response = file.message_type.add(name="ServerReflectionResponse")
    response.oneof_decl.add(name="message_response")
    response.field.extend([
        _string("valid_host", 1),
        _message_field("original_request", 2, prefix + "ServerReflectionRequest"),
        _message_field("file_descriptor_response", 4, prefix + "FileDescriptorResponse", oneof_index=0),
        _message_field("all_extension_numbers_response", 5, prefix + "ExtensionNumberResponse", oneof_index=0),
        _message_field("list_services_response", 6, prefix + "ListServiceResponse", oneof_index=0),
        _message_field("error_response", 7, prefix + "ErrorResponse", oneof_index=0),
    ])
    file.message_type.add(name="FileDescriptorResponse").field.extend([
        _field("file_descriptor_proto", 1, FIELD.TYPE_BYTES, repeated=True)])
    file.message_type.add(name="ExtensionNumberResponse").field.extend([
        _string("base_type_name", 1), _field("extension_number", 2, FIELD.TYPE_INT32, repeated=True)])
    file.message_type.add(name="ListServiceResponse").field.extend([
        _message_field("service", 1, prefix + "ServiceResponse", repeated=True)])
    file.message_type.add(name="ServiceResponse").field.extend([_string("name", 1)])
    file.message_type.add(name="ErrorResponse").field.extend([
        _field("error_code", 1, FIELD.TYPE_INT32), _string("error_message", 2)])
    return file


def _health_file():
    file = descriptor_pb2.FileDescriptorProto(name="grpc/health/v1/health.proto", package="grpc.health.v1", syntax="proto3")
    file.message_type.add(name="HealthCheckRequest").field.extend([_string("service", 1)])
    response = file.message_type.add(name="HealthCheckResponse")
    status = response.enum_type.add(name="ServingStatus")
    for number, name in enumerate(("UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN")):
        status.value.add(name=name, number=number)
    response.field.extend([
        _field("status", 1, FIELD.TYPE_ENUM, ".grpc.health.v1.HealthCheckResponse.ServingStatus")])
    return file


def _rpc_status_file():
    file = descriptor_pb2.FileDescriptorProto(
        name="google/rpc/status.proto", package="google.rpc", syntax="proto3",
        dependency=["google/protobuf/any.proto"])
    file.message_type.add(name="Status").field.extend([
        _field("code", 1, FIELD.TYPE_INT32),
        _string("message", 2),
        _message_field("details", 3, ".google.protobuf.Any", repeated=True),
    ])
    return file


def _error_details_file():
    file = descriptor_pb2.FileDescriptorProto(name="google/rpc/error_details.proto", package="google.rpc", syntax="proto3")
    error_info = file.message_type.add(name="ErrorInfo")
    entry = error_info.nested_type.add(name="MetadataEntry")
    entry.options.map_entry = True
    entry.field.extend([_string("key", 1), _string("value", 2)])
    error_info.field.extend([
        _string("reason", 1),
        _string("domain", 2),
        _message_field("metadata", 3, ".google.rpc.ErrorInfo.MetadataEntry", repeated=True),
    ])
    return file


def _copy_of_default_file(name):
    """A well-known file (google/protobuf/...) as the protobuf runtime itself ships it."""
    file = descriptor_pb2.FileDescriptorProto()
    descriptor_pool.Default().FindFileByName(name).CopyToProto(file)
    return file


def _message_class(factory, descriptor):
    getter = getattr(message_factory, "GetMessageClass", None)
    return getter(descriptor) if getter is not None else factory.GetPrototype(descriptor)


class FixedSchemas:
    """Message classes of the APIs every clearmesh port speaks besides its own."""

    def __init__(self):
        pool = descriptor_pool.DescriptorPool()
        for file in (_copy_of_default_file("google/protobuf/any.proto"), _reflection_file("grpc.reflection.v1"),
                     _health_file(), _rpc_status_file(), _error_details_file()):
            pool.Add(file)
        factory = message_factory.MessageFactory(pool)

        def cls(name):
            return _message_class(factory, pool.FindMessageTypeByName(name))

        self.ReflectionRequest = cls("grpc.reflection.v1.ServerReflectionRequest")
        self.ReflectionResponse = cls("grpc.reflection.v1.ServerReflectionResponse")
        self.HealthCheckRequest = cls("grpc.health.v1.HealthCheckRequest")
        self.HealthCheckResponse = cls("grpc.health.v1.HealthCheckResponse")
        self.RpcStatus = cls("google.rpc.Status")
        self.ErrorInfo = cls("google.rpc.ErrorInfo")


# ---------------------------------------------------------------------------------------------
# Signing (PROTOCOL.md section 3).

def b64(data):
    return base64.b64encode(data).decode("ascii")


def sha256_b64(data):
    return b64(hashlib.sha256(data).digest())


def now_ms():
    return int(time.time() * 1000)


def new_nonce():
    return base64.urlsafe_b64encode(os.urandom(NONCE_BYTES)).rstrip(b"=").decode("ascii")


def read_seed(path):
    with open(path, "r", encoding="ascii") as handle:
        text = handle.read().strip()
    if len(text) != 64:
        raise ValueError("%s: expected 64 hex characters (a 32-byte Ed25519 seed)" % path)
    return bytes.fromhex(text)


def request_signed_text(procedure, participant_id, key_id, timestamp, nonce, body):
    """The seven lines a caller signs (PROTOCOL.md section 3), no trailing newline."""
    return "\n".join([REQUEST_CONTEXT, procedure, participant_id, key_id, timestamp, nonce, sha256_b64(body)])


def response_signed_text(procedure, request_nonce, participant_id, key_id, timestamp, body):
    """The seven lines the answering service signs (PROTOCOL.md section 3)."""
    return "\n".join([RESPONSE_CONTEXT, procedure, request_nonce, participant_id, key_id, timestamp, sha256_b64(body)])


class Signer:
    def __init__(self, participant_id, key_id, seed):
        self.participant_id = participant_id
        self.key_id = key_id
        self.key = nacl.signing.SigningKey(seed)

    def headers(self, procedure, body, timestamp_ms=None, nonce=None, key_id=None):
        """The five cm-* headers over `body`, the exact bytes that will travel."""
        key_id = key_id if key_id is not None else self.key_id
        timestamp = str(timestamp_ms if timestamp_ms is not None else now_ms())
        nonce = nonce if nonce is not None else new_nonce()
        text = request_signed_text(procedure, self.participant_id, key_id, timestamp, nonce, body)
        signature = self.key.sign(text.encode("utf-8")).signature
        return [
            ("cm-participant", self.participant_id),
            ("cm-key-id", key_id),
            ("cm-timestamp", timestamp),
            ("cm-nonce", nonce),
            ("cm-signature", b64(signature)),
        ]


def header(metadata, name):
    values = [value for key, value in (metadata or ()) if key == name]
    return values[0] if len(values) == 1 else None


def response_signature_problem(responder_key, procedure, request_headers, outcome):
    """None when the response headers sign the response bytes (section 3), else what is wrong."""
    participant = header(outcome.headers, "cm-participant")
    key_id = header(outcome.headers, "cm-key-id")
    timestamp = header(outcome.headers, "cm-timestamp")
    signature_text = header(outcome.headers, "cm-signature")
    if None in (participant, key_id, timestamp, signature_text):
        return "response headers lack cm-participant/cm-key-id/cm-timestamp/cm-signature (got %s)" % (
            sorted(key for key, _ in (outcome.headers or ())),)
    if participant != EXPECTED_RESPONDER:
        return "response signed by %r, expected %r" % (participant, EXPECTED_RESPONDER)
    if not timestamp.isdigit() or abs(now_ms() - int(timestamp)) > RESPONSE_MAX_SKEW_MS:
        return "response cm-timestamp %r is not a current millisecond time" % timestamp
    try:
        signature = base64.b64decode(signature_text, validate=True)
    except ValueError:
        return "response cm-signature is not standard base64: %r" % signature_text
    text = response_signed_text(procedure, header(request_headers, "cm-nonce"), participant, key_id, timestamp, outcome.body)
    try:
        responder_key.verify(text.encode("utf-8"), signature)
    except (nacl.exceptions.BadSignatureError, ValueError):
        return "response signature does not verify with the clearing public key (key id %r)" % key_id
    return None


# ---------------------------------------------------------------------------------------------
# Calls with raw bytes in and out, so that what is signed is exactly what travels.

class Outcome:
    def __init__(self, body=None, headers=None, code=grpc.StatusCode.OK, details="", trailers=None):
        self.body = body
        self.headers = headers
        self.code = code
        self.details = details
        self.trailers = trailers

    @property
    def ok(self):
        return self.code == grpc.StatusCode.OK

    def describe(self):
        return "OK" if self.ok else "%s (%s)" % (self.code.name, self.details)


class Client:
    def __init__(self, address, timeout_seconds):
        # A proxy from the environment must not sit between us and a loopback server.
        self.channel = grpc.insecure_channel(address, options=[("grpc.enable_http_proxy", 0)])
        self.timeout_seconds = timeout_seconds

    def unary(self, procedure, body, metadata=()):
        method = self.channel.unary_unary(procedure, request_serializer=None, response_deserializer=None)
        try:
            response, call = method.with_call(body, metadata=list(metadata), timeout=self.timeout_seconds)
            return Outcome(body=response, headers=tuple(call.initial_metadata() or ()))
        except grpc.RpcError as error:
            return Outcome(code=error.code(), details=error.details(), trailers=tuple(error.trailing_metadata() or ()))

    def exchange(self, procedure, bodies, finish=False, timeout_seconds=None):
        """Sends `bodies` on one bidi stream and reads one answer to each.

        With finish=False the call is cancelled once every answer is in, which tolerates a server
        that does not end the stream after the client half-closes. With finish=True the client
        half-closes and the server must then end the stream with OK, as gRPC requires.
        """
        method = self.channel.stream_stream(procedure, request_serializer=None, response_deserializer=None)
        answers_read = threading.Event()

        def requests():
            yield from bodies
            # Keep our side open until the answers are in (a half-close may end the call early).
            answers_read.wait(self.timeout_seconds)

        call = method(requests(), timeout=timeout_seconds or self.timeout_seconds)
        answers = []
        try:
            for _ in bodies:
                answers.append(next(call))
        except StopIteration:
            raise CheckFailed("%s ended after %d of %d answers" % (procedure, len(answers), len(bodies)))
        except grpc.RpcError as error:
            raise CheckFailed("%s failed: %s (%s)" % (procedure, error.code().name, error.details()))
        finally:
            answers_read.set()
        if not finish:
            call.cancel()
            return answers
        try:
            extra = list(call)
        except grpc.RpcError as error:
            raise CheckFailed("after %d answer(s) and the client's half-close the stream ended %s (%s) instead of OK"
                              % (len(answers), error.code().name, error.details()))
        if extra:
            raise CheckFailed("%d unasked answer(s) on the stream" % len(extra))
        return answers

    def close(self):
        self.channel.close()


# ---------------------------------------------------------------------------------------------
# Discovery by reflection.

class ClearingSchema:
    """Message classes of the clearing API, built from what reflection returned."""

    def __init__(self, files):
        pool = descriptor_pool.DescriptorPool()
        for file in files:
            pool.Add(file)
        factory = message_factory.MessageFactory(pool)
        service = pool.FindServiceByName(CLEARING_SERVICE)
        self.create_transfer = self._method(factory, service, "CreateTransfer")
        self.get_transfer = self._method(factory, service, "GetTransfer")
        self.CreateTransferRequest = self.create_transfer[1]
        self.GetTransferRequest = self.get_transfer[1]
        self.Transfer = self.create_transfer[2]
        if self.get_transfer[2] is not self.Transfer:
            raise CheckFailed("GetTransfer does not return the Transfer CreateTransfer returns")

    @staticmethod
    def _method(factory, service, name):
        method = service.methods_by_name.get(name)
        if method is None:
            raise CheckFailed("%s has no method %s" % (CLEARING_SERVICE, name))
        procedure = "/%s/%s" % (service.full_name, method.name)
        return procedure, _message_class(factory, method.input_type), _message_class(factory, method.output_type)


def reflect(client, schemas, service, requests, **exchange_options):
    bodies = [schemas.ReflectionRequest(**request).SerializeToString() for request in requests]
    procedure = "/%s/ServerReflectionInfo" % service
    answers = [schemas.ReflectionResponse.FromString(raw) for raw in client.exchange(procedure, bodies, **exchange_options)]
    for answer in answers:
        if answer.WhichOneof("message_response") == "error_response":
            raise CheckFailed("reflection error %d: %s" % (answer.error_response.error_code, answer.error_response.error_message))
    return answers


def listed_services(client, schemas, service):
    (answer,) = reflect(client, schemas, service, [{"list_services": ""}])
    return {entry.name for entry in answer.list_services_response.service}


def fetch_files(client, schemas, symbol):
    """The file declaring `symbol` and its dependencies, dependencies first."""
    (answer,) = reflect(client, schemas, REFLECTION_V1, [{"file_containing_symbol": symbol}])
    returned = {}
    for raw in answer.file_descriptor_response.file_descriptor_proto:
        file = descriptor_pb2.FileDescriptorProto.FromString(raw)
        returned[file.name] = file
    if not returned:
        raise CheckFailed("reflection returned no file for %s" % symbol)
    ordered, seen = [], set()

    def visit(name, chain):
        if name in seen:
            return
        if name in chain:
            raise CheckFailed("import cycle through %s" % name)
        file = returned.get(name) or missing_file(client, schemas, name)
        for dependency in file.dependency:
            visit(dependency, chain + (name,))
        seen.add(name)
        ordered.append(file)

    for name in list(returned):
        visit(name, ())
    return ordered


def missing_file(client, schemas, name):
    """A dependency reflection left out: ask for it by name, else take the runtime's own well-known copy."""
    try:
        (answer,) = reflect(client, schemas, REFLECTION_V1, [{"file_by_filename": name}])
        for raw in answer.file_descriptor_response.file_descriptor_proto:
            file = descriptor_pb2.FileDescriptorProto.FromString(raw)
            if file.name == name:
                return file
    except (CheckFailed, grpc.RpcError):
        pass
    if name.startswith("google/protobuf/"):
        return _copy_of_default_file(name)
    raise CheckFailed("reflection cannot provide %s" % name)


# ---------------------------------------------------------------------------------------------
# Errors (PROTOCOL.md section 7).

def error_info_of(schemas, outcome):
    """(reason, domain) of the ErrorInfo in grpc-status-details-bin; raises CheckFailed when absent."""
    raw = header(outcome.trailers, STATUS_DETAILS_TRAILER)
    if raw is None:
        raise CheckFailed("%s carries no %s trailer" % (outcome.describe(), STATUS_DETAILS_TRAILER))
    status = schemas.RpcStatus.FromString(raw if isinstance(raw, bytes) else raw.encode("latin-1"))
    if status.code != outcome.code.value[0]:
        raise CheckFailed("google.rpc.Status code %d disagrees with grpc-status %s" % (status.code, outcome.code.name))
    for detail in status.details:
        if detail.type_url.rsplit("/", 1)[-1] == ERROR_INFO_TYPE:
            info = schemas.ErrorInfo.FromString(detail.value)
            return info.reason, info.domain
    raise CheckFailed("google.rpc.Status has no %s detail (types: %s)" % (
        ERROR_INFO_TYPE, [detail.type_url for detail in status.details]))


def expect_error(schemas, outcome, code, reason):
    if outcome.ok:
        raise CheckFailed("accepted; expected %s / %s" % (code.name, reason))
    if outcome.code != code:
        raise CheckFailed("got %s; expected %s / %s" % (outcome.describe(), code.name, reason))
    got_reason, domain = error_info_of(schemas, outcome)
    if domain != ERROR_DOMAIN or got_reason != reason:
        raise CheckFailed("ErrorInfo is %s/%s; expected %s/%s" % (domain, got_reason, ERROR_DOMAIN, reason))


# ---------------------------------------------------------------------------------------------
# The checks.

def encode_varint(value):
    out = bytearray()
    while True:
        low = value & 0x7F
        value >>= 7
        if value:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


class Interop:
    def __init__(self, options):
        self.options = options
        self.client = Client(options.address, options.timeout_seconds)
        self.schemas = FixedSchemas()
        self.signer = Signer(options.participant, options.key_id, read_seed(options.seed_file))
        self.responder_key = nacl.signing.VerifyKey(bytes.fromhex(options.responder_public_key_hex))
        self.clearing = None
        self.first_transfer = None  # (request, transfer) of the accepted CreateTransfer

    # -- helpers ---------------------------------------------------------------------------

    def require_clearing(self):
        if self.clearing is None:
            raise CheckFailed("the clearing API was not discovered by reflection")
        return self.clearing

    def transfer_request(self, transfer_id=None, amount_minor=TRANSFER_AMOUNT_MINOR, payer_id=None, payee_id=None):
        request = self.require_clearing().CreateTransferRequest()
        request.transfer_id = transfer_id or str(uuid.uuid4())
        request.payer_id = payer_id or self.signer.participant_id
        request.payee_id = payee_id or self.options.payee
        request.amount.currency = TRANSFER_CURRENCY
        request.amount.amount_minor = amount_minor
        return request

    def signed_call(self, procedure, body, signer=None, **sign_options):
        headers = (signer or self.signer).headers(procedure, body, **sign_options)
        return headers, self.client.unary(procedure, body, headers)

    def accepted_transfer(self, procedure, headers, outcome):
        """The verified Transfer of a successful signed call."""
        if not outcome.ok:
            raise CheckFailed("%s rejected: %s" % (procedure, outcome.describe()))
        problem = response_signature_problem(self.responder_key, procedure, headers, outcome)
        if problem:
            raise CheckFailed(problem)
        return self.require_clearing().Transfer.FromString(outcome.body)

    def expect_transfer(self, transfer, request):
        problems = []
        if transfer.transfer_id != request.transfer_id:
            problems.append("transfer_id %r != %r" % (transfer.transfer_id, request.transfer_id))
        if (transfer.payer_id, transfer.payee_id) != (request.payer_id, request.payee_id):
            problems.append("parties %s->%s" % (transfer.payer_id, transfer.payee_id))
        if (transfer.amount.currency, transfer.amount.amount_minor) != (request.amount.currency, request.amount.amount_minor):
            problems.append("amount %s %d" % (transfer.amount.currency, transfer.amount.amount_minor))
        if transfer.state != TRANSFER_STATE_COMMITTED:
            problems.append("state %d, expected COMMITTED (%d)" % (transfer.state, TRANSFER_STATE_COMMITTED))
        if problems:
            raise CheckFailed("unexpected transfer: " + "; ".join(problems))

    def create_transfer(self, request, **sign_options):
        procedure = self.require_clearing().create_transfer[0]
        body = request.SerializeToString(deterministic=True)
        return procedure, body, self.signed_call(procedure, body, **sign_options)

    # -- checks ----------------------------------------------------------------------------

    def check_signature_vectors(self):
        """Our signing and verification reproduce PROTOCOL.md's worked examples byte for byte."""
        with open(self.options.vectors_file, "r", encoding="utf-8") as handle:
            vectors = json.load(handle)
        request = vectors["rpc_request"]
        signer = Signer(request["cm-participant"], request["cm-key-id"], bytes.fromhex(request["seed"]))
        body = bytes.fromhex(request["request_bytes_hex"])
        text = request_signed_text(request["procedure"], signer.participant_id, signer.key_id, request["cm-timestamp"],
                                   request["cm-nonce"], body)
        if text != request["signed_text"]:
            raise CheckFailed("request signed text differs from the vector: %r" % text)
        headers = dict(signer.headers(request["procedure"], body, timestamp_ms=request["cm-timestamp"], nonce=request["cm-nonce"]))
        if headers["cm-signature"] != request["cm-signature"]:
            raise CheckFailed("request cm-signature differs from the vector")
        response = vectors["rpc_response"]
        text = response_signed_text(response["procedure"], response["request_nonce"], response["cm-participant"],
                                    response["cm-key-id"], response["cm-timestamp"], bytes.fromhex(response["response_bytes_hex"]))
        if text != response["signed_text"]:
            raise CheckFailed("response signed text differs from the vector: %r" % text)
        key = nacl.signing.VerifyKey(bytes.fromhex(response["public_key"]))
        try:
            key.verify(text.encode("utf-8"), base64.b64decode(response["cm-signature"], validate=True))
        except nacl.exceptions.BadSignatureError:
            raise CheckFailed("the vector's response signature does not verify")

    def check_reflection(self):
        for service in (REFLECTION_V1, REFLECTION_V1ALPHA):
            names = listed_services(self.client, self.schemas, service)
            missing = [name for name in REQUIRED_SERVICES if name not in names]
            if missing:
                raise CheckFailed("%s lists %s, missing %s" % (service, sorted(names), missing))
        self.clearing = ClearingSchema(fetch_files(self.client, self.schemas, CLEARING_SERVICE))

    def check_reflection_stream_ends(self):
        """grpcurl and `buf curl` half-close and wait for the end of the stream (PROTOCOL.md section 1)."""
        reflect(self.client, self.schemas, REFLECTION_V1, [{"list_services": ""}], finish=True,
                timeout_seconds=REFLECTION_END_TIMEOUT_SECONDS)

    def check_health(self):
        body = self.schemas.HealthCheckRequest(service="").SerializeToString()
        outcome = self.client.unary("/%s/Check" % HEALTH_SERVICE, body)
        if not outcome.ok:
            raise CheckFailed("Health/Check: " + outcome.describe())
        status = self.schemas.HealthCheckResponse.FromString(outcome.body).status
        if status != HEALTH_SERVING:
            raise CheckFailed("status %d, expected SERVING (%d)" % (status, HEALTH_SERVING))

    def check_create_transfer(self):
        request = self.transfer_request()
        procedure, _, (headers, outcome) = self.create_transfer(request)
        transfer = self.accepted_transfer(procedure, headers, outcome)
        self.expect_transfer(transfer, request)
        self.first_transfer = (request, transfer)

    def check_get_transfer(self):
        request, created = self.require_first_transfer()
        procedure = self.require_clearing().get_transfer[0]
        body = self.clearing.GetTransferRequest(transfer_id=request.transfer_id).SerializeToString(deterministic=True)
        transfer = self.accepted_transfer(procedure, *self.signed_call(procedure, body))
        if transfer != created:
            raise CheckFailed("GetTransfer answered %s, CreateTransfer answered %s" % (transfer, created))

    def check_unknown_field_first(self):
        request = self.transfer_request()
        known = request.SerializeToString(deterministic=True)
        # Field 1000, wire type 0 (varint), ahead of field 1: a server that verifies a re-encoding
        # (which drops the field or moves it to the end) computes another digest and rejects the call.
        body = encode_varint(UNKNOWN_FIELD_NUMBER << 3) + encode_varint(UNKNOWN_FIELD_VALUE) + known
        procedure = self.clearing.create_transfer[0]
        transfer = self.accepted_transfer(procedure, *self.signed_call(procedure, body))
        self.expect_transfer(transfer, request)
        # The converse: a signature over the bytes without the unknown field must not cover them
        # (a server that drops unknown fields before hashing would accept this).
        other = self.transfer_request()
        known = other.SerializeToString(deterministic=True)
        headers = self.signer.headers(procedure, known)
        outcome = self.client.unary(procedure, encode_varint(UNKNOWN_FIELD_NUMBER << 3) + encode_varint(UNKNOWN_FIELD_VALUE) + known, headers)
        expect_error(self.schemas, outcome, grpc.StatusCode.UNAUTHENTICATED, "BAD_SIGNATURE")

    def check_fields_out_of_order(self):
        """Known fields in reverse field order (valid protobuf, not the canonical encoding)."""
        request = self.transfer_request()
        parts = []
        for field, value in request.ListFields():
            single = self.clearing.CreateTransferRequest()
            if field.message_type is not None:
                getattr(single, field.name).CopyFrom(value)
            else:
                setattr(single, field.name, value)
            parts.append(single.SerializeToString(deterministic=True))
        body = b"".join(reversed(parts))
        if body == request.SerializeToString(deterministic=True):
            raise CheckFailed("could not build a non-canonical encoding")
        procedure = self.clearing.create_transfer[0]
        transfer = self.accepted_transfer(procedure, *self.signed_call(procedure, body))
        self.expect_transfer(transfer, request)

    def check_idempotent_repeat(self):
        request, created = self.require_first_transfer()
        procedure, _, (headers, outcome) = self.create_transfer(request)
        repeated = self.accepted_transfer(procedure, headers, outcome)
        if repeated != created:
            raise CheckFailed("the repeat answered %s, the first call %s" % (repeated, created))

    def check_idempotency_conflict(self):
        request, _ = self.require_first_transfer()
        different = self.transfer_request(transfer_id=request.transfer_id, amount_minor=request.amount.amount_minor + 1)
        _, _, (_, outcome) = self.create_transfer(different)
        expect_error(self.schemas, outcome, grpc.StatusCode.ALREADY_EXISTS, "IDEMPOTENCY_CONFLICT")

    def check_signature_missing(self):
        procedure = self.require_clearing().create_transfer[0]
        outcome = self.client.unary(procedure, self.transfer_request().SerializeToString(deterministic=True), [])
        expect_error(self.schemas, outcome, grpc.StatusCode.UNAUTHENTICATED, "SIGNATURE_MISSING")

    def check_unknown_key(self):
        key_id = "%s-interop-unknown-%s" % (self.signer.participant_id, uuid.uuid4().hex[:8])
        _, _, (_, outcome) = self.create_transfer(self.transfer_request(), key_id=key_id)
        expect_error(self.schemas, outcome, grpc.StatusCode.UNAUTHENTICATED, "UNKNOWN_KEY")

    def check_key_revoked(self):
        revoked = Signer(self.signer.participant_id, self.options.revoked_key_id, read_seed(self.options.revoked_seed_file))
        _, _, (_, outcome) = self.create_transfer(self.transfer_request(), signer=revoked)
        expect_error(self.schemas, outcome, grpc.StatusCode.UNAUTHENTICATED, "KEY_REVOKED")

    def check_stale_timestamp(self):
        _, _, (_, outcome) = self.create_transfer(self.transfer_request(), timestamp_ms=now_ms() - STALE_TIMESTAMP_AGE_MS)
        expect_error(self.schemas, outcome, grpc.StatusCode.UNAUTHENTICATED, "STALE_TIMESTAMP")

    def check_replayed_nonce(self):
        procedure, body, (headers, first) = self.create_transfer(self.transfer_request())
        self.accepted_transfer(procedure, headers, first)
        again = self.client.unary(procedure, body, headers)
        expect_error(self.schemas, again, grpc.StatusCode.UNAUTHENTICATED, "REPLAYED_NONCE")

    def check_bad_signature(self):
        request = self.transfer_request()
        procedure = self.clearing.create_transfer[0]
        body = request.SerializeToString(deterministic=True)
        headers = self.signer.headers(procedure, body)
        # The last byte ends amount_minor's varint: flipping its low bit leaves a well-formed
        # request for another amount, the tampering a signature exists to catch.
        tampered = body[:-1] + bytes([body[-1] ^ 0x01])
        check = self.clearing.CreateTransferRequest.FromString(tampered)
        if check.amount.amount_minor == request.amount.amount_minor:
            raise CheckFailed("the flipped byte did not change the amount")
        outcome = self.client.unary(procedure, tampered, headers)
        expect_error(self.schemas, outcome, grpc.StatusCode.UNAUTHENTICATED, "BAD_SIGNATURE")

    def check_permission_denied(self):
        # A well-formed transfer from the payee back to the signer: only its payer may sign it.
        request = self.transfer_request(payer_id=self.options.payee, payee_id=self.signer.participant_id)
        _, _, (_, outcome) = self.create_transfer(request)
        expect_error(self.schemas, outcome, grpc.StatusCode.PERMISSION_DENIED, "PERMISSION_DENIED")

    def require_first_transfer(self):
        if self.first_transfer is None:
            raise CheckFailed("no accepted CreateTransfer to build on")
        return self.first_transfer

    def checks(self):
        listed = []
        if self.options.vectors_file:
            listed.append(("signature-vectors", self.check_signature_vectors))
        listed += [
            ("reflection", self.check_reflection),
            ("reflection-stream-ends", self.check_reflection_stream_ends),
            ("health", self.check_health),
            ("create-transfer-signed", self.check_create_transfer),
            ("get-transfer-signed", self.check_get_transfer),
            ("unknown-field-first", self.check_unknown_field_first),
            ("fields-out-of-order", self.check_fields_out_of_order),
            ("idempotent-repeat", self.check_idempotent_repeat),
            ("idempotency-conflict", self.check_idempotency_conflict),
            ("rejects-SIGNATURE_MISSING", self.check_signature_missing),
            ("rejects-UNKNOWN_KEY", self.check_unknown_key),
        ]
        if self.options.revoked_key_id:
            listed.append(("rejects-KEY_REVOKED", self.check_key_revoked))
        listed += [
            ("rejects-STALE_TIMESTAMP", self.check_stale_timestamp),
            ("rejects-REPLAYED_NONCE", self.check_replayed_nonce),
            ("rejects-BAD_SIGNATURE", self.check_bad_signature),
            ("rejects-PERMISSION_DENIED", self.check_permission_denied),
        ]
        return listed

    def run(self):
        passed = failed = 0
        for name, check in self.checks():
            try:
                check()
            except CheckFailed as failure:
                print("FAIL %s: %s" % (name, failure), flush=True)
                failed += 1
            except Exception as error:  # a crash in one check must not hide the others
                print("FAIL %s: %s: %s" % (name, type(error).__name__, error), flush=True)
                failed += 1
            else:
                print("PASS %s" % name, flush=True)
                passed += 1
        print("%d passed, %d failed" % (passed, failed), flush=True)
        return failed


def parse_arguments(argv):
    parser = argparse.ArgumentParser(description="Independent clearmesh interop client (PROTOCOL.md).")
    parser.add_argument("--address", required=True, help="host:port of clearing's gRPC port")
    parser.add_argument("--participant", required=True, help="the signing participant, e.g. bank-a")
    parser.add_argument("--key-id", required=True, help="its registered key id, e.g. bank-a-1")
    parser.add_argument("--seed-file", required=True, help="file holding its Ed25519 seed as 64 hex characters")
    parser.add_argument("--payee", required=True, help="another registered participant transacting in USD")
    parser.add_argument("--responder-public-key-hex", required=True, help="clearing's 32-byte Ed25519 public key, hex")
    parser.add_argument("--revoked-key-id", help="a revoked key id of --participant (enables the KEY_REVOKED check)")
    parser.add_argument("--revoked-seed-file", help="the seed file of --revoked-key-id")
    parser.add_argument("--vectors-file", help="PROTOCOL.md's clearmesh-signatures.json: check our signing against it first")
    parser.add_argument("--timeout-seconds", type=float, default=10.0, help="deadline of each call")
    options = parser.parse_args(argv)
    if bool(options.revoked_key_id) != bool(options.revoked_seed_file):
        parser.error("--revoked-key-id and --revoked-seed-file go together")
    try:
        responder_key = bytes.fromhex(options.responder_public_key_hex)
    except ValueError:
        responder_key = b""
    if len(responder_key) != 32:
        parser.error("--responder-public-key-hex must be 64 hex characters")
    return options


def main(argv):
    options = parse_arguments(argv)
    try:
        interop = Interop(options)
    except (OSError, ValueError) as error:
        print("FAIL setup: %s" % error, flush=True)
        print("0 passed, 1 failed", flush=True)
        return 1
    try:
        return 1 if interop.run() else 0
    finally:
        interop.client.close()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
