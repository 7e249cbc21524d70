"""Event contracts: a CloudEvents 1.0 envelope and the versioned data models it carries.

The routing key of every event is its ``type``. ``dataversion`` (a CloudEvents extension
attribute) versions the data model; a consumer refuses a version it does not know rather than
guessing, so the message goes to the dead-letter queue instead of being half-understood.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

SPECVERSION = "1.0"


class Kind(StrEnum):
    IMAGE = "image"
    VIDEO = "video"

    @property
    def plural(self) -> str:
        """The REST path segment (``images`` / ``videos``)."""
        return f"{self.value}s"


class Outcome(StrEnum):
    COMPLETED = "completed"
    FAILED = "failed"


class FailureCode(StrEnum):
    UNKNOWN_MODEL = "unknown_model"
    MODEL_UNAVAILABLE = "model_unavailable"
    INVALID_PARAMETERS = "invalid_parameters"
    OUT_OF_MEMORY = "out_of_memory"
    STORAGE_UNAVAILABLE = "storage_unavailable"
    INPUT_UNAVAILABLE = "input_unavailable"  # an input image was deleted or changed (issue 26)
    TOO_MANY_ATTEMPTS = "too_many_attempts"
    TIMED_OUT = "timed_out"
    INTERNAL = "internal"


class _Data(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    event_type: ClassVar[str]
    version: ClassVar[int] = 1


class JobData(_Data):
    """The job an event is about: every event names it the same way."""

    job_id: uuid.UUID
    user_id: str
    kind: Kind

    def job_ref(self) -> dict[str, Any]:
        """``job_id``, ``user_id`` and ``kind``: what another event about this job starts with."""
        return {"job_id": self.job_id, "user_id": self.user_id, "kind": self.kind}


class InputFile(BaseModel):
    """An input image of a job (img2img, inpainting, image-to-video): where it is stored and
    what it is, so that the generator can check it is the file the user chose (issue 26)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    role: Literal["image", "mask"]
    key: str
    sha256: Annotated[str, Field(pattern="^[0-9a-f]{64}$")]
    width: Annotated[int, Field(ge=1)]
    height: Annotated[int, Field(ge=1)]
    mime_type: str


def _unset(value: Any) -> bool:
    return value is None


class GenerationParams(BaseModel):
    """What the user asked for. Field names are diffusers' own where one exists."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    prompt: str
    negative_prompt: str | None = None
    model: str
    width: int
    height: int
    num_inference_steps: int
    guidance_scale: float
    seed: int | None = None
    num_images: int = 1
    num_frames: int | None = None
    fps: int | None = None
    # with an input image (left out of the payload otherwise): how far from it (img2img)
    strength: float | None = Field(default=None, gt=0, le=1, exclude_if=_unset)
    inputs: list[InputFile] | None = Field(default=None, exclude_if=_unset)
    # Images only (sorami_shared.output_options); None: the model's, else the deployment's.
    output_format: Literal["png", "jpeg", "webp"] | None = None
    output_compression: Annotated[int, Field(ge=0, le=100)] | None = None
    embed_metadata: bool | None = None  # False: no parameters in the files
    # Previews (generation.preview) for the owner's live view: None, the generator's default
    # (up to 4); 0, none (/v1 sets it from partial_images).
    max_previews: Annotated[int, Field(ge=0, le=4)] | None = None
    # draft: decoded by the model's tiny autoencoder (its draft_decoder); None or full: its VAE
    quality: Literal["full", "draft"] | None = None


class GenerationRequested(JobData):
    event_type: ClassVar[str] = "generation.requested"

    params: GenerationParams


class GenerationProgress(JobData):
    event_type: ClassVar[str] = "generation.progress"

    progress: Annotated[int, Field(ge=0, le=100)]
    step: int | None = None
    total_steps: int | None = None


class ProgressEntry(GenerationProgress):
    """One job's share of a ``generation.progress`` version 2, with its own correlation id."""

    correlation_id: str | None = None


class GenerationProgressBatch(_Data):
    """Several jobs' progress in one message (dataversion 2 of ``generation.progress``): the
    generator sends one per pipeline step of a batch, whatever the batch's size; a consumer
    applies each entry as the version 1 event :func:`progress_events` makes of it."""

    event_type: ClassVar[str] = "generation.progress"
    version: ClassVar[int] = 2

    jobs: Annotated[list[ProgressEntry], Field(min_length=1)]


class GenerationPreview(JobData):
    """A small picture of a running job (at most a few per job, for its owner's live view).
    Unlike files, its bytes travel in the event (``data_b64``, a few KB of WebP or JPEG):
    it is never stored, never in the database or the replay log; a lost one is harmless."""

    event_type: ClassVar[str] = "generation.preview"

    index: Annotated[int, Field(ge=0)]  # 0 for the job's first preview
    step: Annotated[int, Field(ge=0)]
    total_steps: Annotated[int, Field(ge=1)]
    mime_type: Literal["image/webp", "image/jpeg"]
    width: Annotated[int, Field(ge=1, le=256)]
    height: Annotated[int, Field(ge=1, le=256)]
    data_b64: Annotated[str, Field(max_length=400_000)]


class FileInfo(BaseModel):
    """One output. Bytes never travel in events: ``key`` names the object in storage."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    index: Annotated[int, Field(ge=0)]
    key: str
    mime_type: str
    bytes: Annotated[int, Field(ge=0)]
    width: int
    height: int
    fps: float | None = None
    frame_count: int | None = None
    duration_s: float | None = None
    poster_key: str | None = None


class GenerationCompleted(JobData):
    event_type: ClassVar[str] = "generation.completed"

    model: str
    seed: int
    files: Annotated[list[FileInfo], Field(min_length=1)]
    duration_ms: Annotated[int, Field(ge=0)] = 0


class GenerationFailed(JobData):
    event_type: ClassVar[str] = "generation.failed"

    code: FailureCode
    reason: Annotated[str, Field(min_length=1, max_length=2000)]


class GenerationCancelRequested(JobData):
    """The user cancelled the job (published by the gateway, heard by EVERY generator replica:
    a running job stops at its next denoising step; a queued one is skipped when picked up)."""

    event_type: ClassVar[str] = "generation.cancel_requested"


class GenerationCancelled(JobData):
    """A generator stopped (or skipped) a cancelled job; it wrote no files, or removed them
    (``files_left``: it could not, and the gateway must schedule their deletion)."""

    event_type: ClassVar[str] = "generation.cancelled"

    stopped_after_step: Annotated[int, Field(ge=0)] = 0
    total_steps: int | None = None
    files_left: bool = False


class NotificationContent(JobData):
    """What a notification says about a job's outcome."""

    outcome: Outcome
    title: str
    message: str
    data: dict[str, Any] = Field(default_factory=dict)


class NotificationCreated(NotificationContent):
    event_type: ClassVar[str] = "notification.created"

    notification_id: uuid.UUID
    created_at: datetime


EVENT_MODELS: dict[tuple[str, int], type[_Data]] = {
    (m.event_type, m.version): m
    for m in (
        GenerationRequested,
        GenerationProgress,
        GenerationProgressBatch,
        GenerationPreview,
        GenerationCompleted,
        GenerationFailed,
        GenerationCancelRequested,
        GenerationCancelled,
        NotificationCreated,
    )
}

D = TypeVar("D")


class Envelope(BaseModel, Generic[D]):
    """CloudEvents 1.0 attributes, plus ``correlationid`` and ``dataversion`` extensions."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    specversion: Literal["1.0"] = SPECVERSION
    id: uuid.UUID = Field(default_factory=uuid.uuid4)
    type: str
    source: str
    subject: str | None = None
    time: datetime = Field(default_factory=lambda: datetime.now(UTC))
    datacontenttype: Literal["application/json"] = "application/json"
    dataversion: int = 1
    correlationid: str
    data: D

    @property
    def job_id(self) -> uuid.UUID | None:
        return getattr(self.data, "job_id", None)

    @property
    def user_id(self) -> str | None:
        return getattr(self.data, "user_id", None)

    def to_json(self) -> bytes:
        return self.model_dump_json().encode()


# Envelope[X] per event model, built once and kept (pydantic's own cache of parametrized
# generics holds them weakly: without this, a hot path rebuilt the class on many calls).
_ENVELOPES: dict[type[Any], type[Envelope[Any]]] = {}


def _envelope_of(model: type[D]) -> type[Envelope[D]]:
    envelope = _ENVELOPES.get(model)
    if envelope is None:
        envelope = _ENVELOPES[model] = Envelope[model]  # type: ignore[valid-type]
    return envelope


def prepare_envelopes() -> None:
    """Build every event's envelope class now (about 1 ms each), so that a service's first
    message does not: EventBus.connect calls it. Under CPU contention that first build was
    seen to take a hundred milliseconds of the first job's path."""
    for model in EVENT_MODELS.values():
        _envelope_of(model)


def new_event(
    data: D,
    *,
    source: str,
    correlation_id: str,
    event_id: uuid.UUID | None = None,
) -> Envelope[D]:
    """Wrap ``data`` in an envelope; its type and version come from the data model.

    Pass a deterministic ``event_id`` (see :func:`derived_id`) where a redelivered input must
    produce the very same event, so that consumers can dedupe on it.
    """
    job_id = getattr(data, "job_id", None)
    return _envelope_of(type(data))(
        id=event_id or uuid.uuid4(),
        type=data.event_type,
        dataversion=data.version,
        source=source,
        subject=str(job_id) if job_id else None,
        correlationid=correlation_id,
        data=data,
    )


_NAMESPACE = uuid.UUID("6f1d2c7e-4b0a-4e53-9d0c-5a6f3f1e2b90")


def derived_id(*parts: object) -> uuid.UUID:
    """A stable UUID for a fact (e.g. ``("completed", job_id)``): same input, same id."""
    return uuid.uuid5(_NAMESPACE, "/".join(str(p) for p in parts))


def progress_events(envelope: Envelope[Any]) -> list[Envelope[GenerationProgress]]:
    """A ``generation.progress`` as version 1 events, one per job: itself, or a version 2's
    entries, each with a stable id derived from the message's (a redelivery repeats them)."""
    if not isinstance(envelope.data, GenerationProgressBatch):
        return [envelope]
    one = _envelope_of(GenerationProgress)
    return [
        one(
            id=derived_id(envelope.type, envelope.id, entry.job_id),
            type=envelope.type,
            source=envelope.source,
            subject=str(entry.job_id),
            time=envelope.time,
            correlationid=entry.correlation_id or envelope.correlationid,
            data=GenerationProgress(
                **entry.job_ref(),
                progress=entry.progress,
                step=entry.step,
                total_steps=entry.total_steps,
            ),
        )
        for entry in envelope.data.jobs
    ]


class UnparseableEvent(ValueError):
    """The body is not an event this service understands; it belongs in the dead-letter queue."""


class _Head(BaseModel):
    """What picks the data model: read first, without building the rest."""

    model_config = ConfigDict(extra="ignore")

    type: str
    dataversion: int = 1


def parse_event(body: bytes | str) -> Envelope[Any]:
    """Parse and validate a message body. Raises :class:`UnparseableEvent` with a reason."""
    try:
        head = _Head.model_validate_json(body)
    except ValidationError as exc:
        raise UnparseableEvent(f"not a valid envelope: {_short(exc)}") from exc
    model = EVENT_MODELS.get((head.type, head.dataversion))
    if model is None:
        known = sorted({t for t, _ in EVENT_MODELS})
        if head.type in known:
            raise UnparseableEvent(f"{head.type} version {head.dataversion} is not supported")
        raise UnparseableEvent(f"unknown event type {head.type!r}")
    try:  # one pass over the body, straight into the typed model
        return _envelope_of(model).model_validate_json(body)
    except ValidationError as exc:
        if all(e["loc"][:1] == ("data",) for e in exc.errors()):
            raise UnparseableEvent(f"invalid {head.type} data: {_short(exc)}") from exc
        raise UnparseableEvent(f"not a valid envelope: {_short(exc)}") from exc


def _short(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or '<body>'}: {e['msg']}" for e in exc.errors()[:5]
    )
