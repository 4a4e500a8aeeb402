// Drives ArtGen's /v1 routes with the official OpenAI Node SDK (pinned in tests/sdk/node).
//
// Run by tests/api/node_sdk.rs against a test server whose catalogue prices svg output:
// ARTGEN_URL and ARTGEN_KEY name it; ARTGEN_LIMITED_URL and ARTGEN_LIMITED_KEY name a second
// one whose rate limit admits one request a minute. Every operation is called, and across the
// generate and edit calls every parameter of the SDK's ImageGenerateParams and ImageEditParams
// is sent at least once, with a value the model takes. Assertions are on the SDK's parsed
// objects; any exception fails the test. tests/sdk/openai_python.py does the same in Python.
//
// The SDK is resolved from tests/sdk/node/node_modules (`npm ci --prefix tests/sdk/node`) or
// from NODE_PATH.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

const require = createRequire(new URL("./node/", import.meta.url));
let sdkEntry;
try {
  sdkEntry = require.resolve("openai");
} catch {
  console.error("the openai package is missing: run `npm ci --prefix tests/sdk/node` or set NODE_PATH");
  process.exit(1);
}
const {
  OpenAI,
  toFile,
  AuthenticationError,
  BadRequestError,
  NotFoundError,
  RateLimitError,
} = require(sdkEntry);

const URL_ = process.env.ARTGEN_URL;
const client = new OpenAI({ baseURL: `${URL_}/v1`, apiKey: process.env.ARTGEN_KEY, maxRetries: 0 });
// The parameters sent, by method; checked against the SDK's own declarations at the end.
const sent = { generate: new Set(), edit: new Set() };

function generate(params) {
  Object.keys(params).forEach((name) => sent.generate.add(name));
  return client.images.generate(params);
}

function edit(params) {
  Object.keys(params).forEach((name) => sent.edit.add(name));
  return client.images.edit(params);
}

/** [format, width, height] read from the file's own header. */
function imageInfo(data) {
  if (data.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) {
    return ["png", data.readUInt32BE(16), data.readUInt32BE(20)];
  }
  const head = data.subarray(0, 6).toString("latin1");
  if (head === "GIF87a" || head === "GIF89a") {
    return ["gif", data.readUInt16LE(6), data.readUInt16LE(8)];
  }
  if (data.subarray(0, 4).toString("latin1") === "RIFF" && data.subarray(8, 12).toString("latin1") === "WEBP") {
    const chunk = data.subarray(12, 16).toString("latin1");
    if (chunk === "VP8L") {
      const bits = data.readUInt32LE(21);
      return ["webp", (bits & 0x3fff) + 1, ((bits >>> 14) & 0x3fff) + 1];
    }
    if (chunk === "VP8X") {
      return ["webp", data.readUIntLE(24, 3) + 1, data.readUIntLE(27, 3) + 1];
    }
    if (chunk === "VP8 ") {
      return ["webp", data.readUInt16LE(26) & 0x3fff, data.readUInt16LE(28) & 0x3fff];
    }
  }
  if (data[0] === 0xff && data[1] === 0xd8) {
    let at = 2;
    while (at + 9 < data.length) {
      const marker = data[at + 1];
      if (marker >= 0xc0 && marker <= 0xcf && ![0xc4, 0xc8, 0xcc].includes(marker)) {
        return ["jpeg", data.readUInt16BE(at + 7), data.readUInt16BE(at + 5)];
      }
      at += 2 + data.readUInt16BE(at + 2);
    }
  }
  const svg = /<svg\b[^>]*>/.exec(data.subarray(0, 4096).toString("utf8"));
  if (svg) {
    const width = /\bwidth="(\d+)"/.exec(svg[0]);
    const height = /\bheight="(\d+)"/.exec(svg[0]);
    return ["svg", Number(width[1]), Number(height[1])];
  }
  throw new Error(`not an image: ${data.subarray(0, 16).toString("hex")}`);
}

/** Frames of a GIF: image descriptors after the header, colour table and extensions. */
function gifFrames(data) {
  const table = (flags) => (flags & 0x80 ? 3 << ((flags & 7) + 1) : 0);
  let at = 13 + table(data[10]);
  let frames = 0;
  while (at < data.length && data[at] !== 0x3b) {
    if (data[at] === 0x21) {
      at += 2;
    } else {
      frames += 1;
      at += 10 + table(data[at + 9]) + 1;
    }
    while (data[at]) at += data[at] + 1;
    at += 1;
  }
  return frames;
}

/** Colour type 4 or 6 (grey or RGB with alpha) in the IHDR chunk. */
const pngHasAlpha = (data) => data[25] === 4 || data[25] === 6;

/** Every image is base64 of a `format` file of width x height; returns their bytes. */
function decoded(response, format, width, height, count = 1) {
  assert.ok(Number.isInteger(response.created) && response.created > 1_700_000_000, `created ${response.created}`);
  assert.equal(response.data?.length, count);
  return response.data.map((item) => {
    assert.equal(item.url, undefined, "base64 answers carry no URL");
    const data = Buffer.from(item.b64_json, "base64");
    assert.deepEqual(imageInfo(data), [format, width, height]);
    return data;
  });
}

/** The echo fields and usage every GPT image answer carries. */
function gptAnswer(response, background, quality, format, size) {
  const { usage } = response;
  assert.deepEqual(
    [response.background, response.quality, response.output_format, response.size],
    [background, quality, format, size],
  );
  assert.ok(usage, "GPT image answers carry usage");
  assert.equal(usage.total_tokens, usage.input_tokens + usage.output_tokens);
  assert.ok(usage.input_tokens_details.text_tokens > 0 && usage.output_tokens > 0, JSON.stringify(usage));
  assert.ok(usage.output_tokens_details, JSON.stringify(usage));
}

/** None of the GPT image fields: DALL·E answers carry `created` and `data` only. */
function dalleAnswer(response) {
  for (const field of ["background", "quality", "output_format", "size", "usage", "svg_usage"]) {
    assert.equal(response[field], undefined, field);
  }
}

const png = (name, data) => toFile(data, name, { type: "image/png" });

async function collect(stream) {
  const events = [];
  for await (const event of stream) events.push(event);
  return events;
}

// --- generations --------------------------------------------------------------------------

const free = await generate({
  model: "gpt-image-2.5-sunburst",
  prompt: "a lighthouse at dusk",
  n: 2,
  size: "1536x864",
  quality: "xhigh",
  output_format: "webp",
  output_compression: 80,
  background: "opaque",
  moderation: "low",
  complexity: "high",
  safety_identifier: "user-hash-1",
  user: "legacy-user-1",
});
decoded(free, "webp", 1536, 864, 2);
gptAnswer(free, "opaque", "xhigh", "webp", "1536x864");
assert.match(free._request_id ?? "", /^req_/, "x-request-id reaches the SDK");

const gif = await generate({
  model: "gpt-image-2.5-flare",
  prompt: "a waving flag",
  size: "1024x640",
  quality: "max",
  output_format: "gif",
  frame_count: 4,
  frame_duration_ms: 120,
});
assert.equal(gifFrames(decoded(gif, "gif", 1024, 640)[0]), 4);
gptAnswer(gif, "opaque", "max", "gif", "1024x640");

const svg = await generate({
  model: "gpt-image-2.5-sunburst",
  prompt: "a flat logo of a fox",
  size: "1024x1024",
  quality: "high",
  output_format: "svg",
  svg: { model: "svg-author-1", reasoning: { effort: "low" } },
});
decoded(svg, "svg", 1024, 1024);
gptAnswer(svg, "opaque", "high", "svg", "1024x1024");
assert.ok(svg.svg_usage?.total_tokens > 0, JSON.stringify(svg.svg_usage));

const transparent = await generate({
  model: "gpt-image-1.5",
  prompt: "a red apple",
  size: "1024x1024",
  quality: "low",
  output_format: "png",
  background: "transparent",
});
const [apple] = decoded(transparent, "png", 1024, 1024);
assert.ok(pngHasAlpha(apple), "a transparent background is a PNG with alpha");
gptAnswer(transparent, "transparent", "low", "png", "1024x1024");

const jpeg = await generate({
  model: "gpt-image-2",
  prompt: "a foggy forest",
  size: "1024x1536",
  quality: "medium",
  output_format: "jpeg",
});
const [forest] = decoded(jpeg, "jpeg", 1024, 1536);
gptAnswer(jpeg, "opaque", "medium", "jpeg", "1024x1536");

const dalle3 = await generate({
  model: "dall-e-3",
  prompt: "a castle on a cliff",
  size: "1792x1024",
  quality: "hd",
  style: "natural",
  response_format: "b64_json",
});
decoded(dalle3, "png", 1792, 1024);
assert.ok(dalle3.data[0].revised_prompt, "dall-e-3 revises the prompt");
dalleAnswer(dalle3);

const dalle2 = await generate({ model: "dall-e-2", prompt: "a fox", size: "256x256", n: 2, response_format: "url" });
assert.equal(dalle2.data.length, 2);
assert.ok(dalle2.data.every((d) => d.url.startsWith(URL_) && d.b64_json === undefined));
dalleAnswer(dalle2);
const square = Buffer.from(
  (await generate({ model: "dall-e-2", prompt: "a fox", size: "256x256", response_format: "b64_json" })).data[0]
    .b64_json,
  "base64",
);

let events = await collect(
  await generate({
    model: "gpt-image-2",
    prompt: "a fox",
    size: "1024x1024",
    quality: "low",
    stream: true,
    partial_images: 2,
    safety_identifier: "user-hash-3",
  }),
);
assert.deepEqual(
  events.map((e) => e.type),
  ["image_generation.partial_image", "image_generation.partial_image", "image_generation.completed"],
);
assert.deepEqual(
  events.slice(0, 2).map((e) => e.partial_image_index),
  [0, 1],
);
for (const event of events) {
  assert.deepEqual(imageInfo(Buffer.from(event.b64_json, "base64")), ["png", 1024, 1024]);
  assert.deepEqual([event.size, event.quality, event.output_format], ["1024x1024", "low", "png"]);
  assert.ok(Number.isInteger(event.created_at));
}
assert.ok(events.at(-1).usage.total_tokens > 0 && events.at(-1).usage.input_tokens_details);
assert.equal(events.at(-1).safety_identifier, "user-hash-3", "the completed event repeats the end-user id");

// --- edits --------------------------------------------------------------------------------

const one = await edit({
  model: "gpt-image-1.5",
  image: await png("apple.png", apple),
  prompt: "make it green",
  size: "1024x1024",
  quality: "low",
  background: "transparent",
  output_format: "png",
  input_fidelity: "high",
  user: "legacy-user-2",
  n: 1,
});
decoded(one, "png", 1024, 1024);
gptAnswer(one, "transparent", "low", "png", "1024x1024");

const several = await edit({
  model: "gpt-image-2",
  image: [await png("a.png", apple), await toFile(forest, "b.jpg", { type: "image/jpeg" }), await png("c.png", apple)],
  prompt: "merge them",
  size: "1024x1024",
  quality: "medium",
  output_format: "jpeg",
  output_compression: 70,
  n: 2,
});
decoded(several, "jpeg", 1024, 1024, 2);
gptAnswer(several, "opaque", "medium", "jpeg", "1024x1024");
assert.ok(several.usage.input_tokens_details.image_tokens > 0, JSON.stringify(several.usage));

const masked = await edit({
  model: "gpt-image-2",
  image: await png("apple.png", apple),
  mask: await png("mask.png", apple),
  prompt: "a pear instead",
  size: "auto",
  quality: "low",
  background: "opaque",
  safety_identifier: "user-hash-2",
});
decoded(masked, "png", 1024, 1024);
gptAnswer(masked, "opaque", "low", "png", "1024x1024");

const markup = await edit({
  model: "gpt-image-2.5-flare",
  image: await png("apple.png", apple),
  markup: await png("markup.png", apple),
  prompt: "follow the sketch",
  size: "1024x1024",
  quality: "xhigh",
  complexity: "medium",
  output_format: "webp",
});
decoded(markup, "webp", 1024, 1024);
gptAnswer(markup, "opaque", "xhigh", "webp", "1024x1024");

const gifEdit = await edit({
  model: "gpt-image-2.5-sunburst",
  image: await png("apple.png", apple),
  prompt: "make it spin",
  size: "1024x640",
  quality: "low",
  output_format: "gif",
  frame_count: 3,
  frame_duration_ms: 100,
});
assert.equal(gifFrames(decoded(gifEdit, "gif", 1024, 640)[0]), 3);
gptAnswer(gifEdit, "opaque", "low", "gif", "1024x640");

const svgEdit = await edit({
  model: "gpt-image-2.5-sunburst",
  image: await png("apple.png", apple),
  prompt: "as a flat icon",
  size: "1024x1024",
  quality: "medium",
  output_format: "svg",
  svg: { model: "svg-author-1", reasoning: { effort: "minimal" } },
});
decoded(svgEdit, "svg", 1024, 1024);
gptAnswer(svgEdit, "opaque", "medium", "svg", "1024x1024");
assert.ok(svgEdit.svg_usage?.total_tokens > 0);

const dalleEdit = await edit({
  model: "dall-e-2",
  image: await png("photo.png", square),
  prompt: "a boat",
  size: "256x256",
  response_format: "b64_json",
});
decoded(dalleEdit, "png", 256, 256);
dalleAnswer(dalleEdit);

events = await collect(
  await edit({
    model: "gpt-image-2",
    image: await png("apple.png", apple),
    prompt: "in watercolour",
    size: "1024x1024",
    quality: "low",
    stream: true,
    partial_images: 1,
  }),
);
assert.deepEqual(
  events.map((e) => e.type),
  ["image_edit.partial_image", "image_edit.completed"],
);
assert.equal(events[0].partial_image_index, 0);
for (const event of events) {
  assert.deepEqual(imageInfo(Buffer.from(event.b64_json, "base64")), ["png", 1024, 1024]);
  assert.deepEqual([event.size, event.quality, event.output_format], ["1024x1024", "low", "png"]);
}
assert.ok(events.at(-1).usage.total_tokens > 0);

// --- variations ---------------------------------------------------------------------------

const variations = await client.images.createVariation({
  model: "dall-e-2",
  image: await png("photo.png", square),
  n: 2,
  size: "256x256",
  response_format: "b64_json",
  user: "legacy-user-3",
});
decoded(variations, "png", 256, 256, 2);
dalleAnswer(variations);

// --- models -------------------------------------------------------------------------------

try {
  const models = await client.models.list();
  const ids = models.data.map((m) => m.id);
  assert.ok(ids.includes("gpt-image-2"), ids.join(","));
  assert.ok(models.data.every((m) => m.object === "model" && Number.isInteger(m.created) && m.owned_by));
  console.log("models.list: ok");
} catch (err) {
  if (!(err instanceof NotFoundError)) throw err;
  console.log("models.list: not available yet (404)");
}

// --- errors, one per class ----------------------------------------------------------------

async function refused(errorClass, call) {
  try {
    await call();
  } catch (err) {
    if (err instanceof errorClass) return err;
    throw err;
  }
  throw new Error(`expected ${errorClass.name}`);
}

const badKey = new OpenAI({ baseURL: `${URL_}/v1`, apiKey: "sk-not-a-key", maxRetries: 0 });
let err = await refused(AuthenticationError, () =>
  badKey.images.generate({ model: "dall-e-2", prompt: "x", size: "256x256" }),
);
assert.deepEqual([err.status, err.code], [401, "invalid_api_key"]);

err = await refused(BadRequestError, () => client.images.generate({ model: "gpt-image-2", prompt: "x", quality: "hd" }));
assert.deepEqual([err.status, err.code, err.param], [400, "invalid_value", "quality"]);

err = await refused(BadRequestError, async () =>
  client.images.createVariation({
    model: "dall-e-2",
    image: await toFile(forest, "photo.jpg", { type: "image/jpeg" }),
  }),
);
assert.deepEqual([err.status, err.param], [400, "image"]);

err = await refused(NotFoundError, () => client.images.generate({ model: "no-such-model", prompt: "x" }));
assert.deepEqual([err.status, err.code, err.param], [404, "model_not_found", "model"]);

const limited = new OpenAI({
  baseURL: `${process.env.ARTGEN_LIMITED_URL}/v1`,
  apiKey: process.env.ARTGEN_LIMITED_KEY,
  maxRetries: 0,
});
await limited.images.generate({ model: "dall-e-2", prompt: "x", size: "256x256" });
err = await refused(RateLimitError, () => limited.images.generate({ model: "dall-e-2", prompt: "x", size: "256x256" }));
assert.deepEqual([err.status, err.code], [429, "rate_limit_exceeded"]);
assert.ok(err.headers.get("retry-after"), "a 429 says when to retry");

// --- coverage of the SDK's parameters -----------------------------------------------------

const declarations = readFileSync(join(dirname(sdkEntry), "resources", "images.d.ts"), "utf8");
for (const [method, name] of [
  ["generate", "ImageGenerateParamsBase"],
  ["edit", "ImageEditParamsBase"],
]) {
  const body = new RegExp(`export interface ${name} \\{([\\s\\S]*?)\\n\\}`).exec(declarations)[1];
  const params = [...body.matchAll(/^ {4}(\w+)\??:/gm)].map((m) => m[1]);
  assert.ok(params.includes("prompt") && params.includes("stream"), `read ${name}: ${params}`);
  const missing = params.filter((p) => !sent[method].has(p));
  assert.deepEqual(missing, [], `images.${method} never sent ${missing}`);
}

console.log("node sdk: ok");
