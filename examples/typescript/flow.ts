// Folio through a TypeScript client generated from openapi.json: openapi-typescript
// writes the types (generated/folio.d.ts), openapi-fetch makes typed calls with them.
//
//   npm ci
//   npx openapi-typescript ../../openapi.json --output generated/folio.d.ts
//   npx tsc --noEmit -p .          # the flow against the generated types
//   npx tsx flow.ts http://127.0.0.1:8080
//
// TypeScript types vanish at run time, so every reply is also checked against the
// schema the document declares for its operation and status (ajv): a reply that does
// not fit its typed model, or a status the document does not declare, fails the run.
import { readFileSync } from "node:fs";
import { randomUUID } from "node:crypto";
import { deflateSync } from "node:zlib";

import { Ajv, type ValidateFunction } from "ajv";
import addFormatsModule from "ajv-formats";
import createClient, { type Middleware } from "openapi-fetch";

import type { components, paths } from "./generated/folio";

type Schemas = components["schemas"];
const base = process.argv[2] ?? "http://127.0.0.1:8080";
const document = JSON.parse(readFileSync(new URL("../../openapi.json", import.meta.url), "utf8"));

// --- Run-time check of every reply against the document -----------------------------

// OpenAPI 3.0's `nullable` is not JSON Schema: turn it into `anyOf [..., null]`.
function jsonSchema(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(jsonSchema);
  if (node === null || typeof node !== "object") return node;
  const { nullable, ...rest } = node as Record<string, unknown>;
  const converted = Object.fromEntries(Object.entries(rest).map(([k, v]) => [k, jsonSchema(v)]));
  return nullable ? { anyOf: [converted, { type: "null" }] } : converted;
}
const ajv = new Ajv({ strict: false, allErrors: true });
const addFormats = addFormatsModule as unknown as (a: Ajv) => Ajv;
addFormats(ajv);
for (const format of ["int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "float", "double", "binary"]) {
  ajv.addFormat(format, true);
}
ajv.addSchema({ $id: "folio", components: jsonSchema(document.components) });
const validators = new Map<string, ValidateFunction>();
let checkedReplies = 0;

function replySchema(path: string, method: string, status: number): unknown {
  const responses = document.paths[path]?.[method]?.responses ?? {};
  const declared = responses[String(status)];
  if (!declared) throw new Error(`${method.toUpperCase()} ${path} answered ${status}, which the document does not declare`);
  // Replies are `application/json; charset=utf-8`.
  const json = Object.entries(declared.content ?? {}).find(([type]) => type.startsWith("application/json"));
  return json ? (json[1] as { schema?: unknown }).schema : undefined;
}

const checkReplies: Middleware = {
  async onResponse({ request, response, schemaPath }) {
    const method = request.method.toLowerCase();
    const schema = replySchema(schemaPath, method, response.status);
    if (!schema) return undefined;
    const key = JSON.stringify(schema);
    let validate = validators.get(key);
    if (!validate) {
      validate = ajv.compile({ $id: `reply-${validators.size}`, ...(jsonSchema(schema) as object) });
      validators.set(key, validate);
    }
    const body = await response.clone().json();
    if (!validate(body)) {
      throw new Error(`${method.toUpperCase()} ${schemaPath} ${response.status}: reply does not fit its schema: ${ajv.errorsText(validate.errors)}\n${JSON.stringify(body)}`);
    }
    checkedReplies++;
    return undefined;
  },
};

// A $ref inside a reply schema points at `#/components/...` of the document, which ajv
// knows as `folio#/components/...`.
function rewriteRefs(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(rewriteRefs);
  if (node === null || typeof node !== "object") return node;
  return Object.fromEntries(
    Object.entries(node as Record<string, unknown>).map(([k, v]) =>
      k === "$ref" && typeof v === "string" ? [k, `folio${v}`] : [k, rewriteRefs(v)],
    ),
  );
}
document.paths = rewriteRefs(document.paths);

// --- The client ----------------------------------------------------------------------

const client = createClient<paths>({ baseUrl: base });
client.use(checkReplies);
const bearer = (token: string) => ({ headers: { Authorization: `Bearer ${token}` } });

function expectStatus(response: Response, status: number) {
  if (response.status !== status) throw new Error(`${response.url}: expected ${status}, got ${response.status}`);
}
function expectError(result: { response: Response; error?: unknown }, status: number) {
  expectStatus(result.response, status);
  const error = result.error as Schemas["ErrorBody"];
  console.log(`  ${status} ${error.code}: ${error.error}`);
}
async function waitFor<T>(what: string, check: () => Promise<T | undefined>, seconds = 60): Promise<T> {
  const deadline = Date.now() + seconds * 1000;
  while (Date.now() < deadline) {
    const found = await check();
    if (found) return found;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`${what}: not within ${seconds} s`);
}

// A gradient PNG made by hand, so the example needs no imaging library.
function png(width: number, height: number): Uint8Array {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (bytes: Buffer) => {
    let c = 0xffffffff;
    for (const b of bytes) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (kind: string, data: Buffer) => {
    const body = Buffer.concat([Buffer.from(kind, "ascii"), data]);
    const out = Buffer.alloc(body.length + 8);
    out.writeUInt32BE(data.length, 0);
    body.copy(out, 4);
    out.writeUInt32BE(crc(body), body.length + 4);
    return out;
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 2, 0, 0, 0], 8);
  const rows = Buffer.alloc((width * 3 + 1) * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) rows.set([(x * 255) / width, (y * 255) / height, 128], y * (width * 3 + 1) + 1 + x * 3);
  }
  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return Buffer.concat([signature, chunk("IHDR", header), chunk("IDAT", deflateSync(rows)), chunk("IEND", Buffer.alloc(0))]);
}

// The upload is a multipart form; the typed body names its fields, the serializer
// puts the bytes in.
function upload(token: string, bytes: Uint8Array, name: string, projectId?: string) {
  return client.POST("/media/upload", {
    ...bearer(token),
    body: { file: name, project_id: projectId },
    bodySerializer(body) {
      const form = new FormData();
      form.append("file", new Blob([bytes.slice()], { type: "image/png" }), body.file);
      if (body.project_id) form.append("project_id", body.project_id);
      return form;
    },
  });
}

// --- The flow ------------------------------------------------------------------------

const name = `ts${randomUUID().replaceAll("-", "").slice(0, 10)}`;
const email = `${name}@folio.test`;
const password = "typescript-client-pw";

// Register and log in: the reply carries an access and a refresh token.
const registered = await client.POST("/auth/register", { body: { username: name, email, password } });
expectStatus(registered.response, 201);
const { data: tokens, response: loggedIn } = await client.POST("/auth/login", { body: { email, password } });
expectStatus(loggedIn, 200);
const verified = await client.GET("/auth/verify", bearer(tokens!.access_token));
if (verified.data?.username !== name) throw new Error("verify names another user");

// Refresh: with rotation a new refresh token comes back, and the old one is spent.
const { data: renewed } = await client.POST("/auth/refresh", { body: { refresh_token: tokens!.refresh_token } });
const access = renewed!.access_token;

// Profile: social links are a typed map of strings.
const { data: profile } = await client.PUT("/profile/me", {
  ...bearer(access),
  body: { name: "Ts Client", bio: "generated", social_links: { github: name } },
});
if (profile?.social_links?.github !== name) throw new Error("social links not kept");
await client.GET("/profile/me", bearer(access));
await client.GET("/users/{username}", { params: { path: { username: name } } });

// A project, read back and listed.
const created = await client.POST("/projects", {
  ...bearer(access),
  body: { title: `Lighthouse ${name}`, description: "A typescript-made project", tags: ["typescript", "client"] },
});
expectStatus(created.response, 201);
const project = created.data!;
await client.GET("/projects/{project_id}", { params: { path: { project_id: project.id } } });
await client.GET("/projects/user/{user_id}", { params: { path: { user_id: project.user_id } } });

// Upload an image; its thumbnail is made in the background: poll until ready.
const uploaded = await upload(access, png(1200, 800), "photo.png", project.id);
expectStatus(uploaded.response, 201);
const media = await waitFor("thumbnail ready", async () => {
  const { data } = await client.GET("/media/{file_id}", { ...bearer(access), params: { path: { file_id: uploaded.data!.file_id } } });
  const status: Schemas["ThumbnailStatus"] | undefined = data?.thumbnail_status;
  return status === "ready" ? data : undefined;
});
await client.PUT("/projects/{project_id}/thumbnail", {
  ...bearer(access),
  params: { path: { project_id: project.id } },
  body: { thumbnail_url: media.thumbnail_url! },
});

// Search (indexed in the background) and suggestions.
await waitFor("project searchable", async () => {
  const { data } = await client.GET("/search", { params: { query: { query: name } } });
  return data?.results.some((r) => r.project_id === project.id) ? true : undefined;
});
await client.GET("/search/suggest", { params: { query: { query: "Lighth" } } });

// One error of each kind the API answers, each checked against the error schema.
expectError(await client.POST("/auth/register", { body: { username: "x y", email: "not-an-email", password: "short" } }), 400);
expectError(await client.GET("/auth/verify", bearer("not-a-token")), 401);
expectError(await client.GET("/admin/jobs", bearer(access)), 403);
expectError(await client.GET("/projects/{project_id}", { params: { path: { project_id: randomUUID() } } }), 404);
expectError(await client.POST("/auth/register", { body: { username: name, email, password } }), 409);
expectError(await upload(access, new Uint8Array(6 * 1024 * 1024), "big.png"), 413);
expectError(await upload(access, new TextEncoder().encode("plain text, not an image"), "notes.png"), 415);
for (let i = 0; i < 5; i++) {
  expectError(await client.POST("/auth/login", { body: { email, password: "wrong-password" } }), 401);
}
expectError(await client.POST("/auth/login", { body: { email, password: "wrong-password" } }), 429);

// Log out: this session, then every session.
expectStatus((await client.POST("/auth/logout", { ...bearer(access), body: { refresh_token: renewed!.refresh_token!, all: false } })).response, 200);
expectStatus((await client.POST("/auth/logout", { ...bearer(access), body: { all: true } })).response, 200);
expectError(await client.POST("/auth/refresh", { body: { refresh_token: renewed!.refresh_token! } }), 401);
console.log(`typescript client: the whole flow passed (${checkedReplies} replies checked against their schemas)`);
