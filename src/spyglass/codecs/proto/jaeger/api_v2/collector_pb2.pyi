from spyglass.codecs.proto.jaeger.api_v2 import model_pb2 as _model_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PostSpansRequest(_message.Message):
    __slots__ = ("batch",)
    BATCH_FIELD_NUMBER: _ClassVar[int]
    batch: _model_pb2.Batch
    def __init__(self, batch: _Optional[_Union[_model_pb2.Batch, _Mapping]] = ...) -> None: ...

class PostSpansResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...
