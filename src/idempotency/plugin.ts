// The Idempotency-Key plugin every /v1 module uses (over the auth plugin): claims, replays or refuses a POST before its handler, and gives the handler `idempotent.commit`.
import { Elysia, ElysiaCustomStatusResponse } from "elysia";
import type { AuthPlugin } from "../auth/plugin";
import type { Writer } from "../db/writer";
import type { Principal } from "../keys/principal";
import type { Clock } from "../lib/clock";
import { settledValue } from "../lib/settled";
import { type ClaimResult, checkIdempotencyKey, requestFingerprint, type KeyScope, type StoredAnswer } from "./service";
import type { IdempotencyStore } from "./store";

/** What a POST handler tells `commit` about its answer. */
export interface Answer<T> {
  /** The success status (201 created, 202 accepted, 200 otherwise). */
  status: number;
  /** The created resource's absolute URL, for `Location`. */
  location?: (value: T) => string;
}

type State =
  /** Not a POST, or no Idempotency-Key: commit just runs the change. */
  | "none"
  /** The key is this request's; its answer is stored by commit. */
  | "claimed"
  /** Answered before this request began; its fingerprint (body not read yet) decides at `identify`. */
  | "unknown_yet"
  /** Nothing more to do: committed, replayed or released. */
  | "done";

const JSON_TYPE = "application/json; charset=utf-8";

/**
 * The one replay path: the stored status, Location and body, marked `Idempotent-Replayed: true`. Elysia adds the
 * headers this request already set (request id, rate limits, no-store).
 */
function replayResponse(answer: StoredAnswer): Response {
  return new Response(answer.body || null, { status: answer.status, headers: { ...answer.headers, "idempotent-replayed": "true" } });
}

/**
 * A request's view of its Idempotency-Key. Every POST handler under /v1 answers through `commit`, with or without a
 * key; a handler that returns without it is a bug the plugin refuses (500), as its key would stay claimed.
 */
/** What a writer given to `commit` must give its units: the idempotency store, to store the answer in the same unit. */
export interface AnsweringTx {
  idempotency: IdempotencyStore;
}

export class Idempotent {
  #state: State;
  /** The placeholder of a claim made before the body was read. */
  #token: string | undefined;
  /** The earlier answer `identify` found. */
  #replay: StoredAnswer | undefined;
  /** The release once started: a second `release()` (the error hook after `finish`) waits for the same one. */
  #released: Promise<void> | undefined;
  constructor(
    private readonly store: IdempotencyStore,
    private readonly clock: Clock,
    private readonly set: { status?: number | string; headers: Record<string, unknown> },
    private readonly path: string,
    private readonly scope: KeyScope | null,
    state: State,
    token?: string,
  ) {
    this.#state = state;
    this.#token = token;
  }

  /**
   * Commits the handler's change together with its answer and sets the status and Location; resolves with what
   * `change` resolves with, which the handler returns. `change` gets the writer to make its write with — `writer`
   * (the route's own, typed for what its service needs) or, with a claimed key, a wrapper of it (its service makes
   * exactly one `writer.write`, whose value is the answer) that stores the answer
   * in the same unit of the group commit as the change, so a crash leaves both or neither. A service that made no
   * write has its answer stored in a write of its own.
   */
  async commit<T, Tx extends AnsweringTx>(answer: Answer<T>, writer: Writer<Tx>, change: (writer: Writer<Tx>) => Promise<T>): Promise<T> {
    const { set } = this;
    set.status = answer.status;
    if (this.#state !== "claimed") {
      const value = await change(writer);
      if (answer.location) set.headers.location = answer.location(value);
      return value;
    }
    const scope = this.scope!;
    const render = (v: T): StoredAnswer => {
      const headers: Record<string, string> = { "content-type": JSON_TYPE };
      if (answer.location) headers.location = answer.location(v);
      return { status: answer.status, headers, body: v === undefined ? "" : JSON.stringify(v) };
    };
    let answered = false;
    const base = writer;
    const answering: Writer<Tx> = {
      ...base,
      write: <V>(work: (tx: Tx) => V | Promise<V>) =>
        base.write(async (tx) => {
          const v = await work(tx);
          if (!answered) {
            await tx.idempotency.saveAnswer(scope, render(v as unknown as T));
            answered = true;
          }
          return v;
        }),
    };
    // Until the answer is stored the claim stays open: a change that fails is released by the error handler.
    const value = await change(answering);
    if (!answered) await base.write((tx) => tx.idempotency.saveAnswer(scope, render(value)));
    this.#state = "done";
    if (answer.location) set.headers.location = answer.location(value);
    return value;
  }

  /**
   * For a route that reads its own body (uploads), once it is read: `content` is what makes the request the same
   * (fields, name, sha256). "new": go on and commit. "answered": an identical request was answered already; stop
   * (discard what was read) and return `replay()`. Other content under the key throws 422.
   */
  async identify(content: unknown): Promise<"new" | "answered"> {
    // Without a key, or when the fingerprint was known at the claim: nothing left to decide.
    if (this.#state === "none" || (this.#state === "claimed" && this.#token === undefined)) return "new";
    const result = await this.store.identify(this.scope!, this.#token, requestFingerprint("POST", this.path, content), this.clock.now());
    if (result.kind === "claimed") {
      this.#state = "claimed";
      return "new";
    }
    this.#replay = result.answer;
    this.#state = "done";
    return "answered";
  }

  /** The earlier answer `identify` found, as the one replay response. */
  replay(): Response {
    if (!this.#replay) throw new Error('replay() without an earlier answer: call it only after identify() said "answered"');
    return replayResponse(this.#replay);
  }

  /** The request failed before it committed: frees its key, so a corrected retry can run. */
  release(): Promise<void> {
    const held = this.#state === "claimed" || (this.#state === "unknown_yet" && this.#token);
    this.#state = "done";
    // Not async: the store's call starts now (on SQLite it is done when it returns; see the app's error hook).
    if (held) this.#released = this.store.release(this.scope!);
    return this.#released ?? RELEASED;
  }

  /** After the handler: a claim still open means the handler never committed. */
  finish(): void {
    if (this.#state === "none" || this.#state === "done") return;
    this.release().catch(() => {}); // the error below is what the request reports
    throw new Error(`POST ${this.path} returned without idempotent.commit(): its Idempotency-Key would never be answered`);
  }
}

/** Other methods: nothing to claim, and nothing to commit through. */
const NOT_A_POST = new Idempotent(undefined as never, undefined as never, { headers: {} }, "", null, "done");

type ClaimCtx = { principal?: Principal; body: unknown; path: string; set: Idempotent["set"] };
type Begun = { idempotent: Idempotent } | ElysiaCustomStatusResponse<200, Response, 200>;

/**
 * What the plugin adds before a POST's handler, after the body is validated: with a valid Idempotency-Key (else 400),
 * the key is claimed, or the request is answered with the stored replay, or refused (409 in progress, 422 reused).
 * A body the route streams itself (uploads: the parser left a marker, not a value) cannot be fingerprinted yet: the key
 * is claimed with a placeholder before a byte is read, so a twin is a 409 at once, and `identify` settles it.
 */
function claimOf(deps: PluginDeps, ctx: ClaimCtx, header: string): { scope: KeyScope; claimed: Promise<ClaimResult> } {
  // The auth plugin's derive has run (it throws rather than leave `principal` unset); keys are per API key.
  const scope = { keyId: ctx.principal!.keyId, idempotencyKey: checkIdempotencyKey(header) };
  const streamed = typeof ctx.body === "symbol";
  return { scope, claimed: deps.store.claim(scope, streamed ? null : requestFingerprint("POST", ctx.path, ctx.body ?? null), deps.clock.now()) };
}

/** The claim's outcome as the resolve hook's value: the request's Idempotent, or the stored answer replayed (it ends the request). */
function begun(deps: PluginDeps, ctx: ClaimCtx, scope: KeyScope, result: ClaimResult): Begun {
  if (result.kind === "replay") {
    const replay = replayResponse(result.answer);
    // A status response ends the request here (a plain Response would be merged into the context).
    return new ElysiaCustomStatusResponse(replay.status as 200, replay);
  }
  const token = result.kind === "claimed" ? result.token : undefined;
  return { idempotent: new Idempotent(deps.store, deps.clock, ctx.set, ctx.path, scope, result.kind, token) };
}

/** Frees the key of a request that failed (the app's error handler calls it: the error rendering runs before any plugin's). */
export function releaseIdempotencyKey(ctx: object): Promise<void> {
  return (ctx as { idempotent?: Idempotent }).idempotent?.release() ?? RELEASED;
}

const RELEASED: Promise<void> = Promise.resolve();

interface PluginDeps {
  auth: AuthPlugin;
  store: IdempotencyStore;
  clock: Clock;
  /** The store's promises are settled when returned (SQLite): the hook reads them synchronously. */
  settlesAtOnce?: boolean;
}

/**
 * One instance per app, over the auth plugin; every /v1 feature module `.use()`s it, and its routes get `principal`
 * and `idempotent`. Keys are per API key and remembered 24 hours (see ./service).
 */
export function idempotencyPlugin(deps: PluginDeps) {
  const { store, clock } = deps;
  type Ctx = ClaimCtx & { request: Request };
  const early = (ctx: Ctx): Begun | null => {
    if (ctx.request.method !== "POST") return { idempotent: NOT_A_POST };
    if (!ctx.request.headers.has("idempotency-key")) return { idempotent: new Idempotent(store, clock, ctx.set, ctx.path, null, "none") };
    return null;
  };
  // Two forms of one hook, as in the auth plugin: the synchronous one (stores that settle at once) must not read as
  // async to Elysia (no `async`, no `return f(`), so requests stay on its synchronous path.
  const atOnce = (ctx: Ctx): Begun => {
    const known = early(ctx);
    if (known) return known;
    const { scope, claimed } = claimOf(deps, ctx, ctx.request.headers.get("idempotency-key")!);
    const out = begun(deps, ctx, scope, settledValue(claimed));
    return out;
  };
  const awaited = async (ctx: Ctx): Promise<Begun> => {
    const known = early(ctx);
    if (known) return known;
    const { scope, claimed } = claimOf(deps, ctx, ctx.request.headers.get("idempotency-key")!);
    return begun(deps, ctx, scope, await claimed);
  };
  return (
    new Elysia({ name: "idempotency" })
      .use(deps.auth)
      // Typed as the synchronous form; at run time Elysia sees which one it was given.
      .resolve({ as: "scoped" }, (deps.settlesAtOnce ? atOnce : awaited) as typeof atOnce)
      .onAfterHandle({ as: "scoped" }, ({ idempotent }) => {
        idempotent.finish();
      })
      // The auth plugin's derive reaches the modules that use this plugin, not only this plugin.
      .as("scoped")
  );
}

export type ApiGuard = ReturnType<typeof idempotencyPlugin>;
