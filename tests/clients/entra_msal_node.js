// @azure/msal-node against a memsim world, with nothing but the world's environment (`. env.sh`:
// HTTPS_PROXY, NODE_EXTRA_CA_CERTS). Node's fetch has no proxy support of its own before Node 24,
// so the process routes it through the proxy the environment names (undici's EnvHttpProxyAgent),
// as any Node application behind a proxy does; msal-node itself is unconfigured. Reads world.json
// (MEMSIM_WORLD) and a plan (argv[2], JSON); prints each call's id -> token or error.
// Issue 12, deliverable 7.
const { setGlobalDispatcher, EnvHttpProxyAgent } = require("undici");
const msal = require("@azure/msal-node");
const fs = require("node:fs");

setGlobalDispatcher(new EnvHttpProxyAgent());
const world = JSON.parse(fs.readFileSync(process.env.MEMSIM_WORLD, "utf8")).entra;
const BROKER = "29d9ed98-a469-4536-ade2-f981bc1d605e";

function errorOf(e) {
  return { error: e.errorCode || e.name, message: String(e.errorMessage || e.message), subError: e.subError || "" };
}

async function run(call) {
  const authority = call.authority || world.authority;
  if (call.grant === "client_credentials") {
    const app = new msal.ConfidentialClientApplication({ auth: { clientId: call.client_id, clientSecret: call.secret, authority } });
    const r = await app.acquireTokenByClientCredential({ scopes: [call.scope] });
    return { access_token: r.accessToken };
  }
  const app = new msal.PublicClientApplication({ auth: { clientId: BROKER, authority } });
  const user = world.users[call.user];
  const r = await app.acquireTokenByUsernamePassword({ username: user.upn, password: user.password, scopes: [call.scope] });
  return { access_token: r.accessToken, id_token_claims: r.idTokenClaims };
}

(async () => {
  const out = {};
  for (const call of JSON.parse(process.argv[2])) {
    try {
      out[call.id] = await run(call);
    } catch (e) {
      out[call.id] = errorOf(e);
    }
  }
  console.log(JSON.stringify(out));
})();
