import type { Client, Interceptor } from "@connectrpc/connect";
import { DaneService } from "./gen/dane/v1/dane_pb.js";

export * from "./gen/dane/v1/dane_pb.js";

/** How a call is retried on Unavailable (see callWithRetry). */
export interface RetryOptions {
  /** Calls in all, at least 1; 1 disables retries. Default 4. */
  maxAttempts?: number;
  /** Wait before the first retry, in ms. Default 100. */
  backoffMs?: number;
  /** Bound of the wait, which doubles after each retry, in ms. Default 2000. */
  maxBackoffMs?: number;
}

/** The retry defaults, the Go client's. */
export declare const retryDefaults: Readonly<Required<RetryOptions>>;

/**
 * createDanedClient returns a DaneService client for daned at target. Its
 * unary calls are retried on Unavailable only; timeoutMs bounds each attempt.
 */
export declare function createDanedClient(
  target: string,
  opts?: RetryOptions & { timeoutMs?: number; nodeOptions?: object; interceptors?: Interceptor[] },
): Client<typeof DaneService>;

/**
 * callWithRetry calls fn again while it throws a ConnectError with
 * Code.Unavailable, up to maxAttempts calls, with exponential backoff; any
 * other error is thrown at once, and so is the last one when signal aborts.
 */
export declare function callWithRetry<T>(
  fn: () => Promise<T>,
  opts?: RetryOptions & { signal?: AbortSignal },
): Promise<T>;
