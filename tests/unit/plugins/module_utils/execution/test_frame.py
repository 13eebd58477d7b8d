"""The frame codec: a frame is checked before it is decoded, and output that holds none says what came back."""

from __future__ import annotations

import base64

import pytest

from ansible_collections.alicloud.ecs.plugins.module_utils.execution import frame as codec, shell_scripts
from test_shell_scripts import run_locally


def test_corrupted_frame_is_rejected() -> None:
    output = run_locally(shell_scripts.build_run_script(b"echo hi"))
    trailer = codec.parse_trailer(output)
    tampered = base64.b64encode(b"x" * 10)
    with pytest.raises(codec.TransportError, match="sha256"):
        codec.decode_frame(tampered, trailer.sha256)


def test_garbage_output_names_what_came_back() -> None:
    with pytest.raises(codec.TransportError, match="bash: oops"):
        codec.parse_trailer(b"bash: oops\n")
