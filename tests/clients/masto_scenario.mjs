// masto.js 8 (pinned by `deploy/stack test`) on Node 20, unmodified, with
// the shims its documentation names for Node before 22: `ws` as the
// WebSocket implementation and Promise.withResolvers. Logs in, posts,
// pages the home timeline by its Link headers and receives one update
// over the streaming WebSocket (token as Sec-WebSocket-Protocol).
//
// Usage: node masto_scenario.mjs http://social.localhost:PORT RUN_ID
// (run from the directory masto.js is installed in).

import dns from "node:dns";
import WebSocket from "ws";
import { createOAuthAPIClient, createRestAPIClient, createStreamingAPIClient } from "masto";

// *.localhost is the loopback address (RFC 6761), as browsers resolve it.
const lookup = dns.lookup;
dns.lookup = (host, options, callback) =>
  lookup(host === "localhost" || host.endsWith(".localhost") ? "127.0.0.1" : host, options, callback);

globalThis.WebSocket ??= WebSocket;
if (!Promise.withResolvers) {
  Promise.withResolvers = () => {
    let resolve, reject;
    const promise = new Promise((res, rej) => { resolve = res; reject = rej; });
    return { promise, resolve, reject };
  };
}

const [base, run] = process.argv.slice(2);
const check = (what, condition) => {
  if (!condition) {
    console.error(`FAILED: ${what}`);
    process.exit(1);
  }
  console.log(`ok: ${what}`);
};

const anonymous = createRestAPIClient({ url: base });
const app = await anonymous.v1.apps.create({
  clientName: `masto ${run}`, redirectUris: "urn:ietf:wg:oauth:2.0:oob", scopes: "read write follow",
});
check("an app is created", Boolean(app.clientId && app.clientSecret));
const oauth = createOAuthAPIClient({ url: base });
const appToken = await oauth.token.create({
  grantType: "client_credentials", clientId: app.clientId, clientSecret: app.clientSecret,
  scope: "read write follow",
});
const registrar = createRestAPIClient({ url: base, accessToken: appToken.accessToken });
const username = `masto_${run}`;
await registrar.v1.accounts.create({
  username, email: `${username}@example.org`, password: "a long passphrase for tests", agreement: true,
  locale: "en",
});
const token = await oauth.token.create({
  grantType: "password", clientId: app.clientId, clientSecret: app.clientSecret,
  username: `${username}@example.org`, password: "a long passphrase for tests", scope: "read write follow",
});
const masto = createRestAPIClient({ url: base, accessToken: token.accessToken });
const me = await masto.v1.accounts.verifyCredentials();
check("the password grant logs in", me.username === username);

const posted = [];
for (let i = 0; i < 5; i++) posted.push(await masto.v1.statuses.create({ status: `masto ${i} ${run}` }));
check("statuses are created", posted.length === 5 && posted[4].content === `<p>masto 4 ${run}</p>`);
const seen = [];
for await (const page of masto.v1.timelines.home.list({ limit: 2 })) {
  seen.push(...page.map((s) => s.id));
  if (seen.length > 10) break;
}
check("the home timeline pages by its Link headers",
  JSON.stringify(seen) === JSON.stringify(posted.map((s) => s.id).reverse()));

const instance = await masto.v2.instance.fetch();
const streaming = createStreamingAPIClient({
  streamingApiUrl: instance.configuration.urls.streaming,
  accessToken: token.accessToken,
  implementation: WebSocket,
});
const subscription = streaming.user.subscribe();
const received = (async () => {
  for await (const event of subscription) {
    if (event.event === "update" && event.payload.content === `<p>live ${run}</p>`) return true;
  }
  return false;
})();
await new Promise((r) => setTimeout(r, 1000));
await masto.v1.statuses.create({ status: `live ${run}` });
const timeout = new Promise((r) => setTimeout(() => r(false), 20000));
check("the streaming WebSocket delivers the update", await Promise.race([received, timeout]));
subscription.unsubscribe();
streaming.close();
console.log("scenario passed");
process.exit(0);
