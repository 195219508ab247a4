import type { Client } from "@connectrpc/connect";
import { DaneService } from "./gen/dane/v1/dane_pb.js";

export * from "./gen/dane/v1/dane_pb.js";

/** createDanedClient returns a DaneService client for daned at target. */
export declare function createDanedClient(
  target: string,
  opts?: { timeoutMs?: number; nodeOptions?: object },
): Client<typeof DaneService>;
