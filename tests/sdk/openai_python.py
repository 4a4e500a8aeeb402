"""Drives ArtGen's /v1/images and /v1/models routes with the official OpenAI Python SDK.

Run by tests/api/python_sdk.rs against a test server: ARTGEN_URL and ARTGEN_KEY are set.
Every call must parse; any exception fails the test.
"""
import base64
import os
import sys

from openai import BadRequestError, NotFoundError, OpenAI

client = OpenAI(base_url=os.environ["ARTGEN_URL"] + "/v1", api_key=os.environ["ARTGEN_KEY"], max_retries=0)

generated = client.images.generate(model="gpt-image-1", prompt="a fox", quality="low", size="1024x1024")
png = base64.b64decode(generated.data[0].b64_json)
assert png.startswith(b"\x89PNG"), "gpt-image answers with a PNG"
assert generated.usage.total_tokens > 0

dalle = client.images.generate(model="dall-e-2", prompt="a fox", size="256x256", n=2)
assert len(dalle.data) == 2 and dalle.data[0].url.startswith(os.environ["ARTGEN_URL"])

square = base64.b64decode(
    client.images.generate(model="dall-e-2", prompt="a fox", size="256x256", response_format="b64_json").data[0].b64_json
)
edited = client.images.edit(
    model="dall-e-2", image=("photo.png", square, "image/png"), prompt="a boat", size="256x256", response_format="b64_json"
)
assert len(edited.data) == 1
several = client.images.edit(
    model="gpt-image-1", image=[("a.png", square, "image/png"), ("b.png", square, "image/png")], prompt="merge", quality="low"
)
assert several.usage.input_tokens_details.image_tokens > 0
variations = client.images.create_variation(image=("photo.png", square, "image/png"), n=2, size="256x256")
assert len(variations.data) == 2

events = [e.type for e in client.images.generate(model="gpt-image-1", prompt="a fox", quality="low", stream=True, partial_images=1)]
assert events == ["image_generation.partial_image", "image_generation.completed"], events
events = [e.type for e in client.images.edit(model="gpt-image-1", image=("a.png", square, "image/png"), prompt="x", quality="low", stream=True)]
assert events == ["image_edit.completed"], events

try:
    client.images.generate(model="gpt-image-1", prompt="x", size="256x256")
    sys.exit("an invalid size must be refused")
except BadRequestError as err:
    assert err.status_code == 400 and err.body["param"] == "size", err.body

ids = [model.id for model in client.models.list()]
assert "gpt-image-2.5-flare" in ids and "gpt-image-2.6-flare" not in ids, ids
assert client.models.retrieve("dall-e-2").owned_by == "openai"
try:
    client.models.retrieve("no-such-model")
    sys.exit("a model not served must be 404")
except NotFoundError as err:
    assert err.code == "model_not_found", err.body

print("python sdk: ok")
