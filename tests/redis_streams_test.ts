import assert from "node:assert/strict";
import { Hub } from "../src/hub.ts";
import { RedisStreamsBackplane } from "../src/backplane/redis.ts";
import { roomsContract, serveHubs } from "./_rooms_contract.ts";
import { RedisServer } from "./_redis.ts";

roomsContract("RedisStreamsBackplane", async ({ history }) => {
  const redis = new RedisServer();
  await redis.start();
  const quiet = () => {};
  const backplanes = await Promise.all(
    [0, 1].map(() =>
      RedisStreamsBackplane.connect({ url: redis.url, history, onError: quiet })
    ),
  );
  const hubs = backplanes.map((backplane) => new Hub({ backplane })) as [
    Hub,
    Hub,
  ];
  await Promise.all(hubs.map((hub) => hub.ready));
  const { urls, stop } = serveHubs(hubs);
  return {
    hubs,
    urls,
    async [Symbol.asyncDispose]() {
      await stop();
      await Promise.all(hubs.map((hub) => hub.close()));
      await Promise.all(backplanes.map((backplane) => backplane.close()));
      await redis.stop();
    },
  };
});
