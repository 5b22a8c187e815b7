/**
 * `polarcad serve`: the reader's workstation. A Fastify server on 127.0.0.1 with a JSON API and a
 * plain HTML/CSS/JS page (no CDN, works offline):
 *   POST /api/predict                    multipart: one export page or up to four polar maps
 *                                        (field names may name the view: stress_ac, rest_ac, ...);
 *                                        `keep=1` (field or query) keeps the result for hours
 *   GET  /api/results/:id                the JSON again
 *   GET  /api/results/:id/overlay.png    the Grad-CAM overlay figure
 *   GET  /api/results/:id/original.png   the map the model read
 *   GET  /api/results/:id/report.pdf     the second-reader PDF (src/report/reader-pdf.ts)
 *   GET  /api/results/:id/overlay.dcm    DICOM Secondary Capture of the overlay figure
 *   GET  /api/results/:id/report.dcm     DICOM Encapsulated PDF of the result (both in the input's
 *                                        study when it was DICOM; src/predict/dicom-out.ts)
 *   DELETE /api/results/:id              forget a result now
 *   GET  /api/model                      the model card and the server's limits
 *   GET  /api/session                    the reader and the page's anti-forgery token (for programs)
 *   GET  /healthz                        liveness and queue counters
 *   GET  /                               the page
 *
 * Privacy: logs hold only the route pattern, status, sizes and timings (no file names, no
 * result ids, no DICOM tags); uploads are decoded in memory and dropped after the response; results
 * are kept in memory only (`ResultStore`), with, for a DICOM upload, the study's UIDs and patient
 * attributes its DICOM downloads carry (never in the JSON answer or a log).
 * Limits: bytes per file, pixels per image, files per study, a concurrency limit with a bounded
 * queue (503 when full), a per-prediction time limit and a request (upload) timeout. Bad input gets
 * a 4xx JSON `{ error }`; the server goes on serving.
 * Security (src/serve/security.ts, docs/security.md): Host checked against the listening address,
 * a same-origin proof for every state-changing request, authentication of readers by access token
 * when configured (always beyond loopback), TLS when given, security headers by @fastify/helmet;
 * each result belongs to the reader who asked for it, and kept results are never evicted by
 * others' uploads (a full keep store refuses new kept results instead).
 */
import { readFileSync } from 'node:fs';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Writable } from 'node:stream';
import Fastify, {
  LogController,
  type FastifyError,
  type FastifyInstance,
  type FastifyRequest,
} from 'fastify';
import multipart from '@fastify/multipart';
import helmet from '@fastify/helmet';
import { isView } from '../domain/views.js';
import { MAX_STUDY_FILES, type StudyFile } from '../predict/inputs.js';
import type { Predictor } from '../predict/predictor.js';
import type { Colormap } from '../polarmap/colormaps.js';
import { predictStudy, type StudyImages, type StudyResult } from '../predict/study.js';
import { InputError } from '../util/errors.js';
import { Limiter, QueueFullError, TimeoutError } from './limiter.js';
import { ResultStore, StoreFullError } from './results.js';
import { registerSecurity, type Reader, type Security } from './security.js';
import { isVolumeBytes } from '../volume/read.js';
import { inputStudyRefs, type InputStudyRefs } from '../predict/dicom-out.js';
import { DOWNLOADS } from './downloads.js';
import { volumeBytesToCrop } from '../volume/pipeline.js';

/** Options of {@link buildServer}. */
export interface ServeOptions {
  /** Bytes per uploaded file (default 20 MiB). */
  maxFileBytes?: number;
  /** Pixels per image (default 25 megapixels), and of a request's images together (default the same). */
  maxPixels?: number;
  maxRequestPixels?: number;
  /** Predictions running at once (default 2) and waiting (default 32). */
  concurrency?: number;
  queue?: number;
  /** Time limit of one prediction, waiting included (default 30 s). */
  predictTimeoutMs?: number;
  /** Time limit for receiving a request (default 60 s). */
  requestTimeoutMs?: number;
  /** How long results stay without / with keep=1 (defaults 2 min / 8 h), and how many at most (100). */
  resultTtlMs?: number;
  keepTtlMs?: number;
  maxResults?: number;
  /** How many kept results at most (default 100); when full, keep=1 is refused (nothing is evicted). */
  maxKept?: number;
  /** Readers and their access tokens: authentication required when given (src/serve/security.ts). */
  readers?: readonly Reader[];
  /** Host names accepted besides the listening address (e.g. the reading room's DNS name). */
  allowedHosts?: readonly string[];
  /** Colour map of the exports for SSS/SRS/SDS (`serve --colormap`; default: see `studyScores`). */
  colormap?: Colormap;
  /** Refuse a study whose colour map is not the model's (400) instead of warning in the answer. */
  strict?: boolean;
  /** TLS certificate and key (PEM): the server speaks HTTPS. */
  tls?: { readonly cert: Buffer; readonly key: Buffer };
  /** Where log lines go (default stdout), and the level (default 'info'; 'silent' for none). */
  logStream?: Writable;
  logLevel?: 'info' | 'warn' | 'error' | 'silent';
}

interface Stored {
  result: StudyResult;
  images: StudyImages;
  /** the input study's references when the upload was DICOM (for the DICOM downloads) */
  refs: InputStudyRefs | null;
  kept: boolean;
  /** The reader who asked for it: nobody else reads or deletes it. */
  owner: string;
}

const STATIC_FILES: Readonly<Record<string, string>> = {
  'index.html': 'text/html; charset=utf-8',
  'app.js': 'text/javascript; charset=utf-8',
  'style.css': 'text/css; charset=utf-8',
};

/**
 * The folder of the page's files: `static/` beside this module (src/serve/static when run from the
 * sources; dist/serve/static, copied there by `npm run build`, in an installed package).
 */
export function staticDir(): string {
  const p = fileURLToPath(new URL('./static/', import.meta.url));
  if (existsSync(`${p}index.html`)) return p;
  throw new Error(
    `internal: the page files are missing from ${p}; rebuild (npm run build) or reinstall polarcad`,
  );
}

/** The page's Content-Security-Policy: everything from this server, nothing inline, no frames. */
const CSP_DIRECTIVES = {
  defaultSrc: ["'self'"],
  imgSrc: ["'self'", 'data:', 'blob:'],
  styleSrc: ["'self'"],
  scriptSrc: ["'self'"],
  connectSrc: ["'self'"],
  objectSrc: ["'none'"],
  baseUri: ["'none'"],
  formAction: ["'self'"],
  frameAncestors: ["'none'"],
};

/** A body the multipart parser could not read (no boundary, no closing boundary) is the client's error. */
function multipartError(e: unknown): unknown {
  if (e instanceof InputError || typeof (e as Partial<FastifyError>).code === 'string') return e;
  return new InputError(
    `malformed multipart/form-data body (${(e as Error).message}): send one complete multipart/form-data request with its boundary`,
  );
}

function statusOf(e: unknown): { status: number; message: string } {
  if (e instanceof QueueFullError) return { status: 503, message: e.message };
  if (e instanceof StoreFullError) return { status: 507, message: e.message };
  if (e instanceof TimeoutError) return { status: 503, message: e.message };
  if (e instanceof InputError) return { status: 400, message: e.message };
  const fe = e as Partial<FastifyError>;
  switch (fe.code) {
    case 'FST_FILES_LIMIT':
      return {
        status: 400,
        message: `too many files: send one export page or up to ${MAX_STUDY_FILES} polar maps per study`,
      };
    case 'FST_REQ_FILE_TOO_LARGE':
      return { status: 413, message: 'a file is larger than the upload limit' };
    case 'FST_PARTS_LIMIT':
    case 'FST_FIELDS_LIMIT':
      return { status: 400, message: 'too many form fields' };
    case 'FST_INVALID_MULTIPART_CONTENT_TYPE':
      return { status: 415, message: 'send the images as multipart/form-data' };
  }
  if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500)
    return { status: fe.statusCode, message: fe.message ?? 'bad request' };
  return { status: 500, message: 'internal error' };
}

/** The limits of a server, defaults filled in. */
interface ServerLimits {
  readonly maxFileBytes: number;
  readonly maxPixels: number;
  readonly maxRequestPixels: number;
  readonly predictTimeoutMs: number;
}

/** What the routes share. */
interface ServerContext {
  readonly predictor: Predictor;
  readonly opts: ServeOptions;
  readonly limits: ServerLimits;
  readonly limiter: Limiter;
  readonly store: ResultStore<Stored>;
  readonly security: Security;
}

function serverLimits(opts: ServeOptions): ServerLimits {
  const maxPixels = opts.maxPixels ?? 25_000_000;
  return {
    maxFileBytes: opts.maxFileBytes ?? 20 * 2 ** 20,
    maxPixels,
    maxRequestPixels: opts.maxRequestPixels ?? maxPixels,
    predictTimeoutMs: opts.predictTimeoutMs ?? 30_000,
  };
}

/**
 * The server for a loaded predictor (not listening yet: call `listen`, or `inject` in tests).
 * Closing the server does not dispose the predictor.
 */
export async function buildServer(predictor: Predictor, opts: ServeOptions = {}): Promise<FastifyInstance> {
  const limits = serverLimits(opts);
  const limiter = new Limiter(opts.concurrency ?? 2, opts.queue ?? 32);
  const store = new ResultStore<Stored>({
    ttlMs: opts.resultTtlMs,
    keepMs: opts.keepTtlMs,
    capacity: opts.maxResults,
    keptCapacity: opts.maxKept,
  });
  const dir = staticDir();
  const page = Object.fromEntries(Object.keys(STATIC_FILES).map((f) => [f, readFileSync(`${dir}${f}`)]));
  const app = createApp(opts, limits.maxFileBytes);
  const security = await registerPlugins(app, opts, limits.maxFileBytes);
  const ctx: ServerContext = { predictor, opts, limits, limiter, store, security };
  registerLogAndErrors(app);
  registerPageRoutes(app, page, security);
  registerInfoRoutes(app, ctx);
  registerPredictRoute(app, ctx);
  registerResultRoutes(app, ctx);
  app.addHook('onClose', async () => store.clear());
  return app;
}

/** Fastify with the privacy-keeping logger, the request timeout, the body limit and TLS. */
function createApp(opts: ServeOptions, maxFileBytes: number): FastifyInstance {
  return Fastify({
    logger:
      opts.logLevel === 'silent'
        ? false
        : {
            level: opts.logLevel ?? 'info',
            ...(opts.logStream !== undefined ? { stream: opts.logStream } : {}),
            // nothing of a request but its method and route pattern is ever serialised
            serializers: {
              req: (r: { method: string }) => ({ method: r.method }),
              res: (r: { statusCode: number }) => ({ statusCode: r.statusCode }),
              err: (e: FastifyError) => ({ type: e.name, message: '', stack: '' }),
            },
          },
    logController: new LogController({ disableRequestLogging: true }),
    requestTimeout: opts.requestTimeoutMs ?? 60_000,
    bodyLimit: MAX_STUDY_FILES * maxFileBytes + 1024 * 1024,
    ...(opts.tls !== undefined ? { https: { cert: opts.tls.cert, key: opts.tls.key } } : {}),
  }) as unknown as FastifyInstance;
}

/** Security headers (helmet), the Host/CSRF/reader checks, and multipart uploads with their limits. */
async function registerPlugins(
  app: FastifyInstance,
  opts: ServeOptions,
  maxFileBytes: number,
): Promise<Security> {
  await app.register(helmet, {
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        ...CSP_DIRECTIVES,
        ...(opts.tls !== undefined ? { upgradeInsecureRequests: [] } : {}),
      },
    },
    frameguard: { action: 'deny' },
    referrerPolicy: { policy: 'no-referrer' },
    strictTransportSecurity: opts.tls !== undefined,
  });
  const security = registerSecurity(app, {
    ...(opts.readers !== undefined ? { readers: opts.readers } : {}),
    ...(opts.allowedHosts !== undefined ? { allowedHosts: opts.allowedHosts } : {}),
    tls: opts.tls !== undefined,
  });
  await app.register(multipart, {
    limits: { fileSize: maxFileBytes, files: MAX_STUDY_FILES, fields: 8, parts: MAX_STUDY_FILES + 8 },
    throwFileSizeLimit: true,
  });
  return security;
}

/** One log line per request, JSON errors, and 404 for unknown routes. */
function registerLogAndErrors(app: FastifyInstance): void {
  // one line per request: route pattern (never the URL: it can hold a result id), status, sizes, time
  app.addHook('onResponse', async (req, reply) => {
    const len = Number(req.headers['content-length'] ?? 0);
    req.log.info(
      {
        method: req.method,
        route: req.routeOptions.url ?? 'unmatched',
        status: reply.statusCode,
        bytesIn: Number.isFinite(len) ? len : 0,
        ms: Math.round(reply.elapsedTime * 10) / 10,
      },
      'request',
    );
  });
  app.setErrorHandler((err, req, reply) => {
    const { status, message } = statusOf(err);
    if (status >= 500 && !(err instanceof QueueFullError) && !(err instanceof TimeoutError))
      req.log.error(
        { type: (err as Error).name, code: (err as FastifyError).code ?? null },
        'internal error',
      );
    if (status === 503) reply.header('retry-after', '2');
    void reply.code(status).type('application/json').send({ error: message });
  });
  app.setNotFoundHandler((_req, reply) => {
    void reply.code(404).send({ error: 'not found' });
  });
}

/** The page (with its anti-forgery token) and its static files. */
function registerPageRoutes(app: FastifyInstance, page: Record<string, Buffer>, security: Security): void {
  const indexHtml = Buffer.from(
    page['index.html']
      .toString('utf8')
      .replace('<head>', `<head>\n    <meta name="polarcad-csrf" content="${security.csrf}" />`),
  );
  app.get('/', async (_req, reply) =>
    reply.type(STATIC_FILES['index.html']).header('cache-control', 'no-store').send(indexHtml),
  );
  app.get<{ Params: { file: string } }>('/static/:file', async (req, reply) => {
    const type = STATIC_FILES[req.params.file];
    if (type === undefined || req.params.file === 'index.html')
      return reply.code(404).send({ error: 'not found' });
    return reply.type(type).header('cache-control', 'no-cache').send(page[req.params.file]);
  });
}

/** `/api/session`, `/healthz` and `/api/model`. */
function registerInfoRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const { predictor, opts, limits, limiter, store, security } = ctx;
  app.get('/api/session', async (req, reply) =>
    reply.header('cache-control', 'no-store').send({ reader: security.readerOf(req), csrf: security.csrf }),
  );
  app.get('/healthz', async () => ({ status: 'ok', ...limiter.stats(), results: store.size() }));
  app.get('/api/model', async () => ({
    ...predictor.card,
    limits: {
      maxFileBytes: limits.maxFileBytes,
      maxPixels: limits.maxPixels,
      maxRequestPixels: limits.maxRequestPixels,
      maxFiles: MAX_STUDY_FILES,
      concurrency: limiter.concurrency,
      queue: limiter.queue,
      predictTimeoutMs: limits.predictTimeoutMs,
    },
    retention: {
      resultSeconds: Math.round((opts.resultTtlMs ?? 120_000) / 1000),
      keptSeconds: Math.round((opts.keepTtlMs ?? 8 * 3_600_000) / 1000),
    },
  }));
}

/** The uploaded files of a multipart request (an empty file input skipped) and its `keep` field. */
async function readUploads(
  req: FastifyRequest,
  keepQuery: boolean,
): Promise<{ files: StudyFile[]; keep: boolean }> {
  const files: StudyFile[] = [];
  let keep = keepQuery;
  try {
    for await (const part of req.parts()) {
      if (part.type === 'file') {
        const bytes = await part.toBuffer();
        if (bytes.length === 0 && part.filename === '') continue; // an empty file input of a form
        const view = isView(part.fieldname) ? part.fieldname : undefined;
        files.push({
          bytes,
          name: `file ${files.length + 1}${view !== undefined ? ` (${view})` : ''}`,
          ...(view !== undefined ? { view } : {}),
        });
      } else if (part.fieldname === 'keep')
        keep = String(part.value) === '1' || String(part.value) === 'true';
    }
  } catch (e) {
    throw multipartError(e);
  }
  return { files, keep };
}

/** `POST /api/predict`: the uploads through the predictor under the concurrency limit. */
function registerPredictRoute(app: FastifyInstance, ctx: ServerContext): void {
  const { predictor, opts, limits, limiter, store, security } = ctx;
  app.post<{ Querystring: { keep?: string } }>('/api/predict', async (req, reply) => {
    if (!req.isMultipart())
      return reply.code(415).send({
        error: 'send the images as multipart/form-data (one export page, or up to four polar maps)',
      });
    const { files, keep } = await readUploads(req, req.query.keep === '1' || req.query.keep === 'true');
    const owner = security.readerOf(req);
    if (keep) store.checkRoomToKeep();
    const out = await limiter.run(async () => {
      // a reconstructed SPECT volume in place of a map image becomes its polar-map crop (src/volume)
      const maps = await Promise.all(
        files.map(async (f) =>
          isVolumeBytes(f.bytes) ? { ...f, bytes: await volumeBytesToCrop(f.bytes, f.name) } : f,
        ),
      );
      return predictStudy(
        predictor,
        { files: maps },
        {
          maxPixels: limits.maxPixels,
          maxTotalPixels: limits.maxRequestPixels,
          study: 'upload',
          strict: opts.strict === true,
          ...(opts.colormap !== undefined ? { colormap: opts.colormap } : {}),
        },
      );
    }, limits.predictTimeoutMs);
    const refs = inputStudyRefs(files);
    files.length = 0; // the uploads are not kept
    const id = store.add({ result: out.result, images: out.images, refs, kept: keep, owner }, keep);
    void reply.header('cache-control', 'no-store');
    return withLinks(id, out.result, keep);
  });
}

/** A result id as the store makes them (a random UUID); anything else is no result. */
const RESULT_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * A result, its two images, its downloads (PDF, DICOM) and its deletion, each visible to the
 * reader who asked for it only.
 */
function registerResultRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const { store, security, limiter, limits } = ctx;
  const own = (req: FastifyRequest<{ Params: { id: string } }>): Stored | undefined => {
    if (!RESULT_ID.test(req.params.id)) return undefined;
    const s = store.get(req.params.id);
    return s !== undefined && s.owner === security.readerOf(req) ? s : undefined;
  };
  app.get<{ Params: { id: string } }>('/api/results/:id', async (req, reply) => {
    const s = own(req);
    if (s === undefined)
      return reply
        .code(404)
        .send({ error: 'no such result (results are kept for a short time unless keep=1 was asked)' });
    return reply.header('cache-control', 'no-store').send(withLinks(req.params.id, s.result, s.kept));
  });
  for (const [name, get] of [
    ['overlay.png', (s: Stored) => s.images.overlayPng()],
    ['original.png', (s: Stored) => s.images.originalPng()],
  ] as const) {
    app.get<{ Params: { id: string } }>(`/api/results/:id/${name}`, async (req, reply) => {
      const s = own(req);
      if (s === undefined)
        return reply
          .code(404)
          .send({ error: 'no such result (results are kept for a short time unless keep=1 was asked)' });
      return reply
        .type('image/png')
        .header('cache-control', 'no-store')
        .send(Buffer.from(await get(s)));
    });
  }
  for (const d of DOWNLOADS) {
    app.get<{ Params: { id: string } }>(`/api/results/:id/${d.name}`, async (req, reply) => {
      const s = own(req);
      if (s === undefined)
        return reply
          .code(404)
          .send({ error: 'no such result (results are kept for a short time unless keep=1 was asked)' });
      // made on demand, under the same concurrency and time limits as a prediction
      const bytes = await limiter.run(() => d.make(s), limits.predictTimeoutMs);
      return reply
        .type(d.type)
        .header('cache-control', 'no-store')
        .header('content-disposition', `attachment; filename="${d.filename}"`)
        .send(Buffer.from(bytes));
    });
  }
  app.delete<{ Params: { id: string } }>('/api/results/:id', async (req, reply) => {
    if (own(req) === undefined || !store.delete(req.params.id))
      return reply.code(404).send({ error: 'no such result' });
    return { deleted: true };
  });
}

/** The JSON of `POST /api/predict`: the predict JSON plus the result id and links. */
export function withLinks(
  id: string,
  result: StudyResult,
  kept: boolean,
): StudyResult & { id: string; kept: boolean; links: Record<string, string> } {
  const base = `/api/results/${id}`;
  return {
    id,
    ...result,
    kept,
    links: {
      result: base,
      overlay: `${base}/overlay.png`,
      original: `${base}/original.png`,
      pdf: `${base}/report.pdf`,
      dicomCapture: `${base}/overlay.dcm`,
      dicomReport: `${base}/report.dcm`,
    },
  };
}
