"""Drives ArtGen's /v1 routes with the official OpenAI Python SDK (pinned in .ci/run).

Run by tests/api/python_sdk.rs against a test server whose catalogue prices svg output:
ARTGEN_URL and ARTGEN_KEY name it; ARTGEN_LIMITED_URL and ARTGEN_LIMITED_KEY name a second one
whose rate limit admits one request a minute. Every operation is called, and across the
generate and edit calls every parameter of the SDK's ImageGenerateParams and ImageEditParams is
sent at least once, with a value the model takes. Assertions are on the SDK's parsed objects;
any exception fails the test. Tests/sdk/openai_node.mjs does the same with the Node SDK.
"""
import base64
import os
import re
import struct
import sys

from openai import (
    AuthenticationError,
    BadRequestError,
    NotFoundError,
    OpenAI,
    RateLimitError,
)

URL = os.environ["ARTGEN_URL"]
client = OpenAI(base_url=URL + "/v1", api_key=os.environ["ARTGEN_KEY"], max_retries=0)
# The parameters sent, by method; checked against the SDK's own TypedDicts at the end.
sent = {"generate": set(), "edit": set()}


def generate(**params):
    sent["generate"].update(params)
    return client.images.generate(**params)


def edit(**params):
    sent["edit"].update(params)
    return client.images.edit(**params)


def image_info(data):
    """(format, width, height) read from the file's own header."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        width, height = struct.unpack(">II", data[16:24])
        return "png", width, height
    if data[:6] in (b"GIF87a", b"GIF89a"):
        width, height = struct.unpack("<HH", data[6:10])
        return "gif", width, height
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        chunk = data[12:16]
        if chunk == b"VP8L":
            bits = int.from_bytes(data[21:25], "little")
            return "webp", (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
        if chunk == b"VP8X":
            width = int.from_bytes(data[24:27], "little") + 1
            return "webp", width, int.from_bytes(data[27:30], "little") + 1
        if chunk == b"VP8 ":
            width, height = struct.unpack("<HH", data[26:30])
            return "webp", width & 0x3FFF, height & 0x3FFF
    if data[:2] == b"\xff\xd8":
        at = 2
        while at + 9 < len(data):
            marker, length = data[at + 1], struct.unpack(">H", data[at + 2 : at + 4])[0]
            if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
                height, width = struct.unpack(">HH", data[at + 5 : at + 9])
                return "jpeg", width, height
            at += 2 + length
    text = data[:4096].decode("utf-8", "replace")
    svg = re.search(r"<svg\b[^>]*>", text)
    if svg:
        width = re.search(r'\bwidth="(\d+)"', svg.group(0))
        height = re.search(r'\bheight="(\d+)"', svg.group(0))
        return "svg", int(width.group(1)), int(height.group(1))
    raise AssertionError(f"not an image: {data[:16]!r}")


def gif_frames(data):
    """Frames of a GIF: image descriptors after the header, colour table and extensions."""
    at = 13 + ((3 << ((data[10] & 7) + 1)) if data[10] & 0x80 else 0)
    frames = 0
    while at < len(data) and data[at] != 0x3B:
        if data[at] == 0x21:
            at += 2
        else:
            frames += 1
            flags = data[at + 9]
            at += 10 + ((3 << ((flags & 7) + 1)) if flags & 0x80 else 0) + 1
        while data[at]:
            at += data[at] + 1
        at += 1
    return frames


def png_has_alpha(data):
    """Colour type 4 or 6 (grey or RGB with alpha) in the IHDR chunk."""
    return data[25] in (4, 6)


def decoded(response, fmt, width, height, count=1):
    """Every image is base64 of a `fmt` file of width x height; returns their bytes."""
    assert isinstance(response.created, int) and response.created > 1_700_000_000, response.created
    assert response.data is not None and len(response.data) == count, response.data
    images = []
    for item in response.data:
        assert item.url is None, "base64 answers carry no URL"
        data = base64.b64decode(item.b64_json)
        assert image_info(data) == (fmt, width, height), (image_info(data), fmt, width, height)
        images.append(data)
    return images


def gpt_answer(response, background, quality, fmt, size):
    """The echo fields and usage every GPT image answer carries."""
    echo = (response.background, response.quality, response.output_format, response.size)
    assert echo == (background, quality, fmt, size), echo
    usage = response.usage
    assert usage is not None and usage.total_tokens == usage.input_tokens + usage.output_tokens, usage
    assert usage.input_tokens_details.text_tokens > 0 and usage.output_tokens > 0, usage
    assert usage.output_tokens_details is not None, usage


def dalle_answer(response):
    """None of the GPT image fields: DALL·E answers carry `created` and `data` only."""
    for field in ("background", "quality", "output_format", "size", "usage", "svg_usage"):
        assert getattr(response, field) is None, (field, response)


def png_upload(name, data):
    return (name, data, "image/png")


# --- generations ----------------------------------------------------------------------------

free = generate(
    model="gpt-image-2.5-sunburst",
    prompt="a lighthouse at dusk",
    n=2,
    size="1536x864",
    quality="xhigh",
    output_format="webp",
    output_compression=80,
    background="opaque",
    moderation="low",
    complexity="high",
    safety_identifier="user-hash-1",
    user="legacy-user-1",
)
decoded(free, "webp", 1536, 864, count=2)
gpt_answer(free, "opaque", "xhigh", "webp", "1536x864")
assert free._request_id and free._request_id.startswith("req_"), "x-request-id reaches the SDK"

gif = generate(
    model="gpt-image-2.5-flare",
    prompt="a waving flag",
    size="1024x640",
    quality="max",
    output_format="gif",
    frame_count=4,
    frame_duration_ms=120,
)
assert gif_frames(decoded(gif, "gif", 1024, 640)[0]) == 4
gpt_answer(gif, "opaque", "max", "gif", "1024x640")

svg = generate(
    model="gpt-image-2.5-sunburst",
    prompt="a flat logo of a fox",
    size="1024x1024",
    quality="high",
    output_format="svg",
    svg={"model": "svg-author-1", "reasoning": {"effort": "low"}},
)
decoded(svg, "svg", 1024, 1024)
gpt_answer(svg, "opaque", "high", "svg", "1024x1024")
assert svg.svg_usage is not None and svg.svg_usage.total_tokens > 0, svg.svg_usage

transparent = generate(
    model="gpt-image-1.5",
    prompt="a red apple",
    size="1024x1024",
    quality="low",
    output_format="png",
    background="transparent",
)
apple = decoded(transparent, "png", 1024, 1024)[0]
assert png_has_alpha(apple), "a transparent background is a PNG with alpha"
gpt_answer(transparent, "transparent", "low", "png", "1024x1024")

jpeg = generate(model="gpt-image-2", prompt="a foggy forest", size="1024x1536", quality="medium", output_format="jpeg")
forest = decoded(jpeg, "jpeg", 1024, 1536)[0]
gpt_answer(jpeg, "opaque", "medium", "jpeg", "1024x1536")

dalle3 = generate(
    model="dall-e-3",
    prompt="a castle on a cliff",
    size="1792x1024",
    quality="hd",
    style="natural",
    response_format="b64_json",
)
decoded(dalle3, "png", 1792, 1024)
assert dalle3.data[0].revised_prompt, "dall-e-3 revises the prompt"
dalle_answer(dalle3)

dalle2 = generate(model="dall-e-2", prompt="a fox", size="256x256", n=2, response_format="url")
assert len(dalle2.data) == 2 and all(d.url.startswith(URL) and d.b64_json is None for d in dalle2.data)
dalle_answer(dalle2)
square = base64.b64decode(
    generate(model="dall-e-2", prompt="a fox", size="256x256", response_format="b64_json").data[0].b64_json
)

events = list(
    generate(
        model="gpt-image-2",
        prompt="a fox",
        size="1024x1024",
        quality="low",
        stream=True,
        partial_images=2,
        safety_identifier="user-hash-3",
    )
)
assert [e.type for e in events] == ["image_generation.partial_image"] * 2 + ["image_generation.completed"], events
assert [e.partial_image_index for e in events[:2]] == [0, 1]
for event in events:
    assert image_info(base64.b64decode(event.b64_json)) == ("png", 1024, 1024)
    assert (event.size, event.quality, event.output_format) == ("1024x1024", "low", "png"), event
    assert isinstance(event.created_at, int)
assert events[-1].usage.total_tokens > 0 and events[-1].usage.input_tokens_details is not None
assert events[-1].safety_identifier == "user-hash-3", "the completed event repeats the end-user id"

# --- edits ----------------------------------------------------------------------------------

one = edit(
    model="gpt-image-1.5",
    image=png_upload("apple.png", apple),
    prompt="make it green",
    size="1024x1024",
    quality="low",
    background="transparent",
    output_format="png",
    input_fidelity="high",
    user="legacy-user-2",
    n=1,
)
decoded(one, "png", 1024, 1024)
gpt_answer(one, "transparent", "low", "png", "1024x1024")

several = edit(
    model="gpt-image-2",
    image=[png_upload("a.png", apple), ("b.jpg", forest, "image/jpeg"), png_upload("c.png", apple)],
    prompt="merge them",
    size="1024x1024",
    quality="medium",
    output_format="jpeg",
    output_compression=70,
    n=2,
)
decoded(several, "jpeg", 1024, 1024, count=2)
gpt_answer(several, "opaque", "medium", "jpeg", "1024x1024")
assert several.usage.input_tokens_details.image_tokens > 0, several.usage

masked = edit(
    model="gpt-image-2",
    image=png_upload("apple.png", apple),
    mask=png_upload("mask.png", apple),
    prompt="a pear instead",
    size="auto",
    quality="low",
    background="opaque",
    safety_identifier="user-hash-2",
)
decoded(masked, "png", 1024, 1024)
gpt_answer(masked, "opaque", "low", "png", "1024x1024")

markup = edit(
    model="gpt-image-2.5-flare",
    image=png_upload("apple.png", apple),
    markup=png_upload("markup.png", apple),
    prompt="follow the sketch",
    size="1024x1024",
    quality="xhigh",
    complexity="medium",
    output_format="webp",
)
decoded(markup, "webp", 1024, 1024)
gpt_answer(markup, "opaque", "xhigh", "webp", "1024x1024")

gif_edit = edit(
    model="gpt-image-2.5-sunburst",
    image=png_upload("apple.png", apple),
    prompt="make it spin",
    size="1024x640",
    quality="low",
    output_format="gif",
    frame_count=3,
    frame_duration_ms=100,
)
assert gif_frames(decoded(gif_edit, "gif", 1024, 640)[0]) == 3
gpt_answer(gif_edit, "opaque", "low", "gif", "1024x640")

svg_edit = edit(
    model="gpt-image-2.5-sunburst",
    image=png_upload("apple.png", apple),
    prompt="as a flat icon",
    size="1024x1024",
    quality="medium",
    output_format="svg",
    svg={"model": "svg-author-1", "reasoning": {"effort": "minimal"}},
)
decoded(svg_edit, "svg", 1024, 1024)
gpt_answer(svg_edit, "opaque", "medium", "svg", "1024x1024")
assert svg_edit.svg_usage is not None and svg_edit.svg_usage.total_tokens > 0

dalle_edit = edit(
    model="dall-e-2",
    image=png_upload("photo.png", square),
    prompt="a boat",
    size="256x256",
    response_format="b64_json",
)
decoded(dalle_edit, "png", 256, 256)
dalle_answer(dalle_edit)

events = list(
    edit(
        model="gpt-image-2",
        image=png_upload("apple.png", apple),
        prompt="in watercolour",
        size="1024x1024",
        quality="low",
        stream=True,
        partial_images=1,
    )
)
assert [e.type for e in events] == ["image_edit.partial_image", "image_edit.completed"], events
assert events[0].partial_image_index == 0
for event in events:
    assert image_info(base64.b64decode(event.b64_json)) == ("png", 1024, 1024)
    assert (event.size, event.quality, event.output_format) == ("1024x1024", "low", "png"), event
assert events[-1].usage.total_tokens > 0

# --- variations -----------------------------------------------------------------------------

variations = client.images.create_variation(
    model="dall-e-2",
    image=png_upload("photo.png", square),
    n=2,
    size="256x256",
    response_format="b64_json",
    user="legacy-user-3",
)
decoded(variations, "png", 256, 256, count=2)
dalle_answer(variations)

# --- models ---------------------------------------------------------------------------------

try:
    models = client.models.list()
    ids = [m.id for m in models.data]
    assert "gpt-image-2" in ids, ids
    assert all(m.object == "model" and isinstance(m.created, int) and m.owned_by for m in models.data)
    print("models.list: ok")
except NotFoundError:
    print("models.list: not available yet (404)")

# --- errors, one per class ------------------------------------------------------------------


def refused(error_class, call):
    try:
        call()
    except error_class as err:
        return err
    sys.exit(f"expected {error_class.__name__}")


bad_key = OpenAI(base_url=URL + "/v1", api_key="sk-not-a-key", max_retries=0)
err = refused(AuthenticationError, lambda: bad_key.images.generate(model="dall-e-2", prompt="x", size="256x256"))
assert err.status_code == 401 and err.code == "invalid_api_key", err.body

err = refused(BadRequestError, lambda: client.images.generate(model="gpt-image-2", prompt="x", quality="hd"))
assert (err.status_code, err.code, err.param) == (400, "invalid_value", "quality"), err.body

err = refused(
    BadRequestError,
    lambda: client.images.create_variation(model="dall-e-2", image=("photo.jpg", forest, "image/jpeg")),
)
assert err.status_code == 400 and err.param == "image", err.body

err = refused(NotFoundError, lambda: client.images.generate(model="no-such-model", prompt="x"))
assert (err.status_code, err.code, err.param) == (404, "model_not_found", "model"), err.body

limited = OpenAI(base_url=os.environ["ARTGEN_LIMITED_URL"] + "/v1", api_key=os.environ["ARTGEN_LIMITED_KEY"], max_retries=0)
limited.images.generate(model="dall-e-2", prompt="x", size="256x256")
err = refused(RateLimitError, lambda: limited.images.generate(model="dall-e-2", prompt="x", size="256x256"))
assert err.status_code == 429 and err.code == "rate_limit_exceeded", err.body
assert err.response.headers.get("retry-after"), "a 429 says when to retry"

# --- coverage of the SDK's parameters -------------------------------------------------------

from openai.types import image_edit_params, image_generate_params  # noqa: E402

for method, module, base in (
    ("generate", image_generate_params, "ImageGenerateParamsBase"),
    ("edit", image_edit_params, "ImageEditParamsBase"),
):
    params = set(getattr(module, base).__annotations__) | {"stream"}
    missing = params - sent[method]
    assert not missing, f"images.{method} never sent {sorted(missing)}"

print("python sdk: ok")
