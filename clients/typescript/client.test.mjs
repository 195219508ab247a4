// Tests of the Node client's retry on Unavailable, run by node's test
// runner (npm test; `make test` runs it): a real gRPC server on loopback
// (HTTP/2, connect-node's adapter) that answers as each test needs.

import assert from "node:assert/strict";
import http2 from "node:http2";
import net from "node:net";
import { after, before, describe, it } from "node:test";

import { Code, ConnectError } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";

import { DaneService, callWithRetry, createDanedClient, retryDefaults } from "./client.js";

// fast is a retry schedule for tests: no test waits on the real one.
const fast = { backoffMs: 1, maxBackoffMs: 4 };

const unavailable = () => new ConnectError("daned is restarting", Code.Unavailable);

describe("createDanedClient against a loopback daned", () => {
  // answer decides each Validate; a test sets it, and calls counts them.
  let answer = () => ({});
  let calls = 0;
  let server;
  let target;
  const sessions = new Set();

  before(async () => {
    const handler = connectNodeAdapter({
      routes: (router) =>
        router.service(DaneService, {
          validate(req) {
            calls++;
            return answer(req, calls);
          },
          invalidate() {
            calls++;
            throw unavailable();
          },
        }),
    });
    server = http2.createServer(handler);
    server.on("session", (s) => sessions.add(s));
    await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
    target = `127.0.0.1:${server.address().port}`;
  });
  // close waits for open sessions: the clients keep theirs.
  after(() => {
    for (const s of sessions) s.destroy();
    return new Promise((resolve) => server.close(resolve));
  });

  const cases = [
    {
      name: "Unavailable is retried until daned answers",
      answer: (req, n) => {
        if (n < 3) throw unavailable();
        return { domain: req.domain };
      },
      wantDomain: "example.com",
      wantCalls: 3,
    },
    {
      name: "Unavailable on every attempt: thrown after maxAttempts",
      answer: () => {
        throw unavailable();
      },
      wantCode: Code.Unavailable,
      wantCalls: 3,
    },
    {
      name: "any other code is an answer: not retried",
      answer: () => {
        throw new ConnectError("bad domain", Code.InvalidArgument);
      },
      wantCode: Code.InvalidArgument,
      wantCalls: 1,
    },
    {
      name: "ResourceExhausted (overload) is not retried either",
      answer: () => {
        throw new ConnectError("too many calls", Code.ResourceExhausted);
      },
      wantCode: Code.ResourceExhausted,
      wantCalls: 1,
    },
  ];
  for (const tc of cases) {
    it(tc.name, async () => {
      answer = tc.answer;
      calls = 0;
      const daned = createDanedClient(target, { maxAttempts: 3, ...fast });
      const call = daned.validate({ domain: "example.com" });
      if (tc.wantCode === undefined) {
        assert.equal((await call).domain, tc.wantDomain);
      } else {
        await assert.rejects(call, (err) => ConnectError.from(err).code === tc.wantCode);
      }
      assert.equal(calls, tc.wantCalls);
    });
  }

  it("retries every unary method, Invalidate too", async () => {
    calls = 0;
    const daned = createDanedClient(target, { maxAttempts: 2, ...fast });
    await assert.rejects(daned.invalidate({ domain: "example.com" }), (err) => ConnectError.from(err).code === Code.Unavailable);
    assert.equal(calls, 2);
  });

  it("maxAttempts 1 disables retries", async () => {
    answer = () => {
      throw unavailable();
    };
    calls = 0;
    const daned = createDanedClient(target, { maxAttempts: 1 });
    await assert.rejects(daned.validate({ domain: "example.com" }));
    assert.equal(calls, 1);
  });
});

it("a refused connection is Unavailable and is retried", async () => {
  // A port nothing listens on, as in the Go client's test.
  const probe = net.createServer();
  await new Promise((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const port = probe.address().port;
  await new Promise((resolve) => probe.close(resolve));
  let attempts = 0;
  const count = (next) => (req) => {
    attempts++;
    return next(req);
  };
  const daned = createDanedClient(`127.0.0.1:${port}`, { maxAttempts: 3, ...fast, interceptors: [count] });
  await assert.rejects(daned.validate({ domain: "example.com" }), (err) => ConnectError.from(err).code === Code.Unavailable);
  assert.equal(attempts, 3);
});

describe("callWithRetry", () => {
  it("waits the Go client's schedule: 100 ms, doubling up to 2 s", async (t) => {
    const delays = [];
    const realSetTimeout = globalThis.setTimeout;
    t.mock.method(globalThis, "setTimeout", (fn, ms) => {
      delays.push(ms);
      return realSetTimeout(fn, 0);
    });
    let calls = 0;
    await assert.rejects(
      callWithRetry(
        async () => {
          calls++;
          throw unavailable();
        },
        { maxAttempts: 8 },
      ),
    );
    assert.equal(calls, 8);
    assert.deepEqual(delays, [100, 200, 400, 800, 1600, 2000, 2000]);
    assert.deepEqual({ ...retryDefaults }, { maxAttempts: 4, backoffMs: 100, maxBackoffMs: 2000 });
  });

  it("stops when the caller's signal aborts during a wait, with the last error", async () => {
    const ac = new AbortController();
    let calls = 0;
    const last = unavailable();
    const call = callWithRetry(
      async () => {
        calls++;
        setImmediate(() => ac.abort()); // once the wait has begun
        throw last;
      },
      { backoffMs: 60_000, maxBackoffMs: 60_000, signal: ac.signal },
    );
    await assert.rejects(call, (err) => err === last);
    assert.equal(calls, 1);
  });

  it("an error that is not a ConnectError is thrown at once", async () => {
    let calls = 0;
    await assert.rejects(
      callWithRetry(async () => {
        calls++;
        throw new TypeError("bug");
      }),
      TypeError,
    );
    assert.equal(calls, 1);
  });

  const bad = [
    { name: "no attempt", opts: { maxAttempts: 0 } },
    { name: "fractional attempts", opts: { maxAttempts: 1.5 } },
    { name: "negative backoff", opts: { backoffMs: -1 } },
    { name: "bound below the first wait", opts: { backoffMs: 500, maxBackoffMs: 100 } },
  ];
  for (const tc of bad) {
    it(`refuses ${tc.name}, as daneclient.Dial does`, async () => {
      assert.throws(() => createDanedClient("127.0.0.1:1", tc.opts), RangeError);
      await assert.rejects(callWithRetry(async () => 1, tc.opts), RangeError);
    });
  }
});
