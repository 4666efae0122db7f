// Graceful shutdown of a real `clientcove serve` process: in-flight requests finish, new ones are refused, exit 0; a second signal exits at once.
import { Database } from "bun:sqlite";
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, rmSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { join } from "node:path";
import { tempDir } from "./helpers";
import { startServe } from "./ops-fixtures";

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function newDir(): string {
  const d = tempDir("cc-shutdown");
  dirs.push(d);
  return d;
}

/** A raw HTTP/1.1 connection, so the test decides when each byte of the request body is sent. */
function openRaw(url: string): Promise<{ socket: Socket; response: Promise<string>; closed: Promise<void> }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port) }, () => {
      let data = "";
      socket.on("data", (c) => (data += c.toString("utf8")));
      const closed = new Promise<void>((r) => socket.on("close", () => r()));
      resolve({ socket, response: closed.then(() => data), closed });
    });
    socket.on("error", reject);
  });
}

/** Sends headers and the first part of a JSON ticket body; returns the rest to send later. */
function startTicketRequest(socket: Socket, key: string, subject: string): string {
  const body = JSON.stringify({ subject, description: "x".repeat(2000), priority: "high" });
  const cut = 100;
  socket.write(
    [
      "POST /v1/tickets HTTP/1.1",
      "Host: localhost",
      `Authorization: Bearer ${key}`,
      "Content-Type: application/json",
      `Content-Length: ${Buffer.byteLength(body)}`,
      "Connection: close",
      "",
      "",
    ].join("\r\n") + body.slice(0, cut),
  );
  return body.slice(cut);
}

/**
 * A barrier: once the server has answered a request sent after the slow request's headers, it has read
 * those headers too (loopback bytes arrive in order of writing; the server handles readable sockets in one loop).
 */
async function barrier(url: string): Promise<void> {
  const res = await fetch(`${url}/healthz`);
  expect(res.status).toBe(200);
}

function statusLine(raw: string): string {
  return raw.split("\r\n")[0] ?? "";
}

describe("serve: graceful shutdown", () => {
  test("a request in flight during SIGTERM completes with its normal response; new connections are refused; exit 0; WAL checkpointed", async () => {
    const dir = newDir();
    const server = await startServe(["--data-dir", dir, "--shutdown-timeout-ms", "20000"], { expectKey: true });
    const raw = await openRaw(server.url);
    const rest = startTicketRequest(raw.socket, server.key!, "sent across a SIGTERM");
    await barrier(server.url);

    server.proc.kill("SIGTERM");
    await server.waitForLog((l) => l.msg === "shutting down");
    // The listener is closed: a new connection is refused while the old request is still open.
    await expect(fetch(`${server.url}/healthz`)).rejects.toThrow();

    raw.socket.write(rest);
    const response = await raw.response;
    expect(statusLine(response)).toBe("HTTP/1.1 201 Created");
    const json = JSON.parse(response.slice(response.indexOf("\r\n\r\n") + 4));
    expect(json.subject).toBe("sent across a SIGTERM");

    expect(await server.exited).toBe(0);
    expect(server.logs.some((l) => l.msg === "stopped")).toBe(true);
    expect(server.logs.some((l) => l.msg === "shutdown timeout reached; closing remaining connections")).toBe(false);
    // Checkpointed and closed: the write-ahead log is gone and the ticket is in the database file itself.
    expect(existsSync(join(dir, "clientcove.db-wal"))).toBe(false);
    const db = new Database(join(dir, "clientcove.db"), { readonly: true });
    expect(db.query("SELECT subject FROM tickets WHERE id = ?").get(json.id)).toEqual({ subject: "sent across a SIGTERM" });
    db.close();
  });

  test("SIGINT shuts down the same way (exit 0)", async () => {
    const server = await startServe(["--data-dir", newDir()], { expectKey: true });
    server.proc.kill("SIGINT");
    expect(await server.exited).toBe(0);
    expect(server.logs.some((l) => l.msg === "stopped")).toBe(true);
  });

  test("a second signal exits at once, without waiting for the stalled request", async () => {
    const server = await startServe(["--data-dir", newDir(), "--shutdown-timeout-ms", "600000"], { expectKey: true });
    const raw = await openRaw(server.url);
    startTicketRequest(raw.socket, server.key!, "never finished");
    await barrier(server.url);

    server.proc.kill("SIGTERM");
    await server.waitForLog((l) => l.msg === "shutting down");
    server.proc.kill("SIGTERM");
    // Without the second signal this would wait 10 minutes for the stalled body (and the test would time out).
    expect(await server.exited).toBe(1);
    expect(server.stderr()).toContain("received SIGTERM again; exiting now");
    expect(server.logs.some((l) => l.msg === "stopped")).toBe(false);
    await raw.closed;
  }, 20_000);

  test("the shutdown timeout bounds the wait for a stalled request; then connections are closed and the exit is clean", async () => {
    const dir = newDir();
    const server = await startServe(["--data-dir", dir, "--shutdown-timeout-ms", "200"], { expectKey: true });
    const raw = await openRaw(server.url);
    startTicketRequest(raw.socket, server.key!, "stalled");
    await barrier(server.url);

    server.proc.kill("SIGTERM");
    expect(await server.exited).toBe(0);
    expect(server.logs.some((l) => l.msg === "shutdown timeout reached; closing remaining connections")).toBe(true);
    expect(server.logs.some((l) => l.msg === "stopped")).toBe(true);
    await raw.closed;
    expect(existsSync(join(dir, "clientcove.db-wal"))).toBe(false);
  }, 20_000);
});
